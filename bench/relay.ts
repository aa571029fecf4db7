import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { createRuntime } from "../core/runtime.js";
import { createApiKey, createOwner } from "../core/store/owners.js";
import { createApp } from "../functions/http/app.js";
import { freePort } from "../stacks/local/emulators.js";
import { startWsGateway } from "../stacks/local/gateway.js";
import { startDaemon } from "../daemon/ws/daemon.js";
import { WorktreeManager } from "../daemon/worktree/manager.js";
import { createBenchDb, formatBytes, formatNumber, invokedDirectly, printTable, withEmulators, writeBenchResult } from "./support.js";

/**
 * Relay bench: the round trip of `GET /api/v1/mesh/tasks/{id}/checkpoints/{cid}/diff`
 * over real HTTP, through the API, the local WebSocket gateway (with the
 * real @connections client) and the reference daemon, next to the same git
 * diff run directly (WorktreeManager.getDiff, which is what the daemon runs,
 * and the bare `git diff` processes under it), in one run. Two diffs: a
 * typical one that fits in a WebSocket message, and a 2 MB one that goes
 * through S3.
 */

const CASES = [
  { name: "typical diff (10 files)", files: 10, linesPerFile: 100, changedEvery: 20, iterations: 200 },
  { name: "2 MB diff (via S3)", files: 1, linesPerFile: 40_000, changedEvery: 1, iterations: 20 },
];
const WARMUP = 5;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

async function time(iterations: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await fn();
    out.push(performance.now() - started);
  }
  return out.sort((a, b) => a - b);
}

const row = (label: string, samples: number[]) => [
  label,
  String(samples.length),
  formatNumber(percentile(samples, 50), 1),
  formatNumber(percentile(samples, 99), 1),
  formatNumber(samples.reduce((a, b) => a + b, 0) / samples.length, 1),
];

export async function runRelayBench(): Promise<void> {
  process.env.GIT_CONFIG_GLOBAL ??= "/dev/null";
  process.env.GIT_CONFIG_NOSYSTEM ??= "1";
  await withEmulators(async (emulators) => {
    const wsPort = await freePort();
    const db = await createBenchDb(emulators, "relay", {
      wsManagementEndpoint: `http://127.0.0.1:${wsPort}`,
      relayWaitMs: 20_000,
      relayTimeoutMs: 30_000,
    });
    const runtime = createRuntime(db.config, { db });
    const app = createApp(runtime);
    const http: ServerType = await new Promise((resolve) => {
      const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(server));
    });
    const address = http.address();
    const apiUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    const gateway = await startWsGateway(runtime, { port: wsPort, log: () => undefined });
    const root = mkdtempSync(path.join(tmpdir(), "makima-relay-bench-"));

    const owner = await createOwner(db, "bench");
    const apiKey = (await createApiKey(db, owner.id, { kind: "api" })).key;
    const daemonKey = (await createApiKey(db, owner.id, { kind: "daemon" })).key;
    const daemon = await startDaemon({ wsUrl: gateway.url, daemonKey, root, log: () => undefined });
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${apiUrl}${p}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
      return { json: JSON.parse(text) as any, bytes: text.length };
    };
    // A separate manager on the same root: the direct path, without the daemon's connection.
    const direct = new WorktreeManager({ root });

    try {
      const rows: string[][] = [];
      const notes: string[] = [];
      for (const c of CASES) {
        const task = (await call("POST", "/api/v1/mesh/tasks", { name: c.name, plan: "bench" })).json;
        const dir = path.join(root, task.id);
        mkdirSync(dir, { recursive: true });
        const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 }).trim();
        git("init", "-q", "-b", "main");
        git("config", "user.name", "Bench");
        git("config", "user.email", "bench@example.com");
        const content = (file: number, version: number) =>
          Array.from({ length: c.linesPerFile }, (_, i) =>
            `file ${file} line ${String(i).padStart(6, "0")} ${i % c.changedEvery === 0 ? `v${version}` : "v0"} lorem ipsum dolor sit amet\n`,
          ).join("");
        for (let f = 0; f < c.files; f++) writeFileSync(path.join(dir, `f${f}.txt`), content(f, 1));
        git("add", "-A");
        git("commit", "-q", "-m", "one");
        const c1 = git("rev-parse", "HEAD");
        for (let f = 0; f < c.files; f++) writeFileSync(path.join(dir, `f${f}.txt`), content(f, 2));
        git("add", "-A");
        git("commit", "-q", "-m", "two");
        const c2 = git("rev-parse", "HEAD");
        await call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { commitSha: c1, branchName: "main", message: "one" });
        const cp2 = (await call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { commitSha: c2, branchName: "main", message: "two" })).json.checkpoint;

        const diffPath = `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp2.id}/diff`;
        const probe = await call("GET", diffPath);
        const diffBytes = Buffer.byteLength(JSON.stringify({ files: probe.json.files, stats: probe.json.stats }));
        notes.push(
          `${c.name}: ${probe.json.stats.filesChanged} files, +${probe.json.stats.insertions} −${probe.json.stats.deletions}, ` +
            `GitDiffInfo ${formatBytes(diffBytes)}${diffBytes > 100 * 1024 ? " (over 100 KB: uploaded to S3 by the daemon)" : " (inline in the WebSocket reply)"}`,
        );

        const bare = await time(c.iterations, async () => {
          // What getDiff spawns: the metadata and the patch, side by side.
          await Promise.all([
            new Promise((r) => r(execFileSync("git", ["diff", "--no-color", "--find-renames", "--raw", "--numstat", "-z", c1, c2], { cwd: dir, maxBuffer: 256 * 1024 * 1024 }))),
            new Promise((r) => r(execFileSync("git", ["diff", "--no-color", "--find-renames", "--patch", c1, c2], { cwd: dir, maxBuffer: 256 * 1024 * 1024 }))),
          ]);
        });
        const parsed = await time(c.iterations, () => direct.getDiff(task.id, c1, c2));
        const relayed = await time(c.iterations, () => call("GET", diffPath));
        rows.push(row(`${c.name}: git diff (bare processes)`, bare));
        rows.push(row(`${c.name}: git diff → GitDiffInfo (daemon's work, direct)`, parsed));
        rows.push(row(`${c.name}: GET …/diff via API + gateway + daemon`, relayed));
        notes.push(
          `${c.name}: relay overhead at p50 ${formatNumber(percentile(relayed, 50) - percentile(parsed, 50), 1)} ms ` +
            `(${formatNumber(percentile(relayed, 50) / percentile(parsed, 50), 1)}× the direct diff)`,
        );
      }
      console.log("Round trip of a checkpoint diff, milliseconds (one run, same machine, same repositories)\n");
      printTable(["case", "n", "p50 ms", "p99 ms", "mean ms"], rows);
      console.log("");
      for (const n of notes) console.log(`- ${n}`);
      console.log(
        `- largest WebSocket message: daemon → gateway ${formatBytes(gateway.stats.maxInboundBytes)}, gateway → daemon ${formatBytes(gateway.stats.maxOutboundBytes)}`,
      );
      console.log("- the relay waits by polling the operation in DynamoDB (10 ms, then ×1.3 up to 100 ms), as the api Lambda does on AWS");
      writeBenchResult("relay", Object.fromEntries(rows.map((r) => [r[0]!, `p50 ${r[2]} ms, p99 ${r[3]} ms`])));
    } finally {
      await daemon.stop();
      await gateway.stop();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      rmSync(root, { recursive: true, force: true });
    }
  });
}

if (invokedDirectly(import.meta.url)) {
  runRelayBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
