import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { randomBytes } from "node:crypto";
import { WebSocket, type RawData, type WebSocketServer } from "ws";
import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import type { WsAnswer } from "../../core/services/daemon/sessions.js";
import type { ConnectEvent } from "../../functions/ws-connect.js";
import type { ChaosOptions, WsHandlers } from "./gateway.js";

/**
 * The local WebSocket gateway's connections: `$connect` on upgrade, each
 * message its own `$default` invocation (with chaos, if asked), `$disconnect`
 * on close. Every function takes the gateway's state (GatewayState).
 */

export const MAX_MESSAGE_BYTES = 128 * 1024;

export interface Client {
  id: string;
  socket?: WebSocket;
  /** Resolves once the upgrade completed (posts wait for it, like API Gateway's after $connect). */
  ready: Promise<boolean>;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent?: string;
  timers: NodeJS.Timeout[];
}

/** What every part of the gateway shares. */
export interface GatewayState {
  handlers: WsHandlers;
  stage: string;
  domainName: string;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  log: (line: string) => void;
  clients: Map<string, Client>;
  wss: WebSocketServer;
  stats: { maxInboundBytes: number; maxOutboundBytes: number; inbound: number; outbound: number };
  chaos: ChaosOptions | undefined;
  chaosStats: { droppedInbound: number; duplicatedInbound: number; droppedOutbound: number; closed: number };
  inFlight: Set<Promise<unknown>>;
}

/** Keeps a promise among the gateway's in-flight work until it settles (stop waits for them). */
export function track<T>(gw: GatewayState, p: Promise<T>): Promise<T> {
  gw.inFlight.add(p);
  void p.finally(() => gw.inFlight.delete(p)).catch(() => undefined);
  return p;
}

/** Whether a chaos fault of this share happens now. */
export function chance(gw: GatewayState, share: number | undefined): boolean {
  return (share ?? 0) > 0 && (gw.chaos?.random ?? Math.random)() < share!;
}

function chaosDelay(gw: GatewayState): number {
  return Math.floor((gw.chaos?.random ?? Math.random)() * (gw.chaos?.maxDelayMs ?? 0));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** API Gateway's connection ids: 16 characters of base64 (its own look like `QyUg1czHCYcCHXw=`). */
function newConnectionId(): string {
  return randomBytes(11).toString("base64").replace(/\//g, "_");
}

/** `18/Apr/2022:17:07:29 +0000`, the requestTime format of API Gateway events. */
function requestTime(at: Date): string {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(at.getUTCDate())}/${months[at.getUTCMonth()]}/${at.getUTCFullYear()}:${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())} +0000`;
}

const requestIdOf = () => randomBytes(11).toString("base64").replace(/\//g, "_");

/** The requestContext API Gateway gives every invocation of a connection. */
function eventContext(gw: GatewayState, client: Client, routeKey: string, eventType: "CONNECT" | "MESSAGE" | "DISCONNECT") {
  const now = new Date();
  const requestId = requestIdOf();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: "IN" as const,
    stage: gw.stage,
    connectedAt: client.connectedAt,
    requestTimeEpoch: now.getTime(),
    identity: { sourceIp: client.sourceIp, ...(client.userAgent ? { userAgent: client.userAgent } : {}) },
    requestId,
    domainName: gw.domainName,
    connectionId: client.id,
    apiId: "local",
  };
}

/** The `$connect` event of an upgrade request: headers and query string as API Gateway shapes them. */
function connectEvent(gw: GatewayState, req: IncomingMessage, client: Client): ConnectEvent {
  const url = new URL(req.url ?? "/", `http://${gw.domainName}`);
  // Header names as the client sent them (API Gateway keeps their case); the last value wins, all are in multiValueHeaders.
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const value = req.rawHeaders[i + 1]!;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) {
    query[k] = v;
    (multiQuery[k] ??= []).push(v);
  }
  return {
    headers,
    multiValueHeaders,
    // API Gateway leaves both out when the URL has no query string.
    ...(url.search ? { queryStringParameters: query, multiValueQueryStringParameters: multiQuery } : {}),
    requestContext: eventContext(gw, client, "$connect", "CONNECT"),
    isBase64Encoded: false,
  } as unknown as ConnectEvent;
}

function newClient(req: IncomingMessage): { client: Client; markReady: (ok: boolean) => void } {
  const now = Date.now();
  let markReady!: (ok: boolean) => void;
  const client: Client = {
    id: newConnectionId(),
    ready: new Promise((r) => (markReady = r)),
    connectedAt: now,
    lastActiveAt: now,
    sourceIp: (req.socket.remoteAddress ?? "127.0.0.1").replace(/^::ffff:/, ""),
    userAgent: req.headers["user-agent"],
    timers: [],
  };
  return { client, markReady };
}

/** An upgrade request: `$connect` decides, then the socket is a connection or is refused with the handler's status. */
export async function upgradeConnection(gw: GatewayState, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  // Not a WebSocket handshake: refused before $connect, as API Gateway does, so no connection is stored for it.
  const key = req.headers["sec-websocket-key"];
  if (req.headers.upgrade?.toLowerCase() !== "websocket" || !key || req.headers["sec-websocket-version"] !== "13") {
    refuse(socket, 400, JSON.stringify({ message: "Bad Request" }));
    return;
  }
  const { client, markReady } = newClient(req);
  // Known from now on, so a post racing the handshake waits instead of answering 410.
  gw.clients.set(client.id, client);
  let answer: WsAnswer;
  try {
    answer = await gw.handlers.connect(connectEvent(gw, req, client));
  } catch (error) {
    gw.clients.delete(client.id);
    markReady(false);
    throw error;
  }
  const status = answer?.statusCode ?? 200;
  if (status >= 400 || socket.destroyed) {
    gw.clients.delete(client.id);
    markReady(false);
    if (socket.destroyed) {
      // The client left during $connect: API Gateway reports the disconnect.
      if (status < 400) await callDisconnect(gw, client, 1006, "");
      return;
    }
    refuse(socket, status, answer?.body);
    return;
  }
  gw.wss.handleUpgrade(req, socket, head, (ws) => {
    client.socket = ws;
    attachSocket(gw, client, ws);
    markReady(true);
  });
}

/** Answers an upgrade request with a plain HTTP status, as API Gateway refuses a connection. */
export function refuse(socket: Duplex, status: number, body?: string): void {
  if (socket.destroyed) return;
  const text = body ?? "";
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      "Connection: close\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

/** An open connection: idle and lifetime limits, `$default` per message, `$disconnect` on close. */
function attachSocket(gw: GatewayState, client: Client, ws: WebSocket): void {
  const resetIdle = () => {
    client.lastActiveAt = Date.now();
    if (client.timers[0]) clearTimeout(client.timers[0]);
    client.timers[0] = setTimeout(() => ws.close(1001, "Going away"), gw.idleTimeoutMs);
    client.timers[0].unref();
  };
  resetIdle();
  client.timers[1] = setTimeout(() => ws.close(1001, "Going away"), gw.maxConnectionMs);
  client.timers[1].unref();

  ws.on("message", (data: RawData, isBinary: boolean) => {
    resetIdle();
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    gw.stats.inbound++;
    gw.stats.maxInboundBytes = Math.max(gw.stats.maxInboundBytes, bytes.length);
    dispatchMessage(gw, ws, () => invokeMessage(gw, client, ws, bytes, isBinary));
  });
  ws.on("error", (error) => gw.log(`gateway: connection ${client.id}: ${error.message}`));
  ws.on("close", (code: number, reason: Buffer) => {
    for (const t of client.timers) clearTimeout(t);
    gw.clients.delete(client.id);
    track(gw, callDisconnect(gw, client, code, reason.toString("utf8"))).catch((error) =>
      gw.log(`gateway: $disconnect failed: ${(error as Error).stack ?? error}`),
    );
  });
}

/** Runs a message's invocation once, or, with chaos, drops, duplicates or delays it and may cut the connection. */
function dispatchMessage(gw: GatewayState, ws: WebSocket, invoke: () => void): void {
  const chaos = gw.chaos;
  if (!chaos) return invoke();
  if (chance(gw, chaos.closeConnection)) {
    gw.chaosStats.closed++;
    setTimeout(() => ws.terminate(), chaosDelay(gw)).unref();
  }
  if (chance(gw, chaos.dropInbound)) {
    gw.chaosStats.droppedInbound++;
    return;
  }
  const copies = chance(gw, chaos.duplicateInbound) ? 2 : 1;
  if (copies > 1) gw.chaosStats.duplicatedInbound++;
  for (let i = 0; i < copies; i++) {
    const wait = chaosDelay(gw);
    if (wait === 0) invoke();
    else track(gw, sleep(wait).then(invoke));
  }
}

/** One `$default` invocation: its answer's body goes back to the client; a throw sends API Gateway's internal error. */
function invokeMessage(gw: GatewayState, client: Client, ws: WebSocket, bytes: Buffer, isBinary: boolean): void {
  const requestContext = { ...eventContext(gw, client, "$default", "MESSAGE"), messageId: requestIdOf() };
  const event: APIGatewayProxyWebsocketEventV2 = {
    requestContext,
    body: isBinary ? bytes.toString("base64") : bytes.toString("utf8"),
    isBase64Encoded: isBinary,
  };
  track(gw, gw.handlers.message(event))
    .then((answer) => {
      if (answer.body === undefined || ws.readyState !== WebSocket.OPEN) return;
      // A response frame can be lost as a post can (chaos mode).
      if (gw.chaos && chance(gw, gw.chaos.dropOutbound)) {
        gw.chaosStats.droppedOutbound++;
        return;
      }
      ws.send(answer.body);
    })
    .catch((error) => {
      gw.log(`gateway: $default failed: ${(error as Error).stack ?? error}`);
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ message: "Internal server error", connectionId: client.id, requestId: requestContext.requestId }));
      }
    });
}

/** The `$disconnect` invocation, with API Gateway's close code and reason. */
export async function callDisconnect(gw: GatewayState, client: Client, code: number, reason: string): Promise<void> {
  const event = {
    requestContext: { ...eventContext(gw, client, "$disconnect", "DISCONNECT"), disconnectStatusCode: code, disconnectReason: reason },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyWebsocketEventV2;
  await gw.handlers.disconnect(event);
}
