import { gzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import { keys } from "../core/keys.js";
import type { NewConversationMessage, TaskRecord } from "../core/models.js";

let db: Awaited<ReturnType<typeof createTestDb>>;
const owner = "owner-seal";

beforeAll(async () => {
  db = await createTestDb();
});

const msg = (i: number): NewConversationMessage => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", content: `message ${i} ${"text ".repeat(i % 7)}` });
const reload = async (task: TaskRecord) => (await store.getTaskRecord(db, owner, task.id))!;

/** Appends messages from..to (inclusive) in batches of 20, as a daemon would. */
async function appendRange(task: TaskRecord, from: number, to: number) {
  for (let i = from; i <= to; i += 20) {
    await store.appendMessages(db, await reload(task), Array.from({ length: Math.min(20, to - i + 1) }, (_, k) => msg(i + k)));
  }
}

async function readIds(segments: TaskRecord["segments"]) {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.readConversation(db, segments, { scope: "seal", limit: 200, cursor });
    ids.push(...page.items.map((m) => m.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => `m${from + k}`);

async function logItems(taskId: string) {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :m)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":m": keys.logBatchPrefix },
  });
  return items.map((i) => store.LogItem.parse(i));
}

describe("sealed stretches of the log", () => {
  it("move to S3 chunks as the log grows; reading, lookups, time cuts, snapshots and forks work across them", async () => {
    let task = await store.createTask(db, owner, { name: "long", plan: "p" });
    await appendRange(task, 1, 600);
    task = await reload(task);
    const before = await store.createSnapshot(db, task, { snapshotType: "manual" });
    expect(task.sealedTo ?? 0).toBe(0);

    await appendRange(task, 601, 1300);
    task = await reload(task);
    // Two stretches of 500, the newest 300 still in items.
    expect(task.sealedTo).toBe(1000);
    const items = await logItems(task.id);
    expect(items.filter((i) => i.kind === "sealed").map((i) => [i.seq, i.last])).toEqual([[1, 500], [501, 1000]]);
    expect(items.filter((i) => i.kind === "tombstone")).toHaveLength(48);
    expect(items.filter((i) => i.kind === "batch").map((i) => i.seq)).toEqual(Array.from({ length: 15 }, (_, k) => 1001 + k * 20));
    const chunks = await db.blobs.list(`logs/${owner}/${task.id}/`);
    expect(chunks.objects).toHaveLength(2);
    // Kept for good, so brotli: smaller than the same stretch as gzip.
    for (const chunk of chunks.objects) {
      expect(chunk.key).toMatch(/\.json\.br$/);
      expect(chunk.size).toBeLessThan(gzipSync(JSON.stringify(await db.blobs.getJson(chunk.key))).length);
    }

    // The whole conversation, in order; one S3 GET per sealed stretch.
    const gets = db.blobs.stats.gets;
    expect(await readIds(task.segments)).toEqual(range(1, 1300));
    expect(db.blobs.stats.gets - gets).toBe(2);
    // The chain still verifies, and a snapshot taken before sealing still proves its prefix.
    expect(await store.verifyLog(db, task.id)).toEqual({ messages: 1300, ok: true });
    expect(await store.contentHashOf(db, before.segments)).toBe(before.contentHash);
    expect(await readIds(before.segments)).toEqual(range(1, 600));

    // Lookup by id, position and time cuts inside a sealed stretch.
    expect((await store.getWholeMessage(db, task, "m250")).content).toBe(msg(250).content);
    const closed = await store.closeSegments(db, task);
    expect(await store.positionOfMessage(db, closed, "m777")).toBe(777);
    const at = await store.timestampAt(db, closed, 321);
    expect(await store.countUpTo(db, closed, at!)).toBeGreaterThanOrEqual(321);

    // A fork from inside a sealed stretch shares it by reference.
    const child = await store.createTask(db, owner, { name: "fork", plan: "p", forkedFromTaskId: task.id, inheritedSegments: store.clipSegments(closed, 250) });
    await store.appendMessages(db, child, [msg(5000)]);
    expect(await readIds((await store.getTaskRecord(db, owner, child.id))!.segments)).toEqual([...range(1, 250), "m5000"]);

    // A resend of a sealed message is still recognised.
    expect(await store.appendMessages(db, task, [msg(42), msg(1301)])).toMatchObject({ appended: 1, skipped: 1 });

    // No append can ever write into a sealed stretch: every batch's key is still taken.
    for (const seq of [1, 21, 481, 501]) expect(await db.table.putNew({ ...keys.logBatch(task.id, seq), seq, last: seq })).toBe(false);
  });

  it("a sealer that stops half way leaves the log readable, and the next one finishes", async () => {
    let task = await store.createTask(db, owner, { name: "interrupted", plan: "p" });
    await appendRange(task, 1, 680);
    task = await reload(task);
    expect(task.sealedTo ?? 0).toBe(0);
    // A sealer that stops after writing the stretch's index item (no tombstones, sealedTo unmoved).
    const stopped = { ...db, table: Object.assign(Object.create(db.table) as typeof db.table, { batchWrite: () => Promise.reject(new Error("injected: sealer stopped")) }) };
    await expect(store.sealStretch(stopped, task, 1, 500)).rejects.toThrow(/injected/);
    expect((await logItems(task.id)).filter((i) => i.kind === "sealed").map((i) => [i.seq, i.last])).toEqual([[1, 500]]);
    expect(await readIds(task.segments)).toEqual(range(1, 680));
    expect(await store.verifyLog(db, task.id)).toMatchObject({ ok: true });

    // The next append that finds sealing due finishes that stretch first.
    await appendRange(task, 681, 700);
    task = await reload(task);
    expect(task.sealedTo).toBe(500);
    const items = await logItems(task.id);
    expect(items.filter((i) => i.kind === "tombstone" && i.sealedInto === 1)).toHaveLength(24);
    expect(await readIds(task.segments)).toEqual(range(1, 700));
    expect(await store.verifyLog(db, task.id)).toMatchObject({ ok: true, messages: 700 });
  });

  it("a reader that read batches just before they were sealed and their objects swept still reads every message", async () => {
    let task = await store.createTask(db, owner, { name: "read while sealing", plan: "p" });
    // Incompressible messages: every batch of 20 goes to S3 on its own.
    const random = (i: number): NewConversationMessage => ({ id: `r${i}`, role: "assistant", content: randomBytes(400).toString("base64") });
    for (let i = 1; i <= 680; i += 20) await store.appendMessages(db, await reload(task), Array.from({ length: 20 }, (_, k) => random(i + k)));
    task = await reload(task);
    expect((await logItems(task.id)).every((i) => i.kind === "batchInS3")).toBe(true);
    // Between the reader's query and its S3 reads, a sealer folds the first 500 and the sweep removes their objects.
    let struck = false;
    const racing = {
      ...db,
      table: Object.assign(Object.create(db.table) as typeof db.table, {
        query: async (input: Parameters<typeof db.table.query>[0]) => {
          const out = await db.table.query(input);
          if (!struck && out.items.length > 1) {
            struck = true;
            await store.sealStretch(db, task, 1, 500);
            const { objects } = await db.blobs.list(`logs/${owner}/${task.id}/`);
            await db.blobs.deleteMany(await store.unreferencedLogChunks(db, objects.map((o) => o.key)));
          }
          return out;
        },
      }),
    };
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.readConversation(racing, task.segments, { scope: "race", limit: 200, cursor });
      ids.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(struck).toBe(true);
    expect(ids).toEqual(Array.from({ length: 680 }, (_, k) => `r${k + 1}`));
  });
});
