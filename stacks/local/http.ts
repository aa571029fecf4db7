import { serve, type ServerType } from "@hono/node-server";
import type { Socket } from "node:net";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The HTTP API on @hono/node-server, answering what Node itself refuses the
 * way the API answers everything: as the JSON error shape. A request whose
 * head is over Node's 16 KB limit is a 431, any other unparsable request a
 * 400, both with `Connection: close` (the socket cannot be reused after a
 * request that was not read), so a client's next request opens a new one.
 */
export async function serveApi(fetch: (request: Request) => Response | Promise<Response>, options: { port: number; hostname?: string }): Promise<ServerType> {
  const http: ServerType = await new Promise((resolve) => {
    const server = serve({ fetch, port: options.port, hostname: options.hostname ?? "127.0.0.1" }, () => resolve(server));
  });
  // Node closes idle keep-alive sockets after 5 s, racing clients that reuse them (fetch's pool);
  // keep them longer than the clients do, as load balancers in front of APIs do.
  if ("keepAliveTimeout" in http) {
    http.keepAliveTimeout = 65_000;
    http.headersTimeout = 66_000;
  }
  // A GET or HEAD may carry a body; the app ignores it, so it is read and dropped here, leaving the
  // connection ready for the next request.
  const answering = new WeakSet<Socket>();
  http.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    if ((req.method === "GET" || req.method === "HEAD") && (req.headers["content-length"] || req.headers["transfer-encoding"])) req.resume();
    const socket = req.socket;
    answering.add(socket);
    res.once("close", () => answering.delete(socket));
  });
  http.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    // A response is being written on this socket: nothing more can be said on it.
    if (!socket.writable || answering.has(socket)) return socket.destroy();
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify({
      error: tooLarge
        ? { code: "headers_too_large", message: "the request's URL and headers are over 16 KB" }
        : { code: "bad_request", message: "the request is not valid HTTP" },
    });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return http;
}
