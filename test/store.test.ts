import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import { keys, shardOf, TIMELINE_SHARDS } from "../core/keys.js";
import type { Table } from "../core/store/table.js";
import { DomainError } from "../core/errors.js";
import { decodeLogItem } from "../core/store/logBatch.js";
import { snapshotItem } from "../core/store/snapshots.js";
import { chatEvent } from "../core/services/taskEvents.js";
import { checkpointCreatedEvent } from "../core/services/checkpoints.js";
import { ConversationMessage, type HistoryEvent, type NewConversationMessage, type TaskRecord } from "../core/models.js";

let db: Awaited<ReturnType<typeof createTestDb>>;
const alice = "owner-alice";
const bob = "owner-bob";

beforeAll(async () => {
  db = await createTestDb();
});

const msg = (i: number, extra: Partial<NewConversationMessage> = {}): NewConversationMessage => ({
  id: `m${i}`,
  role: i % 2 ? "assistant" : "user",
  content: `message ${i}`,
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  ...extra,
});

async function newTask(owner = alice, extra: Partial<store.NewTask> = {}) {
  return store.createTask(db, owner, { name: "t", plan: "p", ...extra });
}

async function reload(task: TaskRecord) {
  return (await store.getTaskRecord(db, task.ownerId, task.id))!;
}

async function readAll(segments: TaskRecord["segments"], limit = 200) {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.readConversation(db, segments, { scope: "t", limit, cursor });
    ids.push(...page.items.map((m) => m.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

/** Every page of a history listing, from the first (no cursor) to the last. */
async function allPages(list: (cursor?: string) => Promise<{ items: HistoryEvent[]; nextCursor: string | null }>): Promise<HistoryEvent[][]> {
  const pages: HistoryEvent[][] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    pages.push(page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return pages;
}

/** The table, failing its n-th transaction (counting from 1) as DynamoDB would with an internal error. */
function failingTransaction(table: Table, n: number): Table {
  let calls = 0;
  const faulty = Object.create(table) as Table;
  faulty.transact = async (items) => {
    if (++calls === n) throw Object.assign(new Error("injected: InternalServerError"), { name: "InternalServerError" });
    return table.transact(items);
  };
  return faulty;
}

/** The log's batch items (not tombstones) and the ids of every message stored in the task's own log, committed or not. */
async function logOf(taskId: string) {
  const batches = (await itemsInPartition(keys.taskPartition(taskId))).filter((i) => String(i.sk).startsWith("MSG#") && i.sealedInto === undefined);
  const ids: string[] = [];
  for (const item of batches) ids.push(...(await decodeLogItem(db, taskId, item)).messages.map((m) => m.id));
  return { batches, ids };
}

async function itemsInPartition(pk: string) {
  const { items } = await db.table.query({ KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": pk } });
  return items;
}

describe("contracts", () => {
  it("creates, reads, lists newest first and hides other owners' contracts", async () => {
    const owner = `owner-${Math.random()}`;
    const a = await store.createContract(db, owner, { name: "a" });
    const b = await store.createContract(db, owner, { name: "b", phase: "plan" });
    expect(a.phase).toBe("research");
    expect(b.phase).toBe("plan");
    expect(await store.getContract(db, owner, a.id)).toEqual(a);
    expect(await store.getContract(db, bob, a.id)).toBeUndefined();
    const page = await store.listContracts(db, owner, 50);
    expect(page.items.map((c) => c.name)).toEqual(["b", "a"]);
    expect(page.nextCursor).toBeNull();
    expect((await store.listContracts(db, bob, 50)).items).toEqual([]);
  });

  it("paginates: empty, exactly one page, and a last page", async () => {
    const owner = `owner-${Math.random()}`;
    expect(await store.listContracts(db, owner, 3)).toEqual({ items: [], nextCursor: null });
    for (const n of ["1", "2", "3"]) await store.createContract(db, owner, { name: n });
    const exact = await store.listContracts(db, owner, 3);
    expect(exact.items.map((c) => c.name)).toEqual(["3", "2", "1"]);
    expect(exact.nextCursor).toBeNull();
    await store.createContract(db, owner, { name: "4" });
    const first = await store.listContracts(db, owner, 3);
    expect(first.items.map((c) => c.name)).toEqual(["4", "3", "2"]);
    const last = await store.listContracts(db, owner, 3, first.nextCursor!);
    expect(last.items.map((c) => c.name)).toEqual(["1"]);
    expect(last.nextCursor).toBeNull();
  });

  it("refuses a cursor from another list, a tampered one, and a stale update", async () => {
    const owner = `owner-${Math.random()}`;
    for (const n of ["1", "2"]) await store.createContract(db, owner, { name: n });
    const { nextCursor } = await store.listContracts(db, owner, 1);
    await expect(store.listApiKeys(db, owner, 1, nextCursor!)).rejects.toMatchObject({ status: 400 });
    await expect(store.listContracts(db, bob, 1, nextCursor!)).rejects.toMatchObject({ status: 400 });
    const tampered = nextCursor!.replace(/^./, (c) => (c === "e" ? "f" : "e"));
    await expect(store.listContracts(db, owner, 1, tampered)).rejects.toThrow(DomainError);
    const c = await store.createContract(db, owner, { name: "x" });
    await store.updateContract(db, c, { phase: "plan" });
    await expect(store.updateContract(db, c, { phase: "execute" })).rejects.toMatchObject({ status: 409 });
    expect((await store.getContract(db, owner, c.id))!.phase).toBe("plan");
  });
});

describe("api keys", () => {
  it("stores only a hash, authenticates, lists without secrets, revokes", async () => {
    const key = await store.createApiKey(db, alice, { kind: "api", name: "laptop" });
    expect(key.key).toMatch(/^mk_/);
    const items = await itemsInPartition(keys.apiKey("x").pk.replace("x", "") + "");
    expect(JSON.stringify(items)).not.toContain(key.key);
    expect((await store.authenticateKey(db, key.key))?.id).toBe(key.id);
    expect(await store.authenticateKey(db, key.key + "x")).toBeUndefined();
    const listed = await store.listApiKeys(db, alice, 200);
    expect(listed.items.find((k) => k.id === key.id)).toEqual({
      id: key.id, ownerId: alice, kind: "api", name: "laptop", createdAt: key.createdAt,
    });
    await expect(store.revokeApiKey(db, bob, key.id)).rejects.toMatchObject({ status: 404 });
    await store.revokeApiKey(db, alice, key.id);
    expect(await store.authenticateKey(db, key.key)).toBeUndefined();
    const tool = await store.createApiKey(db, alice, { kind: "tool", contractId: "0190a6b0-0000-7000-8000-000000000000" });
    expect(tool.key).toMatch(/^mkt_/);
    expect((await store.createApiKey(db, alice, { kind: "daemon" })).key).toMatch(/^mkd_/);
  });
});

describe("conversation log", () => {
  it("appends in order, assigns ids and timestamps, counts visible messages", async () => {
    const task = await newTask();
    const out = await store.appendMessages(db, task, [msg(1), { role: "user", content: "no id" }]);
    expect(out).toMatchObject({ appended: 2, skipped: 0 });
    const page = await store.readConversation(db, (await reload(task)).segments, { scope: "x", limit: 50 });
    expect(page.items.map((m) => m.content)).toEqual(["message 1", "no id"]);
    expect(page.items[1]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(store.toTask(await reload(task)).messageCount).toBe(2);
  });

  it("50 concurrent appenders produce a gapless, duplicate-free sequence", async () => {
    const task = await newTask();
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.appendMessages(db, task, [msg(i)])));
    const { batches, ids } = await logOf(task.id);
    expect(batches.map((i) => i.seq).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(ids).size).toBe(50);
    expect(ids).toHaveLength(50);
    expect((await reload(task)).lastSeq).toBe(50);
    expect(store.toTask(await reload(task)).messageCount).toBe(50);
  });

  it("a batch whose writer died after taking its sequence numbers is committed by the next append, whole, once", async () => {
    const task = await newTask();
    const event = chatEvent(task, undefined);
    await store.appendMessages(db, task, [msg(1)], { event });
    // A writer takes 2..4 and dies before its commit: nothing of it is visible.
    const dead = [2, 3, 4].map((i) => ConversationMessage.parse(msg(i)));
    const taken = store.newBatch(task, 2, (await reload(task)).lastChain!, dead, new Date().toISOString());
    expect(await db.table.putNew(taken.item)).toBe(true);
    expect(await readAll((await reload(task)).segments)).toEqual(["m1"]);
    // The next append finds the sequence number taken, waits for its writer a while, then commits it before its own.
    const out = await store.appendMessages(db, await reload(task), [msg(5), msg(3)], { event });
    expect(out).toMatchObject({ appended: 1, skipped: 1 });
    expect(await readAll((await reload(task)).segments)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    expect(await store.verifyLog(db, task.id)).toEqual({ messages: 5, ok: true });
    const chat = (await store.taskHistory(db, await reload(task), { limit: 10 })).items.map((e) => e.eventData.count).sort();
    expect(chat).toEqual([1, 1, 3]);
  });

  it("a transaction that fails mid-append leaves the log, the count and the chat events agreeing", async () => {
    const task = await newTask();
    const event = chatEvent(task, undefined);
    await store.appendMessages(db, task, Array.from({ length: 20 }, (_, i) => msg(i)), { event });
    // The commit of the next batch fails, as a DynamoDB error would make it: the batch it took is taken back.
    const faulty = { ...db, table: failingTransaction(db.table, 1) };
    await expect(store.appendMessages(faulty, task, Array.from({ length: 150 }, (_, i) => msg(i)), { event })).rejects.toThrow(/injected/);
    const count = store.toTask(await reload(task)).messageCount;
    expect(count).toBe(20);
    expect((await logOf(task.id)).ids).toHaveLength(20);
    const chat = (await store.taskHistory(db, await reload(task), { limit: 100 })).items.reduce((n, e) => n + Number(e.eventData.count), 0);
    expect(chat).toBe(count);
    // The rest arrives on a retry, each message once; the log stays gapless.
    await store.appendMessages(db, await reload(task), Array.from({ length: 150 }, (_, i) => msg(i)), { event });
    expect(await readAll((await reload(task)).segments)).toEqual(Array.from({ length: 150 }, (_, i) => `m${i}`));
    expect((await store.taskHistory(db, await reload(task), { limit: 100 })).items.reduce((n, e) => n + Number(e.eventData.count), 0)).toBe(150);
  });

  it("concurrent appends of several transactions each interleave only as whole batches", async () => {
    const task = await newTask();
    const batches = [0, 1, 2].map((b) => Array.from({ length: 120 }, (_, i) => msg(b * 1000 + i)));
    await Promise.all(batches.map((batch) => store.appendMessages(db, task, batch)));
    const ids = await readAll((await reload(task)).segments);
    expect(ids).toHaveLength(360);
    const runs = [0, 120, 240].map((at) => ids.slice(at, at + 120).map((id) => Math.floor(Number(id.slice(1)) / 1000)));
    for (const run of runs) expect(new Set(run).size).toBe(1);
  });

  it("applies a daemon report once and only after the one before it", async () => {
    const task = await newTask();
    const stream = "stream-a";
    await expect(store.appendMessages(db, task, [msg(2)], { report: { stream, seq: 2 } })).rejects.toBeInstanceOf(store.ReportOutOfOrder);
    await store.appendMessages(db, task, [msg(1)], { report: { stream, seq: 1 } });
    await store.appendMessages(db, task, [msg(2)], { report: { stream, seq: 2 } });
    await expect(store.appendMessages(db, task, [msg(1)], { report: { stream, seq: 1 } })).rejects.toBeInstanceOf(store.ReportOutOfOrder);
    await expect(store.appendMessages(db, task, [msg(9)], { report: { stream, seq: 2 } })).rejects.toBeInstanceOf(store.ReportOutOfOrder);
    expect(await readAll((await reload(task)).segments)).toEqual(["m1", "m2"]);
    expect(await reload(task)).toMatchObject({ reportStream: stream, reportSeq: 2 });
  });

  it("lets a newer report stream take over, and never a late report 1 of an older one", async () => {
    const task = await newTask();
    // Stream ids are UUIDv7: they sort by when the daemon opened them.
    const older = "0192f0c0-0000-7000-8000-000000000000";
    const newer = "0192f0c0-0001-7000-8000-000000000000";
    await store.appendMessages(db, task, [msg(1)], { report: { stream: newer, seq: 1 } });
    await expect(store.appendMessages(db, task, [msg(2)], { report: { stream: older, seq: 1 } })).rejects.toBeInstanceOf(store.ReportOutOfOrder);
    expect(await reload(task)).toMatchObject({ reportStream: newer, reportSeq: 1 });
    expect(await readAll((await reload(task)).segments)).toEqual(["m1"]);
  });

  it("appends a resent message id once and refuses a batch that repeats an id", async () => {
    const task = await newTask();
    await store.appendMessages(db, task, [msg(1), msg(2)]);
    const again = await store.appendMessages(db, task, [msg(2), msg(3)]);
    expect(again).toMatchObject({ appended: 1, skipped: 1 });
    expect(await readAll((await reload(task)).segments)).toEqual(["m1", "m2", "m3"]);
    await expect(store.appendMessages(db, task, [msg(4), msg(4)])).rejects.toMatchObject({
      status: 400,
      details: [{ path: "messages.1.id" }],
    });
    expect(await readAll((await reload(task)).segments)).toEqual(["m1", "m2", "m3"]);
  });

  it("stores a message once when the same batch is sent twice at the same moment", async () => {
    const task = await newTask();
    const batch = [10, 11, 12, 13, 14, 15].map((i) => msg(i));
    const results = await Promise.all([1, 2, 3].map(() => store.appendMessages(db, task, batch)));
    expect(results.reduce((n, r) => n + r.appended, 0)).toBe(6);
    const { batches, ids } = await logOf(task.id);
    expect(batches.map((i) => [i.seq, i.last])).toEqual([[1, 6]]);
    expect(ids).toEqual(batch.map((m) => m.id));
  });

  it("moves a batch too large for an item to S3 in the log's one codec, pages it truncated, returns it whole by id", async () => {
    const task = await newTask();
    const big = randomBytes(1024 * 1024).toString("base64");
    await store.appendMessages(db, task, [msg(1, { role: "tool", toolName: "read", toolResult: big })]);
    const { batches } = await logOf(task.id);
    expect(batches[0]!.kind).toBe("batchInS3");
    expect(batches[0]!.chunkKey).toMatch(new RegExp(`^logs/${alice}/${task.id}/0000000001-[\\w-]+\\.json\\.br$`));
    expect(batches[0]!.body).toBeUndefined();
    const objects = await db.blobs.list(`logs/${alice}/${task.id}/`);
    expect(objects.objects.map((o) => o.key)).toEqual([batches[0]!.chunkKey]);
    const page = await store.readConversation(db, (await reload(task)).segments, { scope: "x", limit: 10 });
    expect(page.items[0]!.truncated).toBe(true);
    expect(page.items[0]!.toolResult!.length).toBe(store.PAGE_FIELD_CHARS);
    const whole = await store.getWholeMessage(db, await reload(task), "m1");
    expect(whole.toolResult).toBe(big);
    expect(whole.truncated).toBeUndefined();
  });

  it("keeps a page under 1 MB and continues with a cursor", async () => {
    const task = await newTask();
    const batch = Array.from({ length: 90 }, (_, i) => msg(i, { content: "c".repeat(15_000), toolResult: "r".repeat(15_000) }));
    await store.appendMessages(db, task, batch);
    const segments = (await reload(task)).segments;
    const first = await store.readConversation(db, segments, { scope: "x", limit: 200 });
    expect(Buffer.byteLength(JSON.stringify(first))).toBeLessThan(1024 * 1024);
    expect(first.items.length).toBeLessThan(90);
    expect(first.nextCursor).not.toBeNull();
    expect(await readAll(segments)).toEqual(batch.map((m) => m.id));
  });

  it("strips tool calls and results on request", async () => {
    const task = await newTask();
    await store.appendMessages(db, task, [
      msg(1, { toolCalls: [{ id: "c1", name: "bash", input: { cmd: "ls" } }], toolName: "bash", toolInput: { cmd: "ls" } }),
      msg(2, { role: "tool", toolResult: "a b" }),
    ]);
    const segments = (await reload(task)).segments;
    const none = await store.readConversation(db, segments, { scope: "x", limit: 10, includeToolCalls: false, includeToolResults: false });
    expect(none.items[0]).not.toHaveProperty("toolCalls");
    expect(none.items[0]).not.toHaveProperty("toolInput");
    expect(none.items[1]).not.toHaveProperty("toolResult");
    const all = await store.readConversation(db, segments, { scope: "x", limit: 10 });
    expect(all.items[0]!.toolCalls).toEqual([{ id: "c1", name: "bash", input: { cmd: "ls" } }]);
    expect(all.items[1]!.toolResult).toBe("a b");
  });
});

describe("snapshots", () => {
  it("name an exact log prefix that survives later appends and rewinds", async () => {
    let task = await newTask();
    await store.appendMessages(db, task, [1, 2, 3, 4].map((i) => msg(i)));
    task = await reload(task);
    const snap = await store.createSnapshot(db, task, { snapshotType: "manual", metadata: { why: "before risky step" } });
    expect(snap.messageCount).toBe(4);
    expect(snap.contentHash).toMatch(/^[0-9a-f]{64}$/);
    await store.appendMessages(db, task, [msg(5), msg(6)]);
    task = await reload(task);
    await store.rewindConversation(db, task, 2, "test");
    task = await reload(task);
    await store.appendMessages(db, task, [msg(7)]);
    task = await reload(task);
    expect(await readAll(task.segments)).toEqual(["m1", "m2", "m7"]);
    const stored = await store.getSnapshot(db, task, snap.id);
    expect(await readAll(stored.segments)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(await store.contentHashOf(db, stored.segments)).toBe(snap.contentHash);
    // The record is small: no message bodies.
    const item = await db.table.get(keys.snapshot(task.id, snap.id));
    expect(JSON.stringify(item)).not.toContain("message 1");
  });

  it("list newest first, pin out of the expiry index and back", async () => {
    const task = await newTask();
    const a = await store.createSnapshot(db, task, { snapshotType: "auto" });
    const b = await store.createSnapshot(db, task, { snapshotType: "manual" });
    expect((await store.listSnapshots(db, task, 10)).items.map((s) => s.id)).toEqual([b.id, a.id]);
    const pinned = await store.setPinned(db, task, a.id, true);
    expect(pinned.pinned).toBe(true);
    const raw = await db.table.get(keys.snapshot(task.id, a.id));
    expect(raw).not.toHaveProperty("gsi3pk");
    expect(raw).not.toHaveProperty("expiresAt");
    const unpinned = await store.setPinned(db, task, a.id, false);
    expect(unpinned.pinned).toBe(false);
    const indexed = (await db.table.get(keys.snapshot(task.id, a.id)))!;
    expect(indexed.gsi3pk).toMatch(/^EXPIRES#S\d+$/);
    expect(indexed.gsi3sk).toBe(`${unpinned.expiresOn}#${task.id}#${a.id}`);
    // Unpinned long after it would have expired: it expires today, not on a day the cleanup job has passed.
    const later = new Date(Date.now() + 400 * 86_400_000);
    const late = await store.setPinned({ ...db, clock: () => later }, task, b.id, false);
    expect(late.expiresOn).toBe(later.toISOString().slice(0, 10));
    const other = await newTask(bob);
    await expect(store.getSnapshot(db, other, a.id)).rejects.toMatchObject({ status: 404 });
  });

  it("stores a supervisor's state in S3 and nothing else", async () => {
    const task = await newTask();
    const snap = await store.createSnapshot(db, task, { snapshotType: "auto", state: { compacted: "summary" } });
    expect(snap.stateBlobKey).toBe(`snapshots/${alice}/${task.id}/${snap.id}.json.gz`);
    expect(await db.blobs.getJson(snap.stateBlobKey!)).toEqual({ compacted: "summary" });
  });
});

describe("checkpoints", () => {
  it("create with a checkpoint snapshot, number without gaps under concurrency, and find by id and sha", async () => {
    const task = await newTask();
    await store.appendMessages(db, task, [msg(1), msg(2)]);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.createCheckpointWithSnapshot(db, task, { commitSha: `abc${i}def`, branchName: "main", message: `c${i}` }),
      ),
    );
    expect(results.map((r) => r.checkpoint.checkpointNumber).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const first = results.find((r) => r.checkpoint.checkpointNumber === 1)!;
    expect(first.snapshot).toMatchObject({ snapshotType: "checkpoint", checkpointId: first.checkpoint.id, messageCount: 2 });
    expect(first.checkpoint.conversationSnapshotId).toBe(first.snapshot.id);

    const listed = await store.listCheckpoints(db, task, 4);
    expect(listed.items.map((c) => c.checkpointNumber)).toEqual([1, 2, 3, 4]);
    const rest = await store.listCheckpoints(db, task, 4, listed.nextCursor!);
    expect(rest.items.map((c) => c.checkpointNumber)).toEqual([5, 6]);
    expect(rest.nextCursor).toBeNull();

    const third = results.find((r) => r.checkpoint.checkpointNumber === 3)!.checkpoint;
    const info = await store.getCheckpointInfo(db, task, third.id);
    expect(info.previous?.checkpointNumber).toBe(2);
    expect((await store.getCheckpointInfo(db, task, first.checkpoint.id)).previous).toBeUndefined();
    expect((await store.findCheckpointBySha(db, task, third.commitSha)).id).toBe(third.id);

    const otherTask = await newTask();
    await expect(store.getCheckpoint(db, otherTask, third.id)).rejects.toMatchObject({ status: 404 });

    // The attempts that lost a number took their pointers back: one of each kind per checkpoint.
    const { items } = await db.table.query({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":c": "CHECKPOINT" },
    });
    const kinds = items.map((i) => String(i.sk).split("#")[0]);
    for (const kind of ["CHECKPOINT", "CHECKPOINTSHA", "CHECKPOINTAT"]) expect(kinds.filter((k) => k === kind)).toHaveLength(6);
    // An id says where its checkpoint is: no pointer by id.
    expect(kinds).not.toContain("CHECKPOINTID");
    for (const r of results) expect(store.numberInCheckpointId(r.checkpoint.id)).toBe(r.checkpoint.checkpointNumber);
    const snapshots = (await store.listSnapshots(db, task, 10)).items;
    expect(snapshots.map((s) => s.checkpointId).sort()).toEqual(results.map((r) => r.checkpoint.id).sort());
  });

  it("believes a pointer only when the checkpoint it names agrees (an attempt cut short leaves pointers behind)", async () => {
    const task = await newTask();
    await store.appendMessages(db, task, [msg(1), msg(2)]);
    const { checkpoint: one } = await store.createCheckpointWithSnapshot(db, task, { commitSha: "aa11", branchName: "main", message: "one" });
    // An attempt at number 1 that died after writing its pointers: a commit never checkpointed, more messages than any checkpoint.
    const ghost = "01900000-0000-7000-8000-000000000000";
    await db.table.batchWrite([
      { put: { ...keys.checkpointBySha(task.id, "ff99", 1, ghost), checkpointNumber: 1 } },
      { put: { ...keys.checkpointBySha(task.id, "aa11", 1, ghost), checkpointNumber: 1 } },
      { put: { ...keys.checkpointByCount(task.id, 9, 1, ghost), checkpointNumber: 1, conversationSnapshotId: one.conversationSnapshotId } },
    ]);
    await expect(store.getCheckpoint(db, task, ghost)).rejects.toMatchObject({ status: 404 });
    await expect(store.findCheckpointBySha(db, task, "ff99")).rejects.toMatchObject({ status: 404 });
    expect(await store.hasCheckpointAt(db, task, "ff99")).toBe(false);
    // A prefix that only a stray pointer makes ambiguous is not.
    expect((await store.findCheckpointBySha(db, task, "aa1")).id).toBe(one.id);
    expect(await store.hasCheckpointAt(db, task, "aa11")).toBe(true);
    const kept = store.clipSegments(await store.closeSegments(db, task), 2);
    expect((await store.checkpointOnConversation(db, task, kept))?.id).toBe(one.id);

    // Snapshots written for checkpoints that never came: one for a number never taken, one for the number another took.
    const real = await store.getSnapshot(db, task, one.conversationSnapshotId!);
    const strays = [5, 1].map((n) => ({ ...real, id: `0190000${n}-0000-7000-8000-000000000000`, checkpointId: ghost, checkpointNumber: n }));
    await db.table.batchWrite(strays.map((s) => ({ put: snapshotItem(s) })));
    expect((await store.listSnapshots(db, task, 10)).items.map((s) => s.id)).toEqual([real.id]);
    for (const stray of strays) {
      await expect(store.getSnapshot(db, task, stray.id)).rejects.toMatchObject({ status: 404 });
      await expect(store.setPinned(db, task, stray.id, true)).rejects.toMatchObject({ status: 404 });
    }
  });

  it("a checkpoint whose transaction went through but answered an error keeps its snapshot and pointers", async () => {
    const task = await newTask();
    await store.appendMessages(db, task, [msg(1)]);
    const unsure = Object.create(db.table) as Table;
    unsure.transact = async (items) => {
      await db.table.transact(items);
      throw Object.assign(new Error("injected: the answer was lost"), { name: "InternalServerError" });
    };
    await expect(store.createCheckpointWithSnapshot({ ...db, table: unsure }, task, { commitSha: "bb22", branchName: "main", message: "m" })).rejects.toThrow("injected");
    const [checkpoint] = (await store.listCheckpoints(db, task, 10)).items;
    expect((await store.getCheckpoint(db, task, checkpoint!.id)).id).toBe(checkpoint!.id);
    expect((await store.findCheckpointBySha(db, task, "bb22")).id).toBe(checkpoint!.id);
    expect((await store.getSnapshot(db, task, checkpoint!.conversationSnapshotId!)).checkpointId).toBe(checkpoint!.id);
    const kept = store.clipSegments(await store.closeSegments(db, task), 1);
    expect((await store.checkpointOnConversation(db, task, kept))?.id).toBe(checkpoint!.id);
  });
});

describe("history events", () => {
  it("filter by contract, task and owner timeline with phase, types, time range and cursor", async () => {
    const owner = `owner-${Math.random()}`;
    const contract = await store.createContract(db, owner, { name: "c" });
    const task = await newTask(owner, { contractId: contract.id });
    const base = Date.UTC(2026, 5, 1);
    const events: Array<[string, string, boolean, number]> = [
      ["task", "research", true, 0],
      ["chat", "research", false, 1],
      ["phase", "plan", false, 2],
      ["checkpoint", "plan", true, 3],
      ["rewind", "plan", true, 4],
    ];
    for (const [type, phase, withTask, minute] of events) {
      const at = new Date(base + minute * 60_000);
      await store.recordHistoryEvent(
        { ...db, clock: () => at },
        { ownerId: owner, contractId: contract.id, taskId: withTask ? task.id : undefined, eventType: type as never, phase: phase as never, eventData: { minute } },
      );
    }
    await store.recordHistoryEvent(db, { ownerId: owner, eventType: "task", eventData: { alone: true } });

    const all = await store.contractHistory(db, contract.id, { limit: 50 });
    expect(all.items.map((e) => e.eventType)).toEqual(["rewind", "checkpoint", "phase", "chat", "task"]);
    const plan = await store.contractHistory(db, contract.id, { limit: 50, phase: "plan" });
    expect(plan.items.map((e) => e.eventType)).toEqual(["rewind", "checkpoint", "phase"]);
    const types = await store.contractHistory(db, contract.id, { limit: 50, eventTypes: ["chat", "rewind"] });
    expect(types.items.map((e) => e.eventType)).toEqual(["rewind", "chat"]);
    const range = await store.contractHistory(db, contract.id, {
      limit: 50,
      from: new Date(base + 60_000).toISOString(),
      to: new Date(base + 3 * 60_000).toISOString(),
    });
    expect(range.items.map((e) => e.eventData.minute)).toEqual([3, 2, 1]);

    const page1 = await store.contractHistory(db, contract.id, { limit: 2, phase: "plan" });
    expect(page1.items).toHaveLength(2);
    const page2 = await store.contractHistory(db, contract.id, { limit: 2, phase: "plan", cursor: page1.nextCursor! });
    expect(page2.items.map((e) => e.eventType)).toEqual(["phase"]);
    expect(page2.nextCursor).toBeNull();
    await expect(store.taskHistory(db, task, { limit: 2, cursor: page1.nextCursor! })).rejects.toMatchObject({ status: 400 });

    const taskEvents = await store.taskHistory(db, task, { limit: 50 });
    expect(taskEvents.items.map((e) => e.eventType)).toEqual(["rewind", "checkpoint", "task"]);
    const mine = await store.timeline(db, owner, { limit: 50 });
    expect(mine.items).toHaveLength(6);
    expect(mine.items[0]!.eventData).toEqual({ alone: true });
    expect((await store.timeline(db, `${owner}-other`, { limit: 50 })).items).toEqual([]);
  });
});

describe("history paging", () => {
  it("merges several event types page by page: every match once, newest first, with and without a phase", async () => {
    const owner = `owner-${Math.random()}`;
    const types = ["task", "chat", "checkpoint", "rewind", "fork"] as const;
    const phases = ["research", "plan"] as const;
    const base = Date.UTC(2026, 6, 1);
    for (let i = 0; i < 40; i++) {
      const at = new Date(base + i * 1000);
      await store.recordHistoryEvent({ ...db, clock: () => at }, {
        ownerId: owner, eventType: types[i % types.length]!, phase: phases[Math.floor(i / 20)]!, eventData: { i },
      });
    }
    const collect = async (filters: Omit<store.HistoryFilters, "limit" | "cursor">) => {
      const pages = await allPages((cursor) => store.timeline(db, owner, { ...filters, limit: 3, cursor }));
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(3);
      return pages.flat().map((e) => e.eventData.i as number);
    };
    const expected = (keep: (i: number) => boolean) => Array.from({ length: 40 }, (_, i) => 39 - i).filter(keep);
    expect(await collect({ eventTypes: ["chat", "rewind", "fork"] })).toEqual(expected((i) => [1, 3, 4].includes(i % 5)));
    expect(await collect({ phase: "plan" })).toEqual(expected((i) => i >= 20));
    expect(await collect({ eventTypes: ["task", "fork"], phase: "research" })).toEqual(expected((i) => i < 20 && [0, 4].includes(i % 5)));
    expect(await collect({})).toEqual(expected(() => true));
    const from = new Date(base + 10_000).toISOString();
    const to = new Date(base + 14_000).toISOString();
    expect(await collect({ eventTypes: ["task", "chat"], from, to })).toEqual([11, 10]);
  });

  it("a task's history reads batch and checkpoint events from their hosts, merged page by page with the rest", async () => {
    const owner = `owner-${Math.random()}`;
    let now = Date.UTC(2026, 8, 1);
    const at = { ...db, clock: () => new Date((now += 1000)) };
    const task = await store.createTask(at, owner, { name: "hosted", plan: "p" });
    const phases = ["research", "plan"] as const;
    for (let i = 0; i < 12; i++) {
      const phase = phases[Math.floor(i / 6)]!;
      const current = (await store.getTaskRecord(at, owner, task.id))!;
      await store.appendMessages(at, current, [msg(2 * i), msg(2 * i + 1)], { event: chatEvent(current, phase) });
      if (i % 3 === 0) {
        await store.createCheckpointWithSnapshot(at, current, { commitSha: `c0ffee${i}`, branchName: "main", message: `c${i}` }, undefined, (c, s) =>
          checkpointCreatedEvent(current, phase, c, s),
        );
      }
      // Events stored with a copy in the task's index: other types, and a chat and a checkpoint event not hosted.
      const type = (["task", "chat", "checkpoint"] as const)[i % 3]!;
      await store.recordHistoryEvent(at, { ownerId: owner, taskId: task.id, eventType: type, phase, eventData: { i } });
    }
    // The owner has one task: its timeline holds every event of the task once.
    const all = (await store.timeline(db, owner, { limit: 100 })).items;
    const current = (await store.getTaskRecord(db, owner, task.id))!;
    expect(all).toHaveLength(12 + 4 + 12);
    const collect = async (filters: Omit<store.HistoryFilters, "limit" | "cursor">) => {
      const pages = await allPages((cursor) => store.taskHistory(db, current, { ...filters, limit: 4, cursor }));
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(4);
      return pages.flat().map((e) => e.id);
    };
    const expected = (keep: (e: HistoryEvent) => boolean) => all.filter(keep).map((e) => e.id);
    expect(await collect({})).toEqual(expected(() => true));
    expect((await store.taskHistory(db, current, { limit: 100 })).items).toEqual(all);
    expect(await collect({ eventTypes: ["chat"] })).toEqual(expected((e) => e.eventType === "chat"));
    expect(await collect({ eventTypes: ["checkpoint", "task"], phase: "plan" })).toEqual(
      expected((e) => e.eventType !== "chat" && e.phase === "plan"),
    );
    expect(await collect({ phase: "research" })).toEqual(expected((e) => e.phase === "research"));
    const [from, to] = [all[20]!.createdAt, all[5]!.createdAt];
    expect(await collect({ from, to })).toEqual(expected((e) => e.createdAt >= from && e.createdAt <= to));
    expect(await collect({ eventTypes: ["chat", "checkpoint"], to })).toEqual(
      expected((e) => ["chat", "checkpoint"].includes(e.eventType) && e.createdAt <= to),
    );
    // A hosted event's item in its type's timeline has no copy in the task's index.
    const hosted = all.find((e) => e.eventType === "chat" && e.eventSubtype === "messages")!;
    const { items } = await db.table.query({
      KeyConditionExpression: "pk = :p AND sk = :s",
      ExpressionAttributeValues: { ":p": keys.ownerEvents(owner, "T#chat", shardOf(hosted.id, TIMELINE_SHARDS)), ":s": hosted.id },
    });
    expect(items).toHaveLength(1);
    expect(items[0]!.gsi2pk).toBeUndefined();
  });

  it("an owner's and a contract's timelines are sharded; pages merge the shards in order", async () => {
    const owner = `owner-${Math.random()}`;
    const contract = await store.createContract(db, owner, { name: "sharded" });
    const base = Date.UTC(2026, 7, 1);
    const written: HistoryEvent[] = [];
    for (let i = 0; i < 48; i++) {
      const at = new Date(base + i * 1000);
      const input = { ownerId: owner, contractId: contract.id, eventType: (i % 2 ? "chat" : "checkpoint") as never, eventData: { i } };
      written.push(await store.recordHistoryEvent({ ...db, clock: () => at }, input));
    }
    const shards = new Set(written.map((e) => String(store.historyEventItems(e)[0]!.pk)));
    expect(shards.size).toBeGreaterThan(4);
    for (const pk of shards) expect(pk).toMatch(new RegExp(`^OWNER#${owner}#EVENTS(#T#\\w+)?#S\\d+$`));

    for (const list of [
      (cursor?: string) => store.timeline(db, owner, { limit: 5, cursor }),
      (cursor?: string) => store.contractHistory(db, contract.id, { limit: 5, cursor }),
      (cursor?: string) => store.timeline(db, owner, { limit: 5, cursor, eventTypes: ["chat"] }),
    ]) {
      const pages = (await allPages(list)).map((page) => page.map((e) => e.eventData.i as number));
      // Full pages (one request, one page), every event once, newest first.
      const seen = pages.flat();
      expect(pages.slice(0, -1).every((p) => p.length === 5)).toBe(true);
      const all = Array.from({ length: 48 }, (_, k) => 47 - k);
      expect(seen).toEqual(pages.length === 10 ? all : all.filter((i) => i % 2));
    }
  });
});

describe("forks and rewinds", () => {
  it("a fork shares its parent's prefix by reference, not by copy", async () => {
    let parent = await newTask();
    await store.appendMessages(db, parent, [1, 2, 3, 4, 5].map((i) => msg(i)));
    parent = await reload(parent);
    const closed = await store.closeSegments(db, parent);
    const child = await newTask(alice, {
      forkedFromTaskId: parent.id,
      forkedAtMessageId: "m3",
      inheritedSegments: store.clipSegments(closed, 3),
    });
    await store.appendMessages(db, child, [msg(100)]);
    const reloaded = await reload(child);
    expect(await readAll(reloaded.segments, 2)).toEqual(["m1", "m2", "m3", "m100"]);
    expect(store.toTask(reloaded).messageCount).toBe(4);
    expect((await logOf(child.id)).ids).toEqual(["m100"]);
    expect((await store.listForks(db, parent.id, 10)).items.map((t) => t.id)).toEqual([child.id]);
    expect((await store.getWholeMessage(db, reloaded, "m2")).content).toBe("message 2");
    await expect(store.getWholeMessage(db, reloaded, "m5")).rejects.toMatchObject({ status: 404 });
  });

  it("a conversation rewind hides messages without deleting them and can be restored", async () => {
    let task = await newTask();
    await store.appendMessages(db, task, [1, 2, 3, 4, 5].map((i) => msg(i)));
    task = await reload(task);
    expect(await store.positionOfMessage(db, await store.closeSegments(db, task), "m3")).toBe(3);
    // Time cuts go by when the server received each message, not by the timestamps agents report.
    let now = Date.UTC(2030, 0, 1);
    const timed = await createTestDb({ clock: () => new Date(now) });
    let late = await store.createTask(timed, alice, { name: "t", plan: "p" });
    for (const i of [1, 2, 3]) {
      now += 1000;
      await store.appendMessages(timed, await store.getTaskRecord(timed, alice, late.id).then((t) => t!), [msg(i, { timestamp: new Date(Date.UTC(2020, 0, 1, 0, 0, 10 - i)).toISOString() })]);
    }
    late = (await store.getTaskRecord(timed, alice, late.id))!;
    const closedLate = await store.closeSegments(timed, late);
    expect(await store.countUpTo(timed, closedLate, new Date(Date.UTC(2030, 0, 1, 0, 0, 2, 500)))).toBe(2);
    expect(await store.countUpTo(timed, closedLate, new Date(Date.UTC(2020, 0, 1, 0, 0, 9)))).toBe(0);
    const stored = (await store.readConversation(timed, closedLate, { scope: "t", limit: 10 })).items;
    expect(stored.map((m) => [m.timestamp, m.receivedAt])).toEqual([1, 2, 3].map((i) => [new Date(Date.UTC(2020, 0, 1, 0, 0, 10 - i)).toISOString(), new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString()]));

    const { rewind } = await store.rewindConversation(db, task, 3, "alice");
    expect(rewind).toMatchObject({ messageCount: 3, hiddenCount: 2, actor: "alice" });
    task = await reload(task);
    expect(await readAll(task.segments)).toEqual(["m1", "m2", "m3"]);
    expect((await logOf(task.id)).ids).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    await store.appendMessages(db, task, [msg(6)]);
    task = await reload(task);
    expect(await readAll(task.segments)).toEqual(["m1", "m2", "m3", "m6"]);
    // A hidden message is still readable by id, for audit.
    expect((await store.getWholeMessage(db, task, "m4")).content).toBe("message 4");

    const latest = await store.getConversationRewind(db, task);
    expect(latest.id).toBe(rewind.id);
    task = await store.restoreConversation(db, task, latest);
    expect(await readAll(task.segments)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6"]);
    await expect(store.getConversationRewind(db, task)).rejects.toMatchObject({ status: 404 });
    await expect(store.rewindConversation(db, task, 99, "alice")).rejects.toMatchObject({ status: 400 });
  });
});

describe("tasks", () => {
  it("saveTask sets the fields given, removes those given as undefined, and refuses a stale write", async () => {
    const task = await newTask();
    const withContext = await store.saveTask(db, task, { resumeContext: "fix the tests", status: "paused" });
    expect(withContext).toMatchObject({ resumeContext: "fix the tests", status: "paused" });
    const cleared = await store.saveTask(db, withContext, { resumeContext: undefined });
    expect(cleared).not.toHaveProperty("resumeContext");
    expect(cleared.status).toBe("paused");
    await expect(store.saveTask(db, withContext, { status: "running" })).rejects.toMatchObject({ status: 409 });
  });
});

describe("owner isolation", () => {
  it("every owned read needs the owner's id", async () => {
    const task = await newTask(alice);
    expect(await store.getTaskRecord(db, bob, task.id)).toBeUndefined();
    expect(await store.getTaskRecord(db, alice, task.id)).toBeDefined();
    await store.createOperation(db, { id: "0190a6b0-0000-7000-8000-0000000000aa", ownerId: alice, commandType: "x" });
    expect(await store.getOperation(db, bob, "0190a6b0-0000-7000-8000-0000000000aa")).toBeUndefined();
    expect((await store.getOperation(db, alice, "0190a6b0-0000-7000-8000-0000000000aa"))?.status).toBe("pending");
  });

  it("settles an operation once", async () => {
    const id = "0190a6b0-0000-7000-8000-0000000000bb";
    await store.createOperation(db, { id, ownerId: alice, commandType: "x" });
    const op = { id, ownerId: alice };
    expect(await store.settleOperation(db, op, { status: "succeeded", result: { ok: 1 } })).toBe(true);
    expect(await store.settleOperation(db, op, { status: "failed", error: { code: "x", message: "y" } })).toBe(false);
    expect(await store.getOperation(db, alice, id)).toMatchObject({ status: "succeeded", result: { ok: 1 } });
  });

  it("idempotency keys return the first answer and refuse another body", async () => {
    const scope = (ownerId: string, credentialId = "key-1") => ({ ownerId, credentialId, method: "POST", route: "/api/v1/contracts" });
    const first = await store.claimIdempotencyKey(db, scope(alice), "k1", "h1");
    expect(first).toHaveProperty("claimId");
    await expect(store.claimIdempotencyKey(db, scope(alice), "k1", "h1")).rejects.toMatchObject({ status: 409, code: "request_in_progress" });
    await store.completeIdempotencyKey(db, scope(alice), "k1", (first as { claimId: string }).claimId, { status: 201, body: { id: 1 } });
    expect(await store.claimIdempotencyKey(db, scope(alice), "k1", "h1")).toEqual({ replay: { status: 201, body: { id: 1 } } });
    await expect(store.claimIdempotencyKey(db, scope(alice), "k1", "h2")).rejects.toMatchObject({ code: "idempotency_key_reused" });
    expect(await store.claimIdempotencyKey(db, scope(bob), "k1", "h2")).toHaveProperty("claimId");
    expect(await store.claimIdempotencyKey(db, scope(alice, "key-2"), "k1", "h1")).toHaveProperty("claimId");
  });

  it("an idempotency record past its expiresAt is gone: the key is claimed again, never answered from it", async () => {
    const scope = { ownerId: alice, credentialId: "key-1", method: "POST", route: "/api/v1/contracts/expiring" };
    // The very second it expires, and after.
    for (const [key, past] of [["k-exp-0", 0], ["k-exp-60", 60]] as const) {
      const first = await store.claimIdempotencyKey(db, scope, key, "h1");
      await store.completeIdempotencyKey(db, scope, key, (first as { claimId: string }).claimId, { status: 201, body: { id: 1 } });
      const { expiresAt } = (await db.table.get(store.recordKey(scope, key)))!;
      const later = { ...db, clock: () => new Date((Number(expiresAt) + past) * 1000) };
      expect(await store.claimIdempotencyKey(later, scope, key, "h2")).toHaveProperty("claimId");
    }
  });
});
