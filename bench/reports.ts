import { randomUUID } from "node:crypto";
import type { NewConversationMessage } from "../core/models.js";
import { createTask } from "../core/store/tasks.js";
import { appendMessages } from "../core/services/tasks.js";
import type { ServiceContext } from "../core/services/context.js";
import type { Relay } from "../core/relay.js";
import { createBenchDb, withEmulators, invokedDirectly, seededRandom, writeBenchResult } from "./support.js";
import { createRuntime } from "../core/runtime.js";
import { freePort } from "../stacks/local/emulators.js";
import { startWsGateway } from "../stacks/local/gateway.js";
import { createApiKey, createOwner } from "../core/store/owners.js";
import { runReports, type AgentKind, type ReportsOutcome } from "../test/support/reportsRun.js";
import { removeTempDirs } from "../test/support/git.js";

/**
 * Daemon reports. A real daemon and an agent that never waits for it
 * (it prints as fast as it can and commits as it goes) through the local
 * gateway: 1,000 messages and 20 commits on a clean network (throughput),
 * the same with an agent whose output is buffered, then 3,000 messages and
 * one commit (the rate of messages alone), then the first run
 * again in the gateway's chaos mode with a daemon restart (what was lost,
 * duplicated, reordered, which checkpoints came short); then write units per appended
 * 2 KB message, as the daemon sends them (batches of up to 90 KB), with
 * transactions costed as AWS charges them.
 */

const OWNER = "bench-reports-owner";
const MESSAGE_BYTES = 2048;
const BATCH_BYTES = 90 * 1024;

function text(i: number, bytes: number): string {
  const words = ["the", "daemon", "reports", "each", "message", "in", "order", "through", "its", "outbox", "and", "server", "acknowledges", "commit", "checkpoint", "snapshot"];
  let out = `message ${i}:`;
  let n = i;
  while (out.length < bytes) {
    n = (n * 1103515245 + 12345) % 2147483648;
    out += ` ${words[n % words.length]}${n % 7 === 0 ? ` ${n % 1000}` : ""}`;
  }
  return out.slice(0, bytes);
}

export async function measureWriteUnits(count = 450): Promise<{ perMessage: number; batches: number }> {
  return withEmulators(async (emulators) => {
    const db = await createBenchDb(emulators, "reports-wcu");
    const task = await createTask(db, OWNER, { name: "reports bench", plan: "append" });
    const ctx: ServiceContext = { db, relay: {} as Relay, principal: { ownerId: OWNER, via: "daemon", keyId: "bench" } };
    const messages: NewConversationMessage[] = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      role: "assistant" as const,
      content: text(i, MESSAGE_BYTES - 120),
      timestamp: new Date().toISOString(),
    }));
    let batch: NewConversationMessage[] = [];
    let bytes = 0;
    let batches = 0;
    db.meter.reset();
    const before = db.table.modelledWrite;
    for (const m of messages) {
      const size = Buffer.byteLength(JSON.stringify(m));
      if (batch.length === 100 || bytes + size > BATCH_BYTES) {
        await appendMessages(ctx, task.id, batch);
        batches++;
        batch = [];
        bytes = 0;
      }
      batch.push(m);
      bytes += size;
    }
    if (batch.length) {
      await appendMessages(ctx, task.id, batch);
      batches++;
    }
    return { perMessage: (db.table.modelledWrite - before) / count, batches };
  });
}

async function throughTheGateway(chaos: boolean, messages = 1000, commits = 20, agent: AgentKind = "fast"): Promise<ReportsOutcome> {
  return withEmulators(async (emulators) => {
    const port = await freePort();
    const db = await createBenchDb(emulators, `reports-${chaos ? "chaos" : "clean"}-${commits}`, { wsManagementEndpoint: `http://127.0.0.1:${port}` });
    const runtime = createRuntime(db.config, { db });
    const gateway = await startWsGateway(runtime, { port, log: () => undefined });
    try {
      const owner = await createOwner(db, "bench");
      const daemonKey = (await createApiKey(db, owner.id, { kind: "daemon" })).key;
      return await runReports({
        runtime,
        gateway,
        ownerId: owner.id,
        daemonKey,
        messages,
        commits,
        agent,
        restart: chaos,
        chaos: chaos
          ? { dropInbound: 0.05, duplicateInbound: 0.1, maxDelayMs: 30, dropOutbound: 0.05, closeConnection: 0.01, random: seededRandom(2026) }
          : undefined,
        timeoutMs: 600_000,
      });
    } finally {
      await gateway.stop();
      removeTempDirs();
    }
  });
}

export async function runReportsBench(): Promise<void> {
  const clean = await throughTheGateway(false);
  console.log(`clean network: 1,000 messages, 20 commits, an agent that never waits`);
  console.log(`  lost: ${clean.lost}, duplicated: ${clean.duplicated}, reordered: ${clean.reordered}, short checkpoints: ${clean.shortCheckpoints}`);
  console.log(`messages/s with 20 commits: ${Math.round(clean.messagesPerSecond)}`);
  const buffered = await throughTheGateway(false, 1000, 20, "buffered");
  console.log(`buffered agent: lost: ${buffered.lost}, duplicated: ${buffered.duplicated}, reordered: ${buffered.reordered}, short checkpoints: ${buffered.shortCheckpoints}`);
  // The same daemon with an agent that commits once: the rate messages alone are stored at.
  const stream = await throughTheGateway(false, 3000, 1);
  console.log(`messages/s with one commit in 3,000 messages: ${Math.round(stream.messagesPerSecond)} (lost: ${stream.lost}, duplicated: ${stream.duplicated}, reordered: ${stream.reordered})`);
  const chaos = await throughTheGateway(true);
  console.log(`\nchaos (5% of frames and acknowledgements dropped, 10% duplicated, delays up to 30 ms, connections cut, daemon restarted with ${chaos.pendingAtRestart} reports unacknowledged):`);
  console.log(`lost: ${chaos.lost}`);
  console.log(`duplicated: ${chaos.duplicated}`);
  console.log(`reordered: ${chaos.reordered}`);
  console.log(`short checkpoints: ${chaos.shortCheckpoints}`);
  console.log(`messages/s under chaos: ${Math.round(chaos.messagesPerSecond)}`);
  console.log("");
  const wcu = await measureWriteUnits();
  console.log(`write units per appended 2 KB message: ${wcu.perMessage.toFixed(2)} (${wcu.batches} batches)`);
  writeBenchResult("reports", {
    "messages/s with 20 commits": Math.round(clean.messagesPerSecond),
    "messages/s with one commit": Math.round(stream.messagesPerSecond),
    "messages/s under chaos": Math.round(chaos.messagesPerSecond),
    "lost, duplicated, reordered, short (all runs)": [clean, buffered, stream, chaos].reduce((n, r) => n + r.lost + r.duplicated + r.reordered + r.shortCheckpoints, 0),
    "write units per appended 2 KB message": Number(wcu.perMessage.toFixed(2)),
  });
}

if (invokedDirectly(import.meta.url)) await runReportsBench();
