import type { IncomingMessage } from "node:http";
import { WebSocket } from "ws";
import type { DaemonMessage } from "../../core/protocol.js";

/**
 * The daemon's end of the WebSocket: connects with the daemon key, says
 * hello, heartbeats, and reconnects with exponential backoff when the
 * connection drops. Outgoing messages wait in a queue while disconnected, so
 * a reply or report made during an outage goes out on the next connection
 * (the server takes each once: replies settle once, message ids and commits
 * are deduplicated).
 */

/** API Gateway's frame limit; a message is sent as continuation frames of this size. */
const FRAME_BYTES = 32 * 1024;
const MAX_QUEUED = 10_000;

export interface ConnectionOptions {
  url: string;
  daemonKey: string;
  daemonId: string;
  hostname: string;
  version: string;
  /** Every text message the server sends (commands). */
  onMessage: (text: string) => void;
  /** Each time a connection opens (after its hello is queued). */
  onOpen?: () => void;
  log: (line: string) => void;
  /** Default 60 s: well inside API Gateway's 10-minute idle timeout. */
  heartbeatMs?: number;
  /**
   * How long a connection is used before the daemon moves to a new one
   * (open the new, hand the old one's waiting operations over, close the
   * old): API Gateway closes every connection after 2 hours. Default 110 minutes.
   */
  maxConnectionMs?: number;
  /** First and longest wait between attempts; defaults 250 ms and 30 s. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
}

/** The server refused the daemon key (401/403) or the connect parameters (400). */
class ConnectRefusedError extends Error {
  constructor(
    readonly status: number,
    body: string,
  ) {
    super(`the server refused the connection (HTTP ${status})${body ? `: ${body}` : ""}`);
    this.name = "ConnectRefusedError";
  }
}

interface Queued {
  text: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class DaemonConnection {
  private ws: WebSocket | undefined;
  private queue: Queued[] = [];
  private flushing = false;
  private stopping = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private openWaiters: Array<() => void> = [];
  /** How many times a connection opened (tests watch reconnects with it). */
  opened = 0;

  constructor(private readonly options: ConnectionOptions) {}

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Opens the first connection. Resolves once it is open, or after a failure
   * that retrying may cure (server not up yet: it keeps trying in the
   * background); rejects when the server refuses the key or parameters.
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => this.connect({ resolve, reject }));
  }

  /** Resolves when a connection is open (now or later). */
  whenOpen(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.openWaiters.push(resolve));
  }

  /** Sends now, or as soon as a connection is open; resolves when written to the socket. */
  send(message: DaemonMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopping) return reject(new Error("the daemon is stopping"));
      if (this.queue.length >= MAX_QUEUED) {
        const dropped = this.queue.shift()!;
        dropped.reject(new Error("dropped: too many messages queued while disconnected"));
        this.options.log(`connection: queue full, dropped the oldest message`);
      }
      this.queue.push({ text: JSON.stringify(message), resolve, reject });
      void this.flush();
    });
  }

  /** Closes the connection for good; queued messages are dropped. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.renewTimer);
    for (const q of this.queue.splice(0)) q.reject(new Error("the daemon stopped"));
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, "daemon stopping");
    });
  }

  /** Drops the connection as a network failure would (tests use it to check reconnection). */
  dropForTest(): void {
    this.ws?.terminate();
  }

  // ------------------------------------------------------------ internals

  /** Moves to a new connection before the gateway's limit: the old one stays in use until the new one is open. */
  private renew(): void {
    const old = this.ws;
    if (this.stopping || !old || old.readyState !== WebSocket.OPEN) return;
    this.options.log("connection: moving to a new connection before the gateway's time limit");
    this.connect(undefined, old);
  }

  /** Hands the old connection's waiting operations to the new one (the server answers handedOver), then closes it. */
  private retire(old: WebSocket, handedOver: Promise<void>): void {
    old.send(JSON.stringify({ type: "handover" }), { compress: false }, () => undefined);
    const timeout = new Promise<void>((r) => setTimeout(r, 10_000).unref());
    void Promise.race([handedOver, timeout]).then(() => {
      if (old.readyState === WebSocket.OPEN) old.close(1000, "reconnected");
    });
  }

  private connect(first?: { resolve: () => void; reject: (e: Error) => void }, replacing?: WebSocket): void {
    if (this.stopping) return;
    const url = new URL(this.options.url);
    url.searchParams.set("daemonId", this.options.daemonId);
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${this.options.daemonKey}` },
      handshakeTimeout: 15_000,
      perMessageDeflate: false,
    });
    // A planned reconnect keeps using the old connection until this one is open.
    if (!replacing) this.ws = ws;
    let refused: ConnectRefusedError | undefined;
    let wasOpen = false;
    let markHandedOver!: () => void;
    const handedOver = new Promise<void>((r) => (markHandedOver = r));

    // $connect answered with an HTTP status instead of the upgrade: read why, then abort the handshake.
    ws.on("unexpected-response", (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const done = () => {
        if (refused) return;
        refused = new ConnectRefusedError(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8").slice(0, 500));
        ws.terminate();
      };
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    });
    ws.on("open", () => {
      wasOpen = true;
      this.opened++;
      if (replacing) this.ws = ws;
      clearTimeout(this.renewTimer);
      this.renewTimer = setTimeout(() => this.renew(), this.options.maxConnectionMs ?? 110 * 60_000);
      this.renewTimer.unref();
      this.options.log(`connection: open (${url.origin}${url.pathname}) as daemon ${this.options.daemonId}`);
      // Back to short waits only once the connection proves stable.
      this.stableTimer = setTimeout(() => (this.attempt = 0), 10_000);
      this.startHeartbeat(ws);
      // hello goes first, before anything queued during the outage.
      this.queue.unshift({
        text: JSON.stringify({ type: "hello", hostname: this.options.hostname, version: this.options.version }),
        resolve: () => undefined,
        reject: () => undefined,
      });
      void this.flush();
      this.options.onOpen?.();
      for (const w of this.openWaiters.splice(0)) w();
      first?.resolve();
      first = undefined;
      if (replacing) this.retire(replacing, retiring.get(replacing) ?? Promise.resolve());
    });
    retiring.set(ws, handedOver);
    ws.on("message", (data, isBinary) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as Buffer).toString("utf8");
      if (isBinary) this.options.log("connection: binary message from the server, read as UTF-8 JSON");
      if (text.includes('"handedOver"') && /^\{"type":"handedOver"/.test(text)) return markHandedOver();
      this.options.onMessage(text);
    });
    ws.on("error", (error) => {
      // "close" follows; the reason is logged there.
      if (!refused) this.options.log(`connection: ${error.message}`);
    });
    let closed = false;
    ws.on("close", (code: number, reason: Buffer) => {
      if (closed) return;
      closed = true;
      markHandedOver();
      if (this.ws !== ws && (wasOpen || replacing)) {
        // A connection already replaced, or a replacement that never opened (the old one serves on; try later).
        if (!wasOpen && replacing && !this.stopping) {
          this.renewTimer = setTimeout(() => this.renew(), 30_000);
          this.renewTimer.unref();
        }
        return;
      }
      clearInterval(this.heartbeatTimer);
      clearTimeout(this.stableTimer);
      if (this.ws === ws) this.ws = undefined;
      if (this.stopping) return;
      if (refused && first && [400, 401, 403].includes(refused.status)) {
        this.stopping = true;
        first.reject(refused);
        return;
      }
      const why = refused ? refused.message : `closed (${code}${reason.length ? ` ${reason.toString("utf8")}` : ""})`;
      const delay = this.nextDelay();
      this.options.log(`connection: ${why}; reconnecting in ${delay} ms`);
      first?.resolve();
      first = undefined;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    });
  }

  /** Exponential backoff with jitter, capped. */
  private nextDelay(): number {
    const initial = this.options.reconnectInitialMs ?? 250;
    const max = this.options.reconnectMaxMs ?? 30_000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    this.attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private startHeartbeat(ws: WebSocket): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) void this.send({ type: "heartbeat" }).catch(() => undefined);
    }, this.options.heartbeatMs ?? 60_000);
    this.heartbeatTimer.unref();
  }

  /** Writes queued messages in order while the connection is open. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const ws = this.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN) return;
        const next = this.queue[0]!;
        try {
          await writeFragmented(ws, next.text);
          this.queue.shift();
          next.resolve();
        } catch {
          // The socket failed under us: the message stays first in line for the next connection.
          return;
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

/** Per connection being replaced: resolves when the server has answered its handover. */
const retiring = new WeakMap<WebSocket, Promise<void>>();

/** One text message, as frames of at most FRAME_BYTES (API Gateway refuses larger frames). */
function writeFragmented(ws: WebSocket, text: string): Promise<void> {
  const bytes = Buffer.from(text, "utf8");
  const sends: Promise<void>[] = [];
  for (let offset = 0; offset < bytes.length || offset === 0; offset += FRAME_BYTES) {
    const chunk = bytes.subarray(offset, offset + FRAME_BYTES);
    const fin = offset + FRAME_BYTES >= bytes.length;
    sends.push(new Promise((resolve, reject) => ws.send(chunk, { binary: false, fin, compress: false }, (e) => (e ? reject(e) : resolve()))));
    if (fin) break;
  }
  return Promise.all(sends).then(() => undefined);
}
