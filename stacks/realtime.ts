/**
 * The daemon relay: an API Gateway WebSocket API. Daemons connect with a
 * daemon key ($connect checks it and stores the connection, $disconnect
 * removes it); every message is a `type`-tagged DaemonMessage, which API
 * Gateway's fixed route selection (`$request.body.action`) sends to $default.
 *
 * `ws-message` is linked to the API itself: the link grants
 * execute-api:ManageConnections (PostToConnection, DeleteConnection) and the
 * management endpoint goes in MAKIMA_WS_MANAGEMENT_ENDPOINT.
 *
 * `$default` has a route response: without one API Gateway drops what
 * ws-message returns, and the daemon would never see why a message was
 * refused (`{ error: { code, message } }`). An answer without a body sends
 * nothing.
 */
import type { Storage } from "./storage";

export function createRealtime(storage: Storage) {
  const ws = new sst.aws.ApiGatewayWebSocket("Relay");
  const managementEndpoint = ws.managementEndpoint;

  ws.route("$connect", {
    handler: "functions/ws-connect.handler",
    link: [storage.table, storage.bucket, storage.cursorSecret],
    environment: { ...storage.environment },
    timeout: "10 seconds",
  });

  ws.route("$disconnect", {
    handler: "functions/ws-disconnect.handler",
    link: [storage.table, storage.bucket, storage.cursorSecret],
    environment: { ...storage.environment },
    timeout: "10 seconds",
  });

  const messages = ws.route(
    "$default",
    {
      handler: "functions/ws-message.handler",
      link: [storage.table, storage.bucket, storage.cursorSecret, ws],
      environment: { ...storage.environment, MAKIMA_WS_MANAGEMENT_ENDPOINT: managementEndpoint },
      // API Gateway ends a WebSocket integration after 29 s.
      timeout: "29 seconds",
      // Replies settle the operations api requests wait on: executions kept for
      // them, so a burst of slow api calls cannot use up the account's
      // concurrency and stop the replies that would end it.
      concurrency: { reserved: 50 },
    },
    { transform: { route: { routeResponseSelectionExpression: "$default" } } },
  );
  new aws.apigatewayv2.RouteResponse("RelayDefaultRouteResponse", {
    apiId: ws.nodes.api.id,
    routeId: messages.nodes.route.id,
    routeResponseKey: "$default",
  });

  return { ws, managementEndpoint };
}

export type Realtime = ReturnType<typeof createRealtime>;
