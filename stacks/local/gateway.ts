import { createServer, type Server } from "node:http";
import { WebSocketServer } from "ws";
import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import type { Runtime } from "../../core/runtime.js";
import type { WsAnswer } from "../../core/services/daemon/sessions.js";
import { createHandler as createConnectHandler, type ConnectEvent } from "../../functions/ws-connect.js";
import { createHandler as createDisconnectHandler } from "../../functions/ws-disconnect.js";
import { createHandler as createMessageHandler } from "../../functions/ws-message.js";
import { MAX_MESSAGE_BYTES, refuse, sleep, track, upgradeConnection, type GatewayState } from "./gatewayConnections.js";
import { handleManagement, sendJson } from "./gatewayManagement.js";

/**
 * API Gateway's WebSocket API on one machine: a `ws` server that calls the
 * very handlers the ws-connect, ws-disconnect and ws-message Lambdas export,
 * with events shaped like API Gateway's, and the `@connections` management
 * API on the same port, so `@aws-sdk/client-apigatewaymanagementapi` (the
 * relay's PostToConnection) works against it unchanged.
 *
 * What it copies from API Gateway, because the code relies on it:
 * - `$connect` answering ≥ 400 refuses the upgrade with that HTTP status;
 * - messages over 128 KB close the connection (1009), PostToConnection over
 *   128 KB is a 413, an unknown connection is a 410 GoneException;
 * - each message is its own invocation, run concurrently (no ordering);
 * - an invocation that throws sends the client API Gateway's
 *   `{"message": "Internal server error", …}`;
 * - `$default` has a route response (stacks/realtime.ts), so the body a
 *   message's invocation returns is sent back to the client; no body, nothing;
 * - idle connections are closed after 10 minutes, any after 2 hours.
 *
 * Connections ($connect, $default, $disconnect) are in gatewayConnections.ts,
 * the `@connections` API in gatewayManagement.ts.
 *
 * With `chaos` it also drops, duplicates, delays and reorders messages and
 * cuts connections, at rates the caller picks (ChaosOptions).
 */

export { MAX_MESSAGE_BYTES };
const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;

export interface WsHandlers {
  connect(event: ConnectEvent): Promise<WsAnswer>;
  disconnect(event: APIGatewayProxyWebsocketEventV2): Promise<WsAnswer>;
  message(event: APIGatewayProxyWebsocketEventV2): Promise<WsAnswer>;
}

/**
 * A test mode that makes the network as unkind as API Gateway may be, on
 * purpose: every share is a probability per message (0–1).
 */
export interface ChaosOptions {
  /** Inbound messages never handed to a handler (a lost frame, a throttled invocation). */
  dropInbound?: number;
  /** Inbound messages handed to two concurrent invocations instead of one. */
  duplicateInbound?: number;
  /** Each invocation starts after a random delay up to this: later messages overtake earlier ones. */
  maxDelayMs?: number;
  /** @connections posts answered 200 but never delivered (a lost acknowledgement or command). */
  dropOutbound?: number;
  /** After an inbound message, the connection is cut (no close handshake) within maxDelayMs. */
  closeConnection?: number;
  /** The source of randomness (seed it to repeat a run); Math.random by default. */
  random?: () => number;
}

export interface WsGatewayOptions {
  port: number;
  host?: string;
  stage?: string;
  /** Faults to inject (tests and the reports bench); none by default. */
  chaos?: ChaosOptions;
  /** Defaults: 10 minutes idle, 2 hours in all (API Gateway's limits). */
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  log?: (line: string) => void;
}

export interface WsGateway {
  /** Where daemons connect: `ws://host:port`. */
  url: string;
  /** The `@connections` endpoint (config.wsManagementEndpoint). */
  managementEndpoint: string;
  port: number;
  /** Connection ids currently open. */
  connectionIds(): string[];
  /** Largest message seen each way, in bytes (tests check that big payloads went through S3). */
  stats: { maxInboundBytes: number; maxOutboundBytes: number; inbound: number; outbound: number };
  /** Turns fault injection on (or changes it), or off with undefined. */
  setChaos(chaos: ChaosOptions | undefined): void;
  /** What fault injection did so far. */
  chaosStats: { droppedInbound: number; duplicatedInbound: number; droppedOutbound: number; closed: number };
  /** Drops a connection without a close handshake, as a vanished client does. */
  terminate(connectionId: string): boolean;
  stop(): Promise<void>;
}

/** The same handler code as the Lambdas, bound to this runtime. */
export function handlersFor(runtime: Runtime): WsHandlers {
  return {
    connect: createConnectHandler(runtime),
    disconnect: createDisconnectHandler(runtime),
    message: createMessageHandler(runtime),
  };
}

/** The gateway's shared state from its options. */
function gatewayState(runtimeOrHandlers: Runtime | WsHandlers, options: WsGatewayOptions, host: string): GatewayState {
  return {
    handlers: "connect" in runtimeOrHandlers ? runtimeOrHandlers : handlersFor(runtimeOrHandlers),
    stage: options.stage ?? "local",
    domainName: `${host}:${options.port}`,
    idleTimeoutMs: options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
    maxConnectionMs: options.maxConnectionMs ?? MAX_CONNECTION_MS,
    log: options.log ?? ((line: string) => console.error(line)),
    clients: new Map(),
    wss: new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false }),
    stats: { maxInboundBytes: 0, maxOutboundBytes: 0, inbound: 0, outbound: 0 },
    chaos: options.chaos,
    chaosStats: { droppedInbound: 0, duplicatedInbound: 0, droppedOutbound: 0, closed: 0 },
    inFlight: new Set(),
  };
}

/** One HTTP server for both: upgrades are WebSocket connections, requests the `@connections` API. */
function gatewayServer(gw: GatewayState): Server {
  const http = createServer((req, res) => {
    handleManagement(gw, req, res).catch((error) => {
      gw.log(`gateway: @connections failed: ${(error as Error).stack ?? error}`);
      if (!res.headersSent) sendJson(res, 500, { message: "Internal server error" });
    });
  });
  http.on("upgrade", (req, socket, head: Buffer) => {
    track(gw, upgradeConnection(gw, req, socket, head)).catch((error) => {
      gw.log(`gateway: $connect failed: ${(error as Error).stack ?? error}`);
      refuse(socket, 500, JSON.stringify({ message: "Internal server error" }));
    });
  });
  return http;
}

function listen(http: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
}

/** Closes every connection (each runs $disconnect), then the server, then waits for invocations in flight. */
async function stopGateway(gw: GatewayState, http: Server): Promise<void> {
  for (const client of gw.clients.values()) client.socket?.close(1001, "Going away");
  // Give clean closes a moment, then cut what is left; each close runs $disconnect.
  await sleep(50);
  for (const client of gw.clients.values()) client.socket?.terminate();
  for (let i = 0; i < 40 && [...gw.clients.values()].some((c) => c.socket); i++) await sleep(25);
  await new Promise<void>((resolve) => gw.wss.close(() => resolve()));
  await new Promise<void>((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections();
  });
  await Promise.allSettled([...gw.inFlight]);
}

export async function startWsGateway(runtimeOrHandlers: Runtime | WsHandlers, options: WsGatewayOptions): Promise<WsGateway> {
  const host = options.host ?? "127.0.0.1";
  const gw = gatewayState(runtimeOrHandlers, options, host);
  const http = gatewayServer(gw);
  await listen(http, options.port, host);
  return {
    url: `ws://${gw.domainName}`,
    managementEndpoint: `http://${gw.domainName}`,
    port: options.port,
    stats: gw.stats,
    connectionIds: () => [...gw.clients.keys()].filter((id) => gw.clients.get(id)?.socket),
    setChaos(next) {
      gw.chaos = next;
    },
    chaosStats: gw.chaosStats,
    terminate(connectionId: string) {
      const ws = gw.clients.get(connectionId)?.socket;
      if (!ws) return false;
      ws.terminate();
      return true;
    },
    stop: () => stopGateway(gw, http),
  };
}
