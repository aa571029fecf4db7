import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { createRuntime } from "../core/runtime.js";
import { disconnectDaemon } from "../core/services/daemonSessions.js";

const runtime = createRuntime(loadConfig());

/** $disconnect: forgets the connection. */
export async function handler(event: APIGatewayProxyWebsocketEventV2) {
  return disconnectDaemon(runtime, event.requestContext.connectionId);
}
