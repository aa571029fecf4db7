import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { loadConfig } from "../core/config.js";
import { withInvocation } from "./lambda.js";
import { createRuntime, type Runtime } from "../core/runtime.js";
import { receiveDaemonMessage, type WsAnswer } from "../core/services/daemon/sessions.js";

/** $default: every message a daemon sends (route selection is on `action`; ours are tagged by `type`). */
export function createHandler(runtime: Runtime) {
  return async (event: APIGatewayProxyWebsocketEventV2): Promise<WsAnswer> => {
    // A binary frame arrives base64-encoded; our messages are JSON either way.
    const body = event.isBase64Encoded && event.body ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
    return receiveDaemonMessage(runtime, event.requestContext.connectionId, body);
  };
}

export const handler = withInvocation(createHandler(createRuntime(loadConfig())));
