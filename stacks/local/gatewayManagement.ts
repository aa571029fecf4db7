import type { IncomingMessage, ServerResponse } from "node:http";
import { WebSocket } from "ws";
import { chance, MAX_MESSAGE_BYTES, sleep, type Client, type GatewayState } from "./gatewayConnections.js";

/**
 * The `@connections` management API of the local WebSocket gateway:
 * PostToConnection (POST), GetConnection (GET) and DeleteConnection
 * (DELETE), answered as API Gateway answers them.
 */

export async function handleManagement(gw: GatewayState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", `http://${gw.domainName}`);
  // `/@connections/{id}`, or `/{stage}/@connections/{id}` when the endpoint names the stage.
  const match = /^(?:\/[^/]+)?\/@connections\/([^/]+)$/.exec(url.pathname);
  if (!match) return sendJson(res, 404, { message: "Not Found" });
  const connectionId = decodeURIComponent(match[1]!);
  const { body, size } = await readBody(req);
  const client = gw.clients.get(connectionId);
  const open = client ? (await Promise.race([client.ready, sleep(5000).then(() => false)])) && client.socket?.readyState === WebSocket.OPEN : false;
  if (!client || !open) return sendError(res, 410, "GoneException", `Connection ${connectionId} is gone`);
  const ws = client.socket!;

  switch (req.method) {
    case "POST":
      return postToConnection(gw, ws, res, body, size);
    case "GET":
      return getConnection(client, res);
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

async function postToConnection(gw: GatewayState, ws: WebSocket, res: ServerResponse, body: Buffer, size: number): Promise<void> {
  if (size > MAX_MESSAGE_BYTES) {
    return sendError(res, 413, "PayloadTooLargeException", `Message is ${size} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
  }
  gw.stats.outbound++;
  gw.stats.maxOutboundBytes = Math.max(gw.stats.maxOutboundBytes, size);
  if (gw.chaos && chance(gw, gw.chaos.dropOutbound)) {
    gw.chaosStats.droppedOutbound++;
    res.writeHead(200, { "content-type": "application/json", "content-length": "0" }).end();
    return;
  }
  const text = body.toString("utf8");
  // Text frames for UTF-8 (our JSON), binary for anything else.
  const isText = Buffer.from(text, "utf8").equals(body);
  await new Promise<void>((resolve, reject) => ws.send(isText ? text : body, { binary: !isText }, (e) => (e ? reject(e) : resolve())));
  res.writeHead(200, { "content-type": "application/json", "content-length": "0" }).end();
}

function getConnection(client: Client, res: ServerResponse): void {
  // The wire names are lowerCamel (the SDK maps them to ConnectedAt, Identity.SourceIp, …).
  sendJson(res, 200, {
    connectedAt: new Date(client.connectedAt).toISOString(),
    identity: { sourceIp: client.sourceIp, ...(client.userAgent ? { userAgent: client.userAgent } : {}) },
    lastActiveAt: new Date(client.lastActiveAt).toISOString(),
  });
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

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
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
