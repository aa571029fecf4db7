import { beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import { createDb } from "../core/store/db.js";
import type { NewConversationMessage, TaskRecord } from "../core/models.js";

let db: Awaited<ReturnType<typeof createTestDb>>;
const owner = "owner-review";

beforeAll(async () => {
  db = await createTestDb();
});

const msg = (i: number): NewConversationMessage => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", content: `message ${i}` });
const reload = async (task: TaskRecord) => (await store.getTaskRecord(db, owner, task.id))!;

async function appendRange(task: TaskRecord, from: number, to: number) {
  for (let i = from; i <= to; i += 20) {
    await store.appendMessages(db, await reload(task), Array.from({ length: Math.min(20, to - i + 1) }, (_, k) => msg(i + k)));
  }
}

describe("the conversation log under review", () => {
  it("a reader walking the log while a stretch is sealed under it sees each message once", async () => {
    let task = await store.createTask(db, owner, { name: "read while sealing", plan: "p" });
    // 699 messages: one short of the sealing threshold, so nothing is sealed yet.
    await appendRange(task, 1, 699);
    task = await reload(task);
    expect(task.sealedTo ?? 0).toBe(0);

    const closed = await store.closeSegments(db, task);
    const entries = store.logEntries(db, closed);
    const seqs: number[] = [];
    const first = await entries.next();
    seqs.push(first.value!.seq);
    // Another append's sealer folds the oldest batches (the one being read among them) into a chunk.
    expect(await store.sealStretch(db, task, 1, 699)).toBe(true);
    for await (const entry of entries) seqs.push(entry.seq);

    expect(seqs).toEqual(Array.from({ length: 699 }, (_, k) => k + 1));
  });

  it("a reader that read a batch item before it was sealed still reads its messages after the sweep removed the batch's own S3 object", async () => {
    let task = await store.createTask(db, owner, { name: "big batches", plan: "p" });
    // Incompressible messages: each batch of 20 passes INLINE_BATCH_BYTES and is written to S3.
    const big = (i: number): NewConversationMessage => ({ id: `b${i}`, role: "assistant", content: randomBytes(600).toString("hex") });
    for (let i = 1; i <= 699; i += 20) {
      await store.appendMessages(db, await reload(task), Array.from({ length: Math.min(20, 699 - i + 1) }, (_, k) => big(i + k)));
    }
    task = await reload(task);
    const prefix = `logs/${owner}/${task.id}/`;
    expect((await db.blobs.list(prefix)).objects).toHaveLength(35);

    const closed = await store.closeSegments(db, task);
    const entries = store.logEntries(db, closed);
    const seqs: number[] = [];
    // The reader is on its second query of log items (21 onwards), its S3 reads a few items ahead.
    for (let k = 0; k < 21; k++) seqs.push((await entries.next()).value!.seq);

    // Another Lambda seals 1..500; the cleanup sweep then judges the batches' objects, all appended long
    // before (past the sweep's grace), as sweepPage does: those no item names any more are deleted.
    const other = createDb(db.config);
    expect(await store.sealStretch(other, task, 1, 699)).toBe(true);
    const objects = (await other.blobs.list(prefix)).objects.map((o) => o.key);
    const orphans = await store.unreferencedLogChunks(other, objects);
    expect(orphans.length).toBeGreaterThan(0);
    await other.blobs.deleteMany(orphans);

    let failure: unknown;
    try {
      for await (const entry of entries) seqs.push(entry.seq);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeUndefined();
    expect(new Set(seqs).size).toBe(699);
  });

  it("sealing a log of large messages keeps each S3 chunk within what a reader holds in memory (~1 MB)", async () => {
    let task = await store.createTask(db, owner, { name: "large messages", plan: "p" });
    // 8 KB tool results that do not compress much: 720 of them cross the sealing threshold.
    const large = (i: number): NewConversationMessage => ({ id: `l${i}`, role: "tool", content: "result", toolResult: randomBytes(4096).toString("hex") });
    for (let i = 1; i <= 720; i += 20) {
      await store.appendMessages(db, await reload(task), Array.from({ length: 20 }, (_, k) => large(i + k)));
    }
    task = await reload(task);
    expect(task.sealedTo ?? 0).toBeGreaterThan(0);
    const objects = (await db.blobs.list(`logs/${owner}/${task.id}/`)).objects;
    const largest = Math.max(...objects.map((o) => o.size));
    expect(largest).toBeLessThanOrEqual(1024 * 1024);
  });
});
