import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { randomBytes } from "node:crypto";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import type { Runtime } from "../../core/runtime.js";
import type { WsAnswer } from "../../core/services/daemonSessions.js";
import { createHandler as createConnectHandler, type ConnectEvent } from "../../functions/ws-connect.js";
import { createHandler as createDisconnectHandler } from "../../functions/ws-disconnect.js";
import { createHandler as createMessageHandler } from "../../functions/ws-message.js";

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
 * With `chaos` it also drops, duplicates, delays and reorders messages and
 * cuts connections, at rates the caller picks (ChaosOptions).
 */

export const MAX_MESSAGE_BYTES = 128 * 1024;
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

interface Client {
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

/** The same handler code as the Lambdas, bound to this runtime. */
export function handlersFor(runtime: Runtime): WsHandlers {
  return {
    connect: createConnectHandler(runtime),
    disconnect: createDisconnectHandler(runtime),
    message: createMessageHandler(runtime),
  };
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

export async function startWsGateway(runtimeOrHandlers: Runtime | WsHandlers, options: WsGatewayOptions): Promise<WsGateway> {
  const handlers: WsHandlers = "connect" in runtimeOrHandlers ? runtimeOrHandlers : handlersFor(runtimeOrHandlers);
  const host = options.host ?? "127.0.0.1";
  const stage = options.stage ?? "local";
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxConnectionMs = options.maxConnectionMs ?? MAX_CONNECTION_MS;
  const log = options.log ?? ((line: string) => console.error(line));
  const apiId = "local";
  const domainName = `${host}:${options.port}`;
  const clients = new Map<string, Client>();
  const stats = { maxInboundBytes: 0, maxOutboundBytes: 0, inbound: 0, outbound: 0 };
  let chaos = options.chaos;
  const chaosStats = { droppedInbound: 0, duplicatedInbound: 0, droppedOutbound: 0, closed: 0 };
  const chance = (share: number | undefined) => (share ?? 0) > 0 && (chaos?.random ?? Math.random)() < share!;
  const delay = () => Math.floor((chaos?.random ?? Math.random)() * (chaos?.maxDelayMs ?? 0));
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  const context = (client: Client, routeKey: string, eventType: "CONNECT" | "MESSAGE" | "DISCONNECT") => {
    const now = new Date();
    const requestId = requestIdOf();
    return {
      routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: requestTime(now),
      messageDirection: "IN" as const,
      stage,
      connectedAt: client.connectedAt,
      requestTimeEpoch: now.getTime(),
      identity: { sourceIp: client.sourceIp, ...(client.userAgent ? { userAgent: client.userAgent } : {}) },
      requestId,
      domainName,
      connectionId: client.id,
      apiId,
    };
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const http: Server = createServer((req, res) => {
    handleManagement(req, res).catch((error) => {
      log(`gateway: @connections failed: ${(error as Error).stack ?? error}`);
      if (!res.headersSent) sendJson(res, 500, { message: "Internal server error" });
    });
  });

  // ------------------------------------------------------------ $connect

  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    track(upgrade(req, socket, head)).catch((error) => {
      log(`gateway: $connect failed: ${(error as Error).stack ?? error}`);
      refuse(socket, 500, JSON.stringify({ message: "Internal server error" }));
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Not a WebSocket handshake: refused before $connect, as API Gateway does, so no connection is stored for it.
    const key = req.headers["sec-websocket-key"];
    if (req.headers.upgrade?.toLowerCase() !== "websocket" || !key || req.headers["sec-websocket-version"] !== "13") {
      refuse(socket, 400, JSON.stringify({ message: "Bad Request" }));
      return;
    }
    const url = new URL(req.url ?? "/", `http://${domainName}`);
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
    // Known from now on, so a post racing the handshake waits instead of answering 410.
    clients.set(client.id, client);

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
    const event = {
      headers,
      multiValueHeaders,
      // API Gateway leaves both out when the URL has no query string.
      ...(url.search ? { queryStringParameters: query, multiValueQueryStringParameters: multiQuery } : {}),
      requestContext: context(client, "$connect", "CONNECT"),
      isBase64Encoded: false,
    } as unknown as ConnectEvent;

    let answer: WsAnswer;
    try {
      answer = await handlers.connect(event);
    } catch (error) {
      clients.delete(client.id);
      markReady(false);
      throw error;
    }
    const status = answer?.statusCode ?? 200;
    if (status >= 400 || socket.destroyed) {
      clients.delete(client.id);
      markReady(false);
      if (socket.destroyed) {
        // The client left during $connect: API Gateway reports the disconnect.
        if (status < 400) await callDisconnect(client, 1006, "");
        return;
      }
      refuse(socket, status, answer?.body);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      client.socket = ws;
      attach(client, ws);
      markReady(true);
    });
  }

  function refuse(socket: Duplex, status: number, body?: string): void {
    if (socket.destroyed) return;
    const text = body ?? "";
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
        "Connection: close\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  }

  // ------------------------------------------------------------ $default and $disconnect

  function attach(client: Client, ws: WebSocket): void {
    const resetIdle = () => {
      client.lastActiveAt = Date.now();
      if (client.timers[0]) clearTimeout(client.timers[0]);
      client.timers[0] = setTimeout(() => ws.close(1001, "Going away"), idleTimeoutMs);
      client.timers[0].unref();
    };
    resetIdle();
    client.timers[1] = setTimeout(() => ws.close(1001, "Going away"), maxConnectionMs);
    client.timers[1].unref();

    ws.on("message", (data: RawData, isBinary: boolean) => {
      resetIdle();
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      stats.inbound++;
      stats.maxInboundBytes = Math.max(stats.maxInboundBytes, bytes.length);
      const invoke = () => {
        const requestContext = { ...context(client, "$default", "MESSAGE"), messageId: requestIdOf() };
        const event: APIGatewayProxyWebsocketEventV2 = {
          requestContext,
          body: isBinary ? bytes.toString("base64") : bytes.toString("utf8"),
          isBase64Encoded: isBinary,
        };
        track(handlers.message(event))
          .then((answer) => {
            if (answer.body === undefined || ws.readyState !== WebSocket.OPEN) return;
            // A response frame can be lost as a post can (chaos mode).
            if (chaos && chance(chaos.dropOutbound)) {
              chaosStats.droppedOutbound++;
              return;
            }
            ws.send(answer.body);
          })
          .catch((error) => {
            log(`gateway: $default failed: ${(error as Error).stack ?? error}`);
            if (ws.readyState === WebSocket.OPEN) {
              ws.send(JSON.stringify({ message: "Internal server error", connectionId: client.id, requestId: requestContext.requestId }));
            }
          });
      };
      if (!chaos) return invoke();
      if (chance(chaos.closeConnection)) {
        chaosStats.closed++;
        setTimeout(() => ws.terminate(), delay()).unref();
      }
      if (chance(chaos.dropInbound)) {
        chaosStats.droppedInbound++;
        return;
      }
      const copies = chance(chaos.duplicateInbound) ? 2 : 1;
      if (copies > 1) chaosStats.duplicatedInbound++;
      for (let i = 0; i < copies; i++) {
        const wait = delay();
        if (wait === 0) invoke();
        else track(sleep(wait).then(invoke));
      }
    });
    ws.on("error", (error) => log(`gateway: connection ${client.id}: ${error.message}`));
    ws.on("close", (code: number, reason: Buffer) => {
      for (const t of client.timers) clearTimeout(t);
      clients.delete(client.id);
      track(callDisconnect(client, code, reason.toString("utf8"))).catch((error) =>
        log(`gateway: $disconnect failed: ${(error as Error).stack ?? error}`),
      );
    });
  }

  async function callDisconnect(client: Client, code: number, reason: string): Promise<void> {
    const event = {
      requestContext: { ...context(client, "$disconnect", "DISCONNECT"), disconnectStatusCode: code, disconnectReason: reason },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyWebsocketEventV2;
    await handlers.disconnect(event);
  }

  // ------------------------------------------------------------ @connections

  async function handleManagement(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://${domainName}`);
    // `/@connections/{id}`, or `/{stage}/@connections/{id}` when the endpoint names the stage.
    const match = /^(?:\/[^/]+)?\/@connections\/([^/]+)$/.exec(url.pathname);
    if (!match) return sendJson(res, 404, { message: "Not Found" });
    const connectionId = decodeURIComponent(match[1]!);
    const { body, size } = await readBody(req);
    const client = clients.get(connectionId);
    const open = client ? (await Promise.race([client.ready, sleep(5000).then(() => false)])) && client.socket?.readyState === WebSocket.OPEN : false;
    if (!client || !open) return sendError(res, 410, "GoneException", `Connection ${connectionId} is gone`);
    const ws = client.socket!;

    switch (req.method) {
      case "POST": {
        if (size > MAX_MESSAGE_BYTES) {
          return sendError(res, 413, "PayloadTooLargeException", `Message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
        }
        stats.outbound++;
        stats.maxOutboundBytes = Math.max(stats.maxOutboundBytes, size);
        if (chaos && chance(chaos.dropOutbound)) {
          chaosStats.droppedOutbound++;
          res.writeHead(200, { "content-type": "application/json", "content-length": "0" }).end();
          return;
        }
        const text = body.toString("utf8");
        // Text frames for UTF-8 (our JSON), binary for anything else.
        const isText = Buffer.from(text, "utf8").equals(body);
        await new Promise<void>((resolve, reject) => ws.send(isText ? text : body, { binary: !isText }, (e) => (e ? reject(e) : resolve())));
        res.writeHead(200, { "content-type": "application/json", "content-length": "0" }).end();
        return;
      }
      case "GET":
        // The wire names are lowerCamel (the SDK maps them to ConnectedAt, Identity.SourceIp, …).
        return sendJson(res, 200, {
          connectedAt: new Date(client.connectedAt).toISOString(),
          identity: { sourceIp: client.sourceIp, ...(client.userAgent ? { userAgent: client.userAgent } : {}) },
          lastActiveAt: new Date(client.lastActiveAt).toISOString(),
        });
      case "DELETE":
        // API Gateway drops the connection: a client that does not finish the close handshake is cut off.
        ws.close(1000, "");
        setTimeout(() => ws.terminate(), 1000).unref();
        res.writeHead(204).end();
        return;
      default:
        return sendJson(res, 405, { message: "Method Not Allowed" });
    }
  }

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, host, () => {
      http.off("error", reject);
      resolve();
    });
  });

  return {
    url: `ws://${domainName}`,
    managementEndpoint: `http://${domainName}`,
    port: options.port,
    stats,
    connectionIds: () => [...clients.keys()].filter((id) => clients.get(id)?.socket),
    setChaos(next) {
      chaos = next;
    },
    chaosStats,
    terminate(connectionId: string) {
      const ws = clients.get(connectionId)?.socket;
      if (!ws) return false;
      ws.terminate();
      return true;
    },
    async stop() {
      for (const client of clients.values()) client.socket?.close(1001, "Going away");
      // Give clean closes a moment, then cut what is left; each close runs $disconnect.
      await sleep(50);
      for (const client of clients.values()) client.socket?.terminate();
      for (let i = 0; i < 40 && [...clients.values()].some((c) => c.socket); i++) await sleep(25);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await Promise.allSettled([...inFlight]);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** The request body and its full size (past the message limit it is read to the end but not kept). */
async function readBody(req: IncomingMessage): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_MESSAGE_BYTES) chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks), size };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

/** An error as API Gateway's management API answers it: the SDK reads the type from `x-amzn-ErrorType`. */
function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  const text = JSON.stringify({ message });
  res
    .writeHead(status, { "content-type": "application/json", "x-amzn-ErrorType": type, "content-length": Buffer.byteLength(text) })
    .end(text);
}
