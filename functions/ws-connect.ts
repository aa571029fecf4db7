import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { createRuntime } from "../core/runtime.js";
import { connectDaemon } from "../core/services/daemonSessions.js";

const runtime = createRuntime(loadConfig());

type ConnectEvent = APIGatewayProxyWebsocketEventV2 & {
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
};

/** $connect of the WebSocket API: authenticates the daemon key and stores the connection. */
export async function handler(event: ConnectEvent) {
  return connectDaemon(runtime, {
    connectionId: event.requestContext.connectionId,
    headers: event.headers,
    query: event.queryStringParameters,
  });
}
