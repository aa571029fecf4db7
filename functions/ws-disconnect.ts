import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { withInvocation } from "./lambda.js";
import { createRuntime, type Runtime } from "../core/runtime.js";
import { disconnectDaemon, type WsAnswer } from "../core/services/daemon/sessions.js";

/** $disconnect: forgets the connection and times out what its daemon had not answered. */
export function createHandler(runtime: Runtime) {
  return async (event: APIGatewayProxyWebsocketEventV2): Promise<WsAnswer> =>
    disconnectDaemon(runtime, event.requestContext.connectionId);
}

export const handler = withInvocation(createHandler(createRuntime(loadConfig())));
