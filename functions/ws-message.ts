import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { createRuntime } from "../core/runtime.js";
import { receiveDaemonMessage } from "../core/services/daemonSessions.js";

const runtime = createRuntime(loadConfig());

/** $default: every message a daemon sends (route selection is on `action`; ours are tagged by `type`). */
export async function handler(event: APIGatewayProxyWebsocketEventV2) {
  return receiveDaemonMessage(runtime, event.requestContext.connectionId, event.body);
}
