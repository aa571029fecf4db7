import { randomUUID } from "node:crypto";
import type { NewConversationMessage } from "../core/models.js";
import { createTask } from "../core/store/tasks.js";
import { appendMessages } from "../core/services/tasks.js";
import type { ServiceContext } from "../core/services/context.js";
import type { Relay } from "../core/relay.js";
import { createBenchDb, withEmulators, invokedDirectly } from "./support.js";

/**
 * Daemon reports: write units per appended 2 KB message, as the daemon sends
 * them (batches of up to 90 KB), with transactions costed as AWS charges them.
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

export async function runReportsBench(): Promise<void> {
  const wcu = await measureWriteUnits();
  console.log(`write units per appended 2 KB message: ${wcu.perMessage.toFixed(2)} (${wcu.batches} batches)`);
}

if (invokedDirectly(import.meta.url)) await runReportsBench();
