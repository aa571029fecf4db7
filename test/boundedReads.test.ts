import { beforeAll, describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import { keys } from "../core/keys.js";
import { CodeRewind, type NewConversationMessage, type TaskRecord } from "../core/models.js";
import { Relay } from "../core/relay.js";
import { forkTask } from "../core/services/fork.js";
import { newId } from "../core/ids.js";
import { DaemonMessage } from "../core/protocol.js";
import { handleDaemonMessage } from "../core/services/daemon/replies.js";
import { AWAITING_PAGE } from "../core/services/spawn.js";
import { chatEvent } from "../core/services/taskEvents.js";

/**
 * Reads that must not grow with the data: each is a key condition or a
 * query with a small limit, however many checkpoints, rewinds or forks the
 * task has. Measured as the items DynamoDB reads for it (a Query's scanned
 * count, one per GetItem), never as time.
 */

let db: Awaited<ReturnType<typeof createTestDb>>;
let t0 = Date.UTC(2026, 0, 1);
const owner = "owner-bounded";

beforeAll(async () => {
  // Every read of the clock a millisecond later: checkpoints get distinct, ascending times.
  db = await createTestDb({ clock: () => new Date(t0++) });
});

interface Sendable {
  send: (command: object, ...rest: unknown[]) => Promise<Record<string, unknown>>;
}

/** The items DynamoDB reads while `work` runs (Query: scanned; GetItem: one each), of the partition `only` if given. */
async function itemsRead<T>(work: () => Promise<T>, only?: string): Promise<{ result: T; items: number; queries: number }> {
  const client = db.table.doc as unknown as Sendable;
  const original = client.send.bind(client);
  let items = 0;
  let queries = 0;
  client.send = async (command, ...rest) => {
    const out = await original(command, ...rest);
    const name = command.constructor.name;
    const input = (command as { input?: { ExpressionAttributeValues?: Record<string, unknown> } }).input;
    if (only !== undefined && input?.ExpressionAttributeValues?.[":p"] !== only) return out;
    if (name === "QueryCommand") {
      items += (out.ScannedCount as number | undefined) ?? 0;
      queries++;
    }
    if (name === "GetCommand") items += 1;
    return out;
  };
  try {
    return { result: await work(), items, queries };
  } finally {
    client.send = original;
  }
}

const msg = (i: number): NewConversationMessage => ({
  id: `m${i}`,
  role: i % 2 ? "assistant" : "user",
  content: `message ${i}`,
  timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
});

const sha = (i: number) => i.toString(16).padStart(6, "0").repeat(7).slice(0, 40);

/** A task with `n` checkpoints, one message before each: checkpoint k saw k messages, at commit sha(k). */
async function taskWithCheckpoints(n: number): Promise<{ task: TaskRecord; times: string[] }> {
  const task = await store.createTask(db, owner, { name: "t", plan: "p" });
  const times: string[] = [];
  for (let k = 1; k <= n; k++) {
    await store.appendMessages(db, task, [msg(k)]);
    const current = (await store.getTaskRecord(db, owner, task.id))!;
    const { checkpoint } = await store.createCheckpointWithSnapshot(db, current, { commitSha: sha(k), branchName: "main", message: `c${k}` });
    times.push(checkpoint.createdAt);
  }
  return { task: (await store.getTaskRecord(db, owner, task.id))!, times };
}

describe("picking a checkpoint", () => {
  let task: TaskRecord;
  let times: string[];
  const N = 40;
  beforeAll(async () => {
    ({ task, times } = await taskWithCheckpoints(N));
  }, 120_000);

  it("by commit: a key lookup, whether the commit has a checkpoint or not", async () => {
    const found = await itemsRead(() => store.findCheckpointBySha(db, task, sha(3)));
    expect(found.result.checkpointNumber).toBe(3);
    expect(found.items).toBeLessThanOrEqual(3);
    const byPrefix = await itemsRead(() => store.findCheckpointBySha(db, task, sha(7).slice(0, 12)));
    expect(byPrefix.result.checkpointNumber).toBe(7);
    expect(byPrefix.items).toBeLessThanOrEqual(4);

    const absent = await itemsRead(() => store.findCheckpointBySha(db, task, "f".repeat(40)).catch((e: unknown) => e));
    expect(absent.result).toMatchObject({ status: 404 });
    expect(absent.items).toBeLessThanOrEqual(4);
  });

  it("by commit: the latest checkpoint at it, and a prefix of several commits refused", async () => {
    const other = await store.createTask(db, owner, { name: "t", plan: "p" });
    for (const commitSha of ["abcdef1" + "0".repeat(33), "abcdef2" + "0".repeat(33), "abcdef1" + "0".repeat(33)]) {
      await store.createCheckpointWithSnapshot(db, other, { commitSha, branchName: "main", message: "c" });
    }
    expect((await store.findCheckpointBySha(db, other, "abcdef1")).checkpointNumber).toBe(3);
    expect((await store.findCheckpointBySha(db, other, "ABCDEF2")).checkpointNumber).toBe(2);
    await expect(store.findCheckpointBySha(db, other, "abcdef")).rejects.toMatchObject({ status: 400 });
    // Another owner's task is another partition: nothing of it is found.
    const stranger = await store.createTask(db, "owner-stranger", { name: "t", plan: "p" });
    await expect(store.findCheckpointBySha(db, stranger, "abcdef1")).rejects.toMatchObject({ status: 404 });
  });

  it("at or before a time (a fork from a timestamp): a few reads, not every checkpoint", async () => {
    for (const k of [1, 5, 23, N]) {
      const at = await itemsRead(() => store.latestCheckpointAtOrBefore(db, task, new Date(times[k - 1]!)));
      expect(at.result?.checkpointNumber).toBe(k);
      expect(at.items).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(N + 1)));
    }
    expect(await store.latestCheckpointAtOrBefore(db, task, new Date(Date.parse(times[0]!) - 1))).toBeUndefined();
  });

  it("on a kept conversation (a fork from a message, a rewind with code): read in reverse from the kept point", async () => {
    const closed = await store.closeSegments(db, task);
    const kept = store.clipSegments(closed, 3);
    const found = await itemsRead(() => store.checkpointOnConversation(db, task, kept));
    expect(found.result?.checkpointNumber).toBe(3);
    expect(found.items).toBeLessThanOrEqual(6);
  });

  it("on a kept conversation far behind more than a search's worth of later checkpoints", async () => {
    const { task: long } = await taskWithCheckpoints(110);
    const kept = store.clipSegments(await store.closeSegments(db, long), 2);
    expect((await store.checkpointOnConversation(db, long, kept))?.checkpointNumber).toBe(2);
  }, 240_000);
});

describe("a task's history", () => {
  it("a page below a cursor starts each hosted lane where the last page left it, without searching for it", async () => {
    const task = await store.createTask(db, owner, { name: "t", plan: "p" });
    for (let k = 1; k <= 64; k++) {
      const current = (await store.getTaskRecord(db, owner, task.id))!;
      await store.appendMessages(db, current, [msg(k)], { event: chatEvent(current, undefined) });
    }
    const partition = keys.taskPartition(task.id);
    const stored = (await store.getTaskRecord(db, owner, task.id))!;
    const first = await store.taskHistory(db, stored, { limit: 5 });
    const seen = first.items.map((e) => e.id);
    let cursor = first.nextCursor;
    for (let page = 0; page < 4; page++) {
      const read = await itemsRead(() => store.taskHistory(db, stored, { limit: 5, cursor: cursor! }), partition);
      // Each hosted lane (batches, checkpoints): a read or two, not a binary search over 64 batches.
      expect(read.queries).toBeLessThanOrEqual(4);
      seen.push(...read.result.items.map((e) => e.id));
      cursor = read.result.nextCursor;
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect([...seen].sort().reverse()).toEqual(seen);
    // A time range without a cursor finds its start by halving: a few small reads.
    const to = new Date(Date.parse((await store.taskHistory(db, stored, { limit: 1, cursor: cursor! })).items[0]!.createdAt)).toISOString();
    const ranged = await itemsRead(() => store.taskHistory(db, stored, { limit: 5, to }), partition);
    expect(ranged.result.items[0]!.createdAt <= to).toBe(true);
    expect(ranged.queries).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(64)) + 4);
  });
});

describe("finding the rewind to restore or undo, and a fork's branch", () => {
  it("restoring the latest conversation rewind reads the latest few, however many were restored", async () => {
    let task = await store.createTask(db, owner, { name: "t", plan: "p" });
    await store.appendMessages(db, task, [msg(1), msg(2), msg(3)]);
    task = (await store.getTaskRecord(db, owner, task.id))!;
    const first = await store.rewindConversation(db, task, 2, "test");
    task = first.task;
    for (let i = 0; i < 30; i++) {
      const { task: cut, rewind } = await store.rewindConversation(db, task, 1, "test");
      task = await store.restoreConversation(db, cut, rewind);
    }
    const search = await itemsRead(() => store.getConversationRewind(db, task).catch((e: unknown) => e));
    expect(search.items).toBeLessThanOrEqual(store.RESTORE_SEARCH);
    expect(search.result).toMatchObject({ status: 404 });
    // The older one is still restored by its id.
    expect((await store.getConversationRewind(db, task, first.rewind.id)).id).toBe(first.rewind.id);
    // The latest one not restored is found while it is among the latest.
    const { task: cut, rewind } = await store.rewindConversation(db, task, 1, "test");
    expect((await store.getConversationRewind(db, cut)).id).toBe(rewind.id);
  }, 120_000);

  it("undoing the latest code rewind reads the latest few, however many failed or were undone", async () => {
    const task = await store.createTask(db, owner, { name: "t", plan: "p" });
    // Rewinds are listed by id: the kept one is the oldest.
    const ids = Array.from({ length: 31 }, () => newId()).sort();
    const record = (status: CodeRewind["status"]) =>
      CodeRewind.parse({
        id: ids.shift(),
        taskId: task.id,
        ownerId: owner,
        checkpointId: newId(),
        commitSha: sha(1),
        preserveMode: "create_branch",
        actor: "test",
        createdAt: new Date().toISOString(),
        status,
      });
    const kept = record("done");
    await store.putDispatchedCodeRewind(db, kept);
    for (let i = 0; i < 30; i++) {
      const failed = record("dispatched");
      await store.putDispatchedCodeRewind(db, failed);
      await store.failCodeRewind(db, task.id, failed.id, { code: "refused", message: "no" });
    }
    const search = await itemsRead(() => store.findCodeRewind(db, task).catch((e: unknown) => e));
    expect(search.items).toBeLessThanOrEqual(store.UNDO_SEARCH);
    expect(search.result).toMatchObject({ status: 404 });
    expect((await store.findCodeRewind(db, task, kept.id)).id).toBe(kept.id);
  });

  it("a fork's branch is checked against the parent's latest forks, not all of them", async () => {
    const parent = await store.createTask(db, owner, { name: "t", plan: "p" });
    await store.appendMessages(db, parent, [msg(1)]);
    await store.createCheckpointWithSnapshot(db, (await store.getTaskRecord(db, owner, parent.id))!, { commitSha: sha(1), branchName: "main", message: "c" });
    for (let i = 0; i < 120; i++) await store.createTask(db, owner, { name: `f${i}`, plan: "p", forkedFromTaskId: parent.id, branchName: `fork/${i}` });
    const ctx = { db, relay: new Relay(db, undefined, { waitMs: 100, timeoutMs: 1000 }), principal: { ownerId: owner, via: "api_key" as const } };
    const fork = (branchName: string) =>
      forkTask(ctx, parent.id, { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "n", newTaskPlan: "p", branchName });
    const free = await itemsRead(() => fork("fork/new"), keys.taskForks(parent.id));
    expect(free.result.branchName).toBe("fork/new");
    expect(free.items).toBeLessThanOrEqual(100);
    await expect(fork("fork/119")).rejects.toMatchObject({ status: 409 });
  }, 120_000);
});

describe("tasks waiting for a daemon", () => {
  it("a hello hands out one page; each start the daemon reports done hands out the next waiting task", async () => {
    const o = "owner-awaiting";
    const daemonId = newId();
    const posted: Array<{ type: string; requestId: string; taskId: string }> = [];
    const relay = new Relay(db, { post: async (_connection, data) => void posted.push(JSON.parse(data)) }, { waitMs: 100, timeoutMs: 60_000 });
    // Tasks only another daemon may start, waiting first: they take none of this daemon's page.
    const elsewhere = newId();
    for (let i = 0; i < AWAITING_PAGE + 2; i++) {
      await store.markAwaitingDaemon(db, await store.createTask(db, o, { name: `bound ${i}`, plan: "p", daemonId: elsewhere }));
    }
    const waiting: string[] = [];
    for (let i = 0; i < 12; i++) {
      const task = await store.createTask(db, o, { name: `waiting ${i}`, plan: "p" });
      await store.markAwaitingDaemon(db, task);
      waiting.push(task.id);
    }
    // One whose start failed before: tried again at a hello, not handed out after another start.
    const tried = await store.createTask(db, o, { name: "tried", plan: "p" });
    await store.markAwaitingDaemon(db, tried);
    await db.table.update(keys.task(tried.id), { UpdateExpression: "SET startAttempts = :one", ExpressionAttributeValues: { ":one": 1 } });
    const connection = { connectionId: "AwaitConn0001=", ownerId: o, daemonId, connectedAt: db.clock().toISOString() };
    await store.putConnection(db, connection);
    const spawns = () => posted.filter((c) => c.type === "spawnTask");
    const say = (message: unknown) => handleDaemonMessage(db, relay, connection, DaemonMessage.parse(message));

    await say({ type: "hello", hostname: "h", version: "test" });
    expect(spawns()).toHaveLength(AWAITING_PAGE);
    const answered = new Set<string>();
    const answer = async (spawn: { requestId: string; taskId: string }) => {
      answered.add(spawn.requestId);
      await say({ type: "taskSpawned", requestId: spawn.requestId, taskId: spawn.taskId, success: true });
    };
    await answer(spawns()[0]!);
    expect(spawns()).toHaveLength(AWAITING_PAGE + 1);

    // Answering each start as it comes: every waiting task goes out, once.
    for (let next = spawns().find((c) => !answered.has(c.requestId)); next; next = spawns().find((c) => !answered.has(c.requestId))) await answer(next);
    expect(spawns().map((c) => c.taskId).sort()).toEqual([...waiting].sort());
    for (const id of waiting) expect((await store.getTaskRecord(db, o, id))?.status).toBe("running");
    await say({ type: "hello", hostname: "h", version: "test" });
    expect(spawns().at(-1)?.taskId).toBe(tried.id);
    expect(spawns()).toHaveLength(waiting.length + 1);
  }, 120_000);
});
