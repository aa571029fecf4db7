import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { awsEvent } from "./support/fixtures.js";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import { keys } from "../core/keys.js";
import { blobKeys } from "../core/blobs.js";
import { newId } from "../core/ids.js";
import { createDb, type Db } from "../core/store/db.js";
import { cleanupStateKey, expiryEntriesOn, listCleanupRuns, runCleanup, type CleanupOptions } from "../core/retention/index.js";
import { expiryAttributes } from "../core/store/snapshots.js";
import { handler, makeHandler } from "../functions/cleanup.js";
import { startCleanupTimer } from "../stacks/local/cleanupTimer.js";
import type { SnapshotType, TaskRecord } from "../core/models.js";
import { captureStdout, jsonLines } from "./support/stdout.js";

const DAY = 86_400_000;
const quiet = { log: () => {} } satisfies CleanupOptions;

/** Real time plus an offset the test moves forward: S3 stamps objects with real time, so ages stay comparable. */
function testClock() {
  let offset = 0;
  return {
    clock: () => new Date(Date.now() + offset),
    days(n: number) {
      offset = n * DAY;
    },
  };
}

async function setup() {
  const time = testClock();
  const db = await createTestDb({ clock: time.clock });
  return { db, time };
}

/** Another connection to the same table and bucket (a second Lambda running at the same time). */
const sameTable = (db: Db & { config: Parameters<typeof createDb>[0] }) => createDb(db.config, { clock: db.clock });

async function newTask(db: Db, owner = "owner-a") {
  return store.createTask(db, owner, { name: "t", plan: "p" });
}

const snap = (db: Db, task: TaskRecord, snapshotType: SnapshotType = "auto", state?: unknown) =>
  store.createSnapshot(db, task, { snapshotType, state });

const checkpoint = (db: Db, task: TaskRecord, n: number) =>
  store.createCheckpointWithSnapshot(db, task, { commitSha: `${n}`.padStart(40, "a"), branchName: "main", message: `c${n}` });

async function snapshotItem(db: Db, taskId: string, snapshotId: string) {
  return db.table.get(keys.snapshot(taskId, snapshotId));
}

async function partition(db: Db, taskId: string, prefix: string) {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :s)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":s": prefix },
    ConsistentRead: true,
  });
  return items;
}

/** Fails if a checkpoint names a missing snapshot or a snapshot names a missing object. */
async function expectNothingDangling(db: Db, taskIds: string[]) {
  for (const taskId of taskIds) {
    for (const cp of await partition(db, taskId, keys.checkpointPrefix)) {
      if (cp.conversationSnapshotId) expect(await snapshotItem(db, taskId, cp.conversationSnapshotId as string)).toBeDefined();
    }
    for (const s of await partition(db, taskId, keys.snapshotPrefix)) {
      if (s.stateBlobKey) expect(await db.blobs.exists(s.stateBlobKey as string)).toBe(true);
    }
  }
}

let restoreEnv: (() => void) | undefined;
afterEach(() => restoreEnv?.());

describe("snapshot retention", () => {
  it("expires auto and manual snapshots, keeps fresh and pinned ones, and never touches the conversation", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    const big = randomBytes(120 * 1024).toString("base64"); // incompressible: the batch goes to logs/ in S3
    await store.appendMessages(db, task, [
      { id: "m1", role: "user", content: "hello" },
      { id: "m2", role: "assistant", content: big },
    ]);
    const auto = await snap(db, task, "auto");
    const manual = await snap(db, task, "manual");
    const pinned = await snap(db, task, "auto", { supervisor: "state" });
    await store.setPinned(db, task, pinned.id, true);
    time.days(10);
    const fresh = await snap(db, task, "manual");

    time.days(29);
    const early = await runCleanup(db, quiet);
    expect(early).toMatchObject({ deleted: 0, hasMore: false, stoppedBy: "done" });

    time.days(30.01);
    const first = await runCleanup(db, quiet);
    expect(first).toMatchObject({ deleted: 2, deletedByType: { auto: 1, manual: 1, checkpoint: 0 }, cleared: 0, hasMore: false });
    expect(await snapshotItem(db, task.id, auto.id)).toBeUndefined();
    expect(await snapshotItem(db, task.id, manual.id)).toBeUndefined();
    expect(await snapshotItem(db, task.id, fresh.id)).toBeDefined();
    expect(await snapshotItem(db, task.id, pinned.id)).toBeDefined();

    time.days(400);
    const later = await runCleanup(db, quiet);
    expect(later).toMatchObject({ deleted: 1, deletedByType: { manual: 1 } });
    expect(await snapshotItem(db, task.id, fresh.id)).toBeUndefined();
    // Pinned: still there after more than a year, with its state object.
    expect((await snapshotItem(db, task.id, pinned.id))?.pinned).toBe(true);
    expect(await db.blobs.exists(pinned.stateBlobKey!)).toBe(true);
    // The log and its batch in S3 are untouched.
    const log = await partition(db, task.id, keys.logBatchPrefix);
    expect(log.map((b) => [b.seq, b.last])).toEqual([[1, 2]]);
    expect(await db.blobs.exists(log[0]!.chunkKey as string)).toBe(true);
    const whole = await store.readWholeConversation(db, (await store.getTaskRecord(db, task.ownerId, task.id))!.segments);
    expect(whole[1]!.content).toBe(big);
    // A second run finds nothing more to do.
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 0, cleared: 0, alreadyGone: 0 });
  });

  it("deletes a checkpoint snapshot and clears the checkpoint's reference; the checkpoint stays", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    const { checkpoint: cp, snapshot } = await checkpoint(db, task, 1);
    expect(cp.conversationSnapshotId).toBe(snapshot.id);
    time.days(31);
    const run = await runCleanup(db, quiet);
    expect(run).toMatchObject({ deleted: 1, cleared: 1, deletedByType: { checkpoint: 1 } });
    await expect(store.getSnapshot(db, task, snapshot.id)).rejects.toMatchObject({ status: 404 });
    const after = await store.getCheckpoint(db, task, cp.id);
    expect(after).toMatchObject({ id: cp.id, checkpointNumber: 1, commitSha: cp.commitSha });
    expect(after.conversationSnapshotId).toBeUndefined();
    await expectNothingDangling(db, [task.id]);
  });

  it("deletes the supervisor-state object with its snapshot", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    const withState = await snap(db, task, "auto", { compacted: "supervisor state" });
    const key = withState.stateBlobKey!;
    expect(key).toBe(blobKeys.snapshotState(task.ownerId, task.id, withState.id));
    expect(await db.blobs.exists(key)).toBe(true);
    time.days(31);
    const run = await runCleanup(db, quiet);
    expect(run).toMatchObject({ deleted: 1, stateObjectsDeleted: 1 });
    expect(run.s3Requests).toBeGreaterThanOrEqual(1);
    expect(await snapshotItem(db, task.id, withState.id)).toBeUndefined();
    expect(await db.blobs.exists(key)).toBe(false);
  });

  it("re-checks the owner's retention: a lengthened one moves the snapshot, a shortened one applies to later snapshots", async () => {
    const { db, time } = await setup();
    const patient = "owner-patient";
    const task = await newTask(db, patient);
    const kept = await snap(db, task, "manual");
    const oldDay = kept.expiresOn!;
    time.days(1);
    await store.setRetention(db, patient, 90);

    time.days(31);
    const run = await runCleanup(db, quiet);
    expect(run).toMatchObject({ deleted: 0, reindexed: 1 });
    const moved = (await snapshotItem(db, task.id, kept.id))!;
    const newDay = new Date(Date.parse(kept.createdAt) + 90 * DAY).toISOString().slice(0, 10);
    expect(moved).toMatchObject({ expiresOn: newDay, gsi3pk: expiryAttributes(kept, newDay).gsi3pk });
    expect(moved.gsi3pk).toMatch(/^EXPIRES#S\d+$/);
    expect(moved.gsi3sk).toBe(`${newDay}#${task.id}#${kept.id}`);
    expect(moved.expiresAt).toBeGreaterThan(Date.parse(newDay) / 1000); // the TTL backstop moved too
    const onDay = (day: string) => expiryEntriesOn(db, day);
    expect((await onDay(oldDay)).map((i) => i.id)).toEqual([]);
    expect((await onDay(newDay)).map((i) => i.id)).toEqual([kept.id]);
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 0, reindexed: 0 });

    time.days(90.01);
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 1, reindexed: 0 });
    expect(await snapshotItem(db, task.id, kept.id)).toBeUndefined();

    // Shortening: a snapshot taken before the change keeps its original day.
    const hasty = "owner-hasty";
    const task2 = await newTask(db, hasty);
    const before = await snap(db, task2, "auto");
    await store.setRetention(db, hasty, 7);
    const after = await snap(db, task2, "auto");
    time.days(98);
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 1 });
    expect(await snapshotItem(db, task2.id, after.id)).toBeUndefined();
    expect(await snapshotItem(db, task2.id, before.id)).toBeDefined();
    time.days(121);
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 1 });
    expect(await snapshotItem(db, task2.id, before.id)).toBeUndefined();
  });
});

describe("orphan sweep", () => {
  it("removes old unreferenced objects and old transfers, keeps referenced and young ones", async () => {
    const { db, time } = await setup();
    const task = await newTask(db, "owner/with/slashes");
    const owner = task.ownerId;
    // Referenced: a snapshot's state, a batch of the log too large for an item, an operation's result.
    const referenced = await snap(db, task, "auto", { state: 1 });
    await store.appendMessages(db, task, [{ id: "big one", role: "assistant", content: randomBytes(120 * 1024).toString("base64") }]);
    const [batch] = await partition(db, task.id, keys.logBatchPrefix);
    const op = await store.createOperation(db, { id: newId(), ownerId: owner, commandType: "getCheckpointDiff" });
    await store.settleOperation(db, op, { status: "succeeded", result: { diff: "d".repeat(110 * 1024) } });
    const resultKey = blobKeys.transfer(owner, `result-${op.id}`);
    // Orphans: no item names them.
    const orphanSnapshot = blobKeys.snapshotState(owner, task.id, newId());
    // A batch that lost its sequence number to another append, and one a sealed stretch took in.
    const orphanMessage = blobKeys.logChunk(owner, task.id, 1, "lost");
    const transfer = blobKeys.transfer(owner, `diff-${newId()}`);
    const unknownShape = "snapshots/README.txt";
    for (const key of [orphanSnapshot, orphanMessage, transfer, unknownShape]) await db.blobs.putJson(key, { key });
    const keepers = [referenced.stateBlobKey!, batch!.chunkKey as string, resultKey, unknownShape];
    for (const key of keepers) expect(await db.blobs.exists(key), key).toBe(true);

    // Inside the grace period: everything is young and stays.
    const young = await runCleanup(db, quiet);
    expect(young.orphans).toMatchObject({ snapshots: 0, messages: 0, transfers: 0, passComplete: true });
    expect(young.orphans.listed).toBe(7);
    for (const key of [orphanSnapshot, orphanMessage, transfer]) expect(await db.blobs.exists(key)).toBe(true);

    time.days(2);
    const old = await runCleanup(db, quiet);
    expect(old.orphans).toMatchObject({ snapshots: 1, messages: 1, transfers: 1, listed: 7, passComplete: true });
    for (const key of [orphanSnapshot, orphanMessage, transfer]) expect(await db.blobs.exists(key), key).toBe(false);
    for (const key of keepers) expect(await db.blobs.exists(key), key).toBe(true);

    // S3 stamps objects with real time: back at real time, a new orphan is inside the grace period.
    time.days(0);
    const late = blobKeys.snapshotState(owner, task.id, newId());
    await db.blobs.putJson(late, {});
    expect((await runCleanup(db, quiet)).orphans.snapshots).toBe(0);
    expect(await db.blobs.exists(late)).toBe(true);
  });

  it("is bounded per run and resumes from the last key listed", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    const orphans = Array.from({ length: 7 }, () => blobKeys.snapshotState(task.ownerId, task.id, newId()));
    for (const key of orphans) await db.blobs.putJson(key, {});
    await db.blobs.putJson(blobKeys.transfer(task.ownerId, "old-transfer"), {});
    time.days(2);
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await runCleanup(db, { ...quiet, sweepMaxKeys: 3 }));
    expect(runs.map((r) => r.orphans.listed)).toEqual([3, 3, 2, 0]);
    expect(runs.map((r) => r.orphans.snapshots)).toEqual([3, 3, 1, 0]);
    expect(runs.map((r) => r.orphans.transfers)).toEqual([0, 0, 1, 0]);
    expect(runs.map((r) => r.orphans.passComplete)).toEqual([false, false, true, true]);
    for (const key of orphans) expect(await db.blobs.exists(key)).toBe(false);
  });
});

describe("bounded, resumable, idempotent", () => {
  async function expiredWorld(db: Db, time: ReturnType<typeof testClock>, n: { tasks: number; autos: number; checkpoints: number; withState: number }) {
    const tasks = [];
    for (let t = 0; t < n.tasks; t++) tasks.push(await newTask(db, `owner-${t % 2}`));
    const created: Array<{ taskId: string; id: string; stateBlobKey?: string }> = [];
    for (let i = 0; i < n.autos; i++) created.push(await snap(db, tasks[i % tasks.length]!, i % 2 ? "auto" : "manual"));
    for (let i = 0; i < n.withState; i++) created.push(await snap(db, tasks[i % tasks.length]!, "auto", { i }));
    const checkpoints = [];
    for (let i = 0; i < n.checkpoints; i++) {
      const task = (await store.getTaskRecord(db, tasks[i % tasks.length]!.ownerId, tasks[i % tasks.length]!.id))!;
      const made = await checkpoint(db, task, i);
      created.push(made.snapshot);
      checkpoints.push(made.checkpoint);
    }
    // Spread over several expiry days.
    for (const [i, s] of created.entries()) {
      if (i % 3 === 0) continue;
      const day = new Date(Date.now() + (30 + (i % 3)) * DAY).toISOString().slice(0, 10);
      const index = expiryAttributes(s, day);
      await db.table.update(keys.snapshot(s.taskId, s.id), {
        UpdateExpression: "SET expiresOn = :d, gsi3pk = :g, gsi3sk = :gs",
        ExpressionAttributeValues: { ":d": day, ":g": index.gsi3pk, ":gs": index.gsi3sk },
      });
    }
    time.days(35);
    return { tasks, created, checkpoints };
  }

  it("a run cut off by its entry limit or time budget finishes on the next run", async () => {
    const { db, time } = await setup();
    const world = await expiredWorld(db, time, { tasks: 3, autos: 12, checkpoints: 12, withState: 6 });
    const lines: string[] = [];
    const out = await runCleanup(db, { timeBudgetMs: 0, log: (l) => lines.push(l) });
    expect(out).toMatchObject({ deleted: 0, hasMore: true, stoppedBy: "time" });
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "cleanup run", deleted: 0, hasMore: true });

    const runs = [];
    for (let i = 0; i < 10; i++) {
      const run = await runCleanup(db, { ...quiet, batchSize: 4, maxEntries: 11 });
      runs.push(run);
      if (!run.hasMore) break;
    }
    expect(runs.map((r) => r.deleted)).toEqual([11, 11, 8]);
    expect(runs.map((r) => r.stoppedBy)).toEqual(["limit", "limit", "done"]);
    expect(runs.reduce((n, r) => n + r.cleared, 0)).toBe(12);
    expect(runs.reduce((n, r) => n + r.stateObjectsDeleted, 0)).toBe(6);
    for (const s of world.created) expect(await snapshotItem(db, s.taskId, s.id)).toBeUndefined();
    for (const s of world.created) if (s.stateBlobKey) expect(await db.blobs.exists(s.stateBlobKey)).toBe(false);
    await expectNothingDangling(db, world.tasks.map((t) => t.id));
    // The cursor moved up to today, so the next run queries one day.
    const state = await db.table.get(cleanupStateKey);
    expect(state?.oldestDay).toBe(db.clock().toISOString().slice(0, 10));

    // Every run was recorded; the operator reads them newest first.
    const recorded = await listCleanupRuns(db, 10);
    expect(recorded.items.map((r) => r.deleted)).toEqual([8, 11, 11, 0]);
    expect(recorded.items[0]).toMatchObject({ runId: runs[2]!.runId, hasMore: false, capacity: { write: expect.any(Number) } });
    expect(recorded.items[0]!.capacity.write).toBeGreaterThan(0);
    const page = await listCleanupRuns(db, 3);
    expect(page.items).toHaveLength(3);
    expect((await listCleanupRuns(db, 3, page.nextCursor!)).items.map((r) => r.deleted)).toEqual([0]);
  });

  it("after a crash between the item deletes and the S3 deletes, the next run leaves nothing behind", async () => {
    const { db, time } = await setup();
    const world = await expiredWorld(db, time, { tasks: 2, autos: 2, checkpoints: 3, withState: 4 });
    // The first Lambda dies as it reaches S3: the call never returns.
    const crashing = sameTable(db);
    let reachedS3!: () => void;
    const atS3 = new Promise<void>((resolve) => (reachedS3 = resolve));
    crashing.blobs.deleteMany = () => {
      reachedS3();
      return new Promise<number>(() => {});
    };
    void runCleanup(crashing, quiet);
    await atS3;
    // Items and references are gone together; the objects are left behind as orphans, named by nothing.
    for (const s of world.created) expect(await snapshotItem(db, s.taskId, s.id)).toBeUndefined();
    for (const cp of world.checkpoints) expect((await db.table.get(keys.checkpoint(cp.taskId, cp.checkpointNumber)))?.conversationSnapshotId).toBeUndefined();
    const objects = world.created.flatMap((s) => (s.stateBlobKey ? [s.stateBlobKey] : []));
    expect(objects).toHaveLength(4);
    for (const key of objects) expect(await db.blobs.exists(key)).toBe(true);
    await expectNothingDangling(db, world.tasks.map((t) => t.id));

    const next = await runCleanup(db, quiet);
    expect(next).toMatchObject({ deleted: 0, cleared: 0, orphans: { snapshots: 4 } });
    for (const key of objects) expect(await db.blobs.exists(key)).toBe(false);
    for (const cp of world.checkpoints) expect(await db.table.get(keys.checkpoint(cp.taskId, cp.checkpointNumber))).toBeDefined();
  });

  it("two runs at once delete each snapshot exactly once", async () => {
    const { db, time } = await setup();
    const world = await expiredWorld(db, time, { tasks: 4, autos: 16, checkpoints: 16, withState: 8 });
    const fresh = await snap(db, world.tasks[0]!, "auto");
    const options = { ...quiet, batchSize: 5, concurrency: 4 };
    const [a, b] = await Promise.all([runCleanup(db, options), runCleanup(sameTable(db), options)]);
    expect(a.deleted + b.deleted).toBe(40);
    expect(a.cleared + b.cleared).toBe(16);
    expect(a.stateObjectsDeleted + b.stateObjectsDeleted).toBe(8);
    expect(a.errors + b.errors).toBe(0);
    for (const s of world.created) expect(await snapshotItem(db, s.taskId, s.id)).toBeUndefined();
    for (const s of world.created) if (s.stateBlobKey) expect(await db.blobs.exists(s.stateBlobKey)).toBe(false);
    expect(await snapshotItem(db, fresh.taskId, fresh.id)).toBeDefined();
    await expectNothingDangling(db, world.tasks.map((t) => t.id));
    for (const cp of world.checkpoints) expect(await db.table.get(keys.checkpoint(cp.taskId, cp.checkpointNumber))).toBeDefined();
    expect(await runCleanup(db, quiet)).toMatchObject({ deleted: 0, cleared: 0 });
  });
});

describe("functions/cleanup handler", () => {
  const scheduled = awsEvent("scheduled.json");
  const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

  it("runs on AWS's scheduled event with the configuration from the environment", async () => {
    // Snapshots taken 40 days ago by the test's clock; the handler runs on real time.
    const time = testClock();
    time.days(-40);
    const db = await createTestDb({ clock: time.clock });
    const task = await newTask(db);
    const old = await snap(db, task, "auto", { s: 1 });
    const { checkpoint: cp } = await checkpoint(db, task, 1);
    time.days(-5);
    const recent = await snap(db, task, "manual");

    const saved = { ...process.env };
    restoreEnv = () => {
      process.env = saved;
    };
    Object.assign(process.env, {
      MAKIMA_TABLE: db.config.tableName,
      MAKIMA_BUCKET: db.config.bucketName,
      MAKIMA_DYNAMO_ENDPOINT: db.config.dynamoEndpoint,
      MAKIMA_S3_ENDPOINT: db.config.s3Endpoint,
    });
    const { result: summary, lines } = await captureStdout(() => handler(scheduled, context(300_000)));
    expect(summary).toMatchObject({ trigger: "schedule:aws.events", scheduledTime: "2015-10-08T16:53:06.000Z", deleted: 2, cleared: 1, stateObjectsDeleted: 1, hasMore: false });
    expect(jsonLines(lines).find((l) => l.message === "cleanup run")).toMatchObject({ level: "INFO", deleted: 2, runId: summary.runId });
    expect(await snapshotItem(db, task.id, old.id)).toBeUndefined();
    expect(await db.blobs.exists(old.stateBlobKey!)).toBe(false);
    expect(await snapshotItem(db, task.id, recent.id)).toBeDefined();
    expect((await store.getCheckpoint(db, task, cp.id)).conversationSnapshotId).toBeUndefined();
    expect((await listCleanupRuns(db, 5)).items.map((r) => r.runId)).toEqual([summary.runId]);
  });

  it("accepts the Scheduler input and an empty event, and honours a nearly spent Lambda", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    await snap(db, task, "auto");
    time.days(31);
    const run = makeHandler(db, quiet);
    const spent = await run({}, context(0));
    expect(spent).toMatchObject({ trigger: "invoke", deleted: 0, hasMore: true, stoppedBy: "time" });
    const schedulerInput = { source: "makima.cleanup", "detail-type": "Scheduled Event", time: "2026-03-01T10:00:00Z", detail: {} };
    const done = await run(schedulerInput, context(60_000));
    expect(done).toMatchObject({ trigger: "schedule:makima.cleanup", scheduledTime: "2026-03-01T10:00:00.000Z", deleted: 1, hasMore: false });
    // Scheduler's placeholder left unsubstituted is not a time.
    const raw = await run({ ...schedulerInput, time: "<aws.scheduler.scheduled-time>" }, context(60_000));
    expect(raw.scheduledTime).toBeUndefined();
  });
});

describe("local stack timer", () => {
  it("runs the job on its interval, one pass at a time, until stopped", async () => {
    const { db, time } = await setup();
    const task = await newTask(db);
    const expired = await snap(db, task, "auto");
    time.days(31);
    const timer = startCleanupTimer(db, 100, { ...quiet, runAtStart: false });
    try {
      const [a, b] = await Promise.all([timer.runNow(), timer.runNow()]);
      expect(a).toBe(b); // the second call joined the pass under way
      expect(a).toMatchObject({ trigger: "local-timer", deleted: 1 });
      expect(await snapshotItem(db, task.id, expired.id)).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      await timer.stop();
    }
    const runs = (await listCleanupRuns(db, 50)).items.length;
    expect(runs).toBeGreaterThanOrEqual(2); // runNow, then at least one tick
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await listCleanupRuns(db, 50)).items.length).toBe(runs);
  });
});
