import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { withInvocation } from "./lambda.js";
import { createRuntime, type Runtime } from "../core/runtime.js";
import { connectDaemon, type WsAnswer } from "../core/services/daemon/sessions.js";

/** A $connect event: the WebSocket event plus the handshake's headers and query (absent when the URL has none). */
export type ConnectEvent = APIGatewayProxyWebsocketEventV2 & {
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
};

/** $connect of the WebSocket API: authenticates the daemon key and stores the connection; 4xx refuses it. */
export function createHandler(runtime: Runtime) {
  return async (event: ConnectEvent): Promise<WsAnswer> =>
    connectDaemon(runtime, {
      connectionId: event.requestContext.connectionId,
      headers: event.headers,
      query: event.queryStringParameters,
    });
}

export const handler = withInvocation(createHandler(createRuntime(loadConfig())));
