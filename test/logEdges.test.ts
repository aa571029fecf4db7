import { beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { createTestDb } from "./support/env.js";
import { waitFor } from "./support/relay.js";
import * as store from "../core/store/index.js";
import { createDb } from "../core/store/db.js";
import { keys } from "../core/keys.js";
import { newId } from "../core/ids.js";
import type { NewConversationMessage, TaskRecord } from "../core/models.js";

let db: Awaited<ReturnType<typeof createTestDb>>;
const owner = "owner-log-edges";

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

describe("the conversation log at its edges: sealing under readers, large messages, a report committed by another append, forks", () => {
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

  it("a report whose batch another append committed is answered applied only once its report number is recorded", async () => {
    const task = await store.createTask(db, owner, { name: "slow report", plan: "p" });
    const stream = newId();
    // The daemon report's writer: its commit stalls until released (a Lambda paused), and the next
    // write after it fails once, as DynamoDB does now and then (throttled).
    const writer = createDb(db.config);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const transact = writer.table.transact.bind(writer.table);
    let stalled = false;
    writer.table.transact = async (items) => {
      if (!stalled) {
        stalled = true;
        await released;
      }
      return transact(items);
    };
    const update = writer.table.update.bind(writer.table);
    let failed = false;
    writer.table.update = async (key, input) => {
      if (!failed) {
        failed = true;
        throw Object.assign(new Error("Rate of requests exceeds the allowed throughput."), { name: "ThrottlingException" });
      }
      return update(key, input);
    };

    const report = store.appendMessages(writer, task, [{ id: "r1", role: "assistant", content: "from the daemon" }], { report: { stream, seq: 1 } });
    // The writer has taken its sequence number (and stalls before its commit).
    await waitFor(() => db.table.get(keys.logBatch(task.id, 1)), 10_000, "the writer's take");
    // Another append finds the batch left uncommitted and, after ABANDONED_AFTER_MS, commits it for its writer.
    await store.appendMessages(db, await reload(task), [{ id: "u1", role: "user", content: "from the user" }]);
    release();
    const outcome = await report.then(
      () => "applied",
      () => "failed",
    );
    const after = await reload(task);
    expect((await store.readWholeConversation(db, after.segments)).map((m) => m.id)).toEqual(["r1", "u1"]);
    // Answered applied (the daemon then drops report 1 for good), the task must have report 1 recorded;
    // otherwise report 2 is held as early forever.
    expect({ outcome, reportStream: outcome === "applied" ? after.reportStream : stream, reportSeq: outcome === "applied" ? after.reportSeq : 1 }).toEqual({
      outcome,
      reportStream: stream,
      reportSeq: 1,
    });
  }, 30_000);

  it("a fork skips a resent message id it already shows from its parent's log", async () => {
    const parent = await store.createTask(db, owner, { name: "parent", plan: "p" });
    await store.appendMessages(db, parent, [msg(1), msg(2), msg(3)]);
    const closed = await store.closeSegments(db, await reload(parent));
    const child = await store.createTask(db, owner, { name: "fork", plan: "p", forkedFromTaskId: parent.id, inheritedSegments: closed });
    // A resend of what the fork shows (its agent, or a client, replaying the conversation it was given).
    expect(await store.appendMessages(db, child, [msg(2), msg(4)])).toMatchObject({ appended: 1, skipped: 1 });
    const ids = (await store.readWholeConversation(db, (await reload(child)).segments)).map((m) => m.id);
    expect(ids).toEqual(["m1", "m2", "m3", "m4"]);
  });
});
