import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import { startDaemon, type Daemon } from "../../daemon/ws/daemon.js";
import { relativeToRoot } from "../../daemon/ws/handlers.js";
import { freePort } from "../../stacks/local/emulators.js";
import { tempDir } from "../support/git.js";
import { waitFor } from "../support/relay.js";

/**
 * A compromised server: a WebSocket server the real daemon connects to,
 * sending it whatever a hostile server would, and two file servers (the
 * origin named at hello, and another one).
 */
let wss: WebSocketServer;
let socket: WebSocket | undefined;
const fromDaemon: any[] = [];
let trusted: Server;
let foreign: Server;
let trustedOrigin: string;
let foreignOrigin: string;
let foreignHits = 0;
let servedBytes = 0;
let daemon: Daemon;
let root: string;

function listen(server: Server): Promise<string> {
  return freePort().then((port) => new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(`http://127.0.0.1:${port}`))));
}

beforeAll(async () => {
  trusted = createServer((req, res) => {
    if (req.url === "/huge") {
      // Answers without end, as the 400 MB answer did.
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && servedBytes < 400 * 1024 * 1024) {
          servedBytes += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      res.write("[");
      pump();
      return;
    }
    if (req.url === "/brief-object") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ plan: { evil: true } }));
    if (req.url === "/secrets") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ aws: "secret" }));
    res.writeHead(404).end();
  });
  foreign = createServer((_req, res) => {
    foreignHits++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ messages: [] }));
  });
  trustedOrigin = await listen(trusted);
  foreignOrigin = await listen(foreign);

  const port = await freePort();
  wss = new WebSocketServer({ port, host: "127.0.0.1" });
  wss.on("connection", (ws) => {
    socket = ws;
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString());
      fromDaemon.push(message);
      if (message.type === "hello") ws.send(JSON.stringify({ type: "welcome", transferOrigins: [trustedOrigin], serverTime: new Date().toISOString() }));
    });
  });
  root = tempDir("makima-root-");
  daemon = await startDaemon({
    wsUrl: `ws://127.0.0.1:${port}`,
    daemonKey: "mkd_test",
    root,
    log: () => undefined,
    reconnectInitialMs: 50,
    reconnectMaxMs: 500,
    maxDownloadBytes: 1024 * 1024,
  });
  await waitFor(() => fromDaemon.some((m) => m.type === "hello"), 10_000, "hello");
});

afterAll(async () => {
  await daemon?.stop();
  await new Promise<void>((r) => wss.close(() => r()));
  await new Promise<void>((r) => trusted.close(() => r()));
  await new Promise<void>((r) => foreign.close(() => r()));
});

/** Sends a command and returns the daemon's answer to it. */
async function command(body: Record<string, unknown>): Promise<any> {
  const requestId = randomUUID();
  socket!.send(JSON.stringify({ requestId, ...body }));
  return waitFor(() => fromDaemon.find((m) => m.requestId === requestId), 30_000, `the answer to ${String(body.type)}`);
}

const spawn = (extra: Record<string, unknown>) => ({ type: "spawnTask", taskId: randomUUID(), name: "t", plan: "p", ...extra });

describe("a daemon that distrusts its server (the reproductions)", () => {
  it("downloads nothing from an origin it was not told at hello", async () => {
    const answer = await command(spawn({ conversationUrl: `${foreignOrigin}/conversation.json` }));
    expect(answer).toMatchObject({ type: "error", code: "transfer_refused" });
    expect(foreignHits).toBe(0);
  });

  it("a later welcome does not widen where it downloads from", async () => {
    socket!.send(JSON.stringify({ type: "welcome", transferOrigins: [foreignOrigin], serverTime: new Date().toISOString() }));
    const answer = await command(spawn({ briefUrl: `${foreignOrigin}/brief.json`, plan: "" }));
    expect(answer).toMatchObject({ type: "error", code: "transfer_refused" });
    expect(foreignHits).toBe(0);
  });

  it("stops reading a download past its size cap, with a clear error", async () => {
    const before = process.memoryUsage().rss;
    const answer = await command(spawn({ conversationUrl: `${trustedOrigin}/huge` }));
    expect(answer).toMatchObject({ type: "error", code: "transfer_too_large" });
    expect(servedBytes).toBeLessThan(400 * 1024 * 1024);
    expect(process.memoryUsage().rss - before).toBeLessThan(300 * 1024 * 1024);
  });

  it("refuses fetched JSON that is not what the command said (a non-string plan, anything else)", async () => {
    const brief = await command(spawn({ briefUrl: `${trustedOrigin}/brief-object`, plan: "" }));
    expect(brief).toMatchObject({ type: "error", code: "transfer_invalid" });
    const other = await command(spawn({ conversationUrl: `${trustedOrigin}/secrets` }));
    expect(other).toMatchObject({ type: "error", code: "transfer_invalid" });
  });

  it("type-checks every field of a command", async () => {
    for (const bad of [
      spawn({ plan: { x: 1 } }),
      spawn({ name: 5 }),
      { type: "getCheckpointDiff", taskId: randomUUID(), checkpointSha: 5 },
      { type: "rewindToCheckpoint", taskId: randomUUID(), checkpointSha: "a".repeat(40), preserveMode: "explode" },
      { type: "createBranch", taskId: "../../etc", branchName: "x", commitSha: "a".repeat(40) },
    ]) {
      const answer = await command(bad);
      expect(answer, JSON.stringify(bad)).toMatchObject({ type: "error", code: "invalid_command" });
    }
  });

  it("names paths relative to its root in errors", async () => {
    const taskId = randomUUID();
    mkdirSync(path.join(root, taskId), { recursive: true });
    writeFileSync(path.join(root, taskId, "mine.txt"), "x");
    const answer = await command({ type: "spawnTask", taskId, name: "t", plan: "p" });
    expect(answer.type).toBe("error");
    expect(answer.message).toContain(taskId);
    expect(answer.message).not.toContain(root);
    expect(relativeToRoot(`${root}/a/b failed in ${root}`, root)).toBe("a/b failed in .");
  });
});
