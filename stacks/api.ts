/**
 * The HTTPS API: an API Gateway HTTP API whose `$default` route sends every
 * request to one Lambda, the Hono app in functions/api.ts (routing in code).
 *
 * The api posts commands to daemons (PostToConnection), so it is linked to the
 * WebSocket API (execute-api:ManageConnections) and gets its management
 * endpoint in MAKIMA_WS_MANAGEMENT_ENDPOINT.
 */
import type { Realtime } from "./realtime";
import type { Storage } from "./storage";

export function createApi(storage: Storage, realtime: Realtime) {
  const api = new sst.aws.ApiGatewayV2("Api", {
    transform: {
      // Requests past these rates get API Gateway's own 429 before reaching the Lambda.
      stage: {
        defaultRouteSettings: {
          throttlingRateLimit: Number(process.env.MAKIMA_THROTTLE_RATE ?? 100),
          throttlingBurstLimit: Number(process.env.MAKIMA_THROTTLE_BURST ?? 200),
        },
      },
    },
  });

  api.route("$default", {
    handler: "functions/api.handler",
    link: [storage.table, storage.bucket, storage.cursorSecret, realtime.ws],
    environment: { ...storage.environment, MAKIMA_WS_MANAGEMENT_ENDPOINT: realtime.managementEndpoint },
    // API Gateway answers 503 after 30 s. The relay waits MAKIMA_RELAY_WAIT_MS
    // (default 5 s), never past this invocation's remaining time, then answers
    // 202; clients long-poll GET /operations/{id}?wait= (at most 20 s).
    timeout: "29 seconds",
    memory: "1024 MB",
  });

  return { api };
}
