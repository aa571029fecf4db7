import { SnapshotRecord, TaskCheckpoint, type ConversationSegment, type CreateCheckpointRequest, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { notFound } from "../errors.js";
import { type Db, nowIso } from "./db.js";
import { backoff, cancellationReasons, isExpired, type Item, type TransactItem } from "./table.js";
import { clipSegments, countOf } from "./segments.js";
import { buildSnapshot, snapshotItem } from "./snapshots.js";
import { ReportOutOfOrder, reportGuard, type ReportPosition } from "./reportOrder.js";
import { queryPage, type Page } from "./paging.js";

/**
 * A checkpoint and its `checkpoint` snapshot, written in one transaction with
 * the id → number pointer; the number is claimed by a conditional put, so
 * concurrent checkpoints of a task get 1, 2, 3… without gaps or repeats.
 */
export async function createCheckpointWithSnapshot(
  db: Db,
  task: TaskRecord,
  input: CreateCheckpointRequest,
  /** A daemon report: the checkpoint is stored with its report number, once and in order (ReportOutOfOrder otherwise). */
  report?: ReportPosition,
  /** Written in the same transaction (the checkpoint's history event). */
  alsoWrite: (checkpoint: TaskCheckpoint, snapshot: SnapshotRecord) => TransactItem[] = () => [],
): Promise<{ checkpoint: TaskCheckpoint; snapshot: SnapshotRecord }> {
  const guard = report ? reportGuard(report) : undefined;
  const checkpointId = newId();
  const snapshot = await buildSnapshot(db, task, { snapshotType: "checkpoint", checkpointId });
  let number = (await lastCheckpointNumber(db, task.id)) + 1;
  for (let attempt = 0; ; attempt++) {
    const checkpoint = TaskCheckpoint.parse({
      id: checkpointId,
      taskId: task.id,
      checkpointNumber: number,
      ...input,
      conversationSnapshotId: snapshot.id,
      messageCount: snapshot.messageCount,
      createdAt: nowIso(db),
    });
    try {
      await db.table.transact([
        {
          Put: {
            Item: { ...keys.checkpoint(task.id, number), ownerId: task.ownerId, ...checkpoint },
            ConditionExpression: "attribute_not_exists(pk)",
          },
        },
        { Put: { Item: { ...keys.checkpointById(task.id, checkpointId), ownerId: task.ownerId, checkpointNumber: number } } },
        { Put: { Item: snapshotItem(snapshot) } },
        ...(guard
          ? [{ Update: { Key: keys.task(task.id), UpdateExpression: `SET ${guard.set}`, ConditionExpression: guard.condition, ExpressionAttributeValues: guard.values } }]
          : []),
        ...alsoWrite(checkpoint, snapshot),
      ]);
      return { checkpoint, snapshot };
    } catch (error) {
      const reasons = cancellationReasons(error);
      if (report && reasons?.[3] === "ConditionalCheckFailed") throw new ReportOutOfOrder(report);
      // The number was taken, or another transaction met this one: try the next free number.
      if (!reasons || !reasons.some((r) => r === "ConditionalCheckFailed" || r === "TransactionConflict")) throw error;
      await backoff(attempt);
      number = (await lastCheckpointNumber(db, task.id)) + 1;
    }
  }
}

async function lastCheckpointNumber(db: Db, taskId: string): Promise<number> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":c": keys.checkpointPrefix },
    ScanIndexForward: false,
    Limit: 1,
    ConsistentRead: true,
    ProjectionExpression: "checkpointNumber",
  });
  return (items[0]?.checkpointNumber as number | undefined) ?? 0;
}

export async function getCheckpointByNumber(db: Db, task: TaskRecord, number: number): Promise<TaskCheckpoint | undefined> {
  const item = await db.table.get(keys.checkpoint(task.id, number));
  return item && item.ownerId === task.ownerId ? TaskCheckpoint.parse(item) : undefined;
}

/** A checkpoint of this task; one of another task (or owner) is not found. */
export async function getCheckpoint(db: Db, task: TaskRecord, checkpointId: string): Promise<TaskCheckpoint> {
  const pointer = await db.table.get(keys.checkpointById(task.id, checkpointId));
  const checkpoint =
    pointer && pointer.ownerId === task.ownerId
      ? await getCheckpointByNumber(db, task, pointer.checkpointNumber as number)
      : undefined;
  if (!checkpoint) throw notFound("checkpoint");
  return checkpoint;
}

/** A checkpoint with the one before it (what its diff is taken against). */
export async function getCheckpointInfo(
  db: Db,
  task: TaskRecord,
  checkpointId: string,
): Promise<{ checkpoint: TaskCheckpoint; previous?: TaskCheckpoint }> {
  const checkpoint = await getCheckpoint(db, task, checkpointId);
  const previous =
    checkpoint.checkpointNumber > 1 ? await getCheckpointByNumber(db, task, checkpoint.checkpointNumber - 1) : undefined;
  return { checkpoint, previous };
}

/** checkpointNumber ascending. */
export function listCheckpoints(db: Db, task: TaskRecord, limit: number, cursor?: string): Promise<Page<TaskCheckpoint>> {
  return queryPage(db, {
    scope: `checkpoints:${task.id}`,
    cursor,
    limit,
    forward: true,
    keyCondition: "pk = :p AND begins_with(sk, :c)",
    values: { ":p": keys.taskPartition(task.id), ":c": keys.checkpointPrefix },
    parse: (item) => TaskCheckpoint.parse(item),
  });
}

/** The latest checkpoint of a task at a commit (a prefix of its SHA is enough). */
export async function findCheckpointBySha(db: Db, task: TaskRecord, sha: string): Promise<TaskCheckpoint> {
  const item = await db.table.queryFirst({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
    FilterExpression: "begins_with(commitSha, :sha)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":c": keys.checkpointPrefix, ":sha": sha.toLowerCase() },
    ScanIndexForward: false,
    ConsistentRead: true,
  });
  if (!item) throw notFound(`checkpoint at commit ${sha}`);
  return TaskCheckpoint.parse(item);
}


/** The latest checkpoint (highest number) that `matches`: where the code was at some point. */
export async function latestCheckpointWhere(
  db: Db,
  task: TaskRecord,
  matches: (checkpoint: TaskCheckpoint) => boolean,
): Promise<TaskCheckpoint | undefined> {
  let chosen: TaskCheckpoint | undefined;
  let cursor: string | undefined;
  do {
    const page = await listCheckpoints(db, task, 200, cursor);
    for (const c of page.items) if (matches(c)) chosen = c;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return chosen;
}

/** How many checkpoints at or below the kept point a search for one on the kept conversation looks at. */
const KEPT_BRANCH_SEARCH = 100;

/** Runs of sequence numbers as one canonical list (adjacent runs of one log merged), to compare conversations. */
function canonical(segments: ConversationSegment[]): ConversationSegment[] {
  const out: ConversationSegment[] = [];
  for (const s of segments) {
    if (s.to !== null && s.to < s.from) continue;
    const last = out.at(-1);
    if (last && last.taskId === s.taskId && last.to !== null && last.to + 1 === s.from) out[out.length - 1] = { ...last, to: s.to };
    else out.push({ ...s });
  }
  return out;
}

/** Whether the conversation `prefix` is the start of `whole` (both closed). */
export function isPrefixOf(prefix: ConversationSegment[], whole: ConversationSegment[]): boolean {
  const count = countOf(prefix);
  if (count > countOf(whole)) return false;
  return JSON.stringify(canonical(prefix)) === JSON.stringify(canonical(clipSegments(whole, count)));
}

/**
 * The latest checkpoint taken on the conversation `kept` (closed segments):
 * its snapshot saw a prefix of it, so the code it names belongs to that line
 * of history and not to one a rewind abandoned. Read newest first among the
 * checkpoints with at most as many messages, a bounded number of them; a
 * checkpoint whose snapshot retention removed cannot be placed and is passed over.
 */
export async function checkpointOnConversation(db: Db, task: TaskRecord, kept: ConversationSegment[]): Promise<TaskCheckpoint | undefined> {
  let startKey: Item | undefined;
  let looked = 0;
  do {
    const page = await db.table.query({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
      FilterExpression: "messageCount <= :n",
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":c": keys.checkpointPrefix, ":n": countOf(kept) },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: 25,
      ExclusiveStartKey: startKey,
    });
    looked += page.scanned;
    for (const item of page.items) {
      const checkpoint = TaskCheckpoint.parse(item);
      if (!checkpoint.conversationSnapshotId) continue;
      const snapshot = await db.table.get(keys.snapshot(task.id, checkpoint.conversationSnapshotId));
      if (!snapshot || isExpired(db, snapshot)) continue;
      if (isPrefixOf(SnapshotRecord.parse(snapshot).segments, kept)) return checkpoint;
    }
    startKey = page.lastKey;
  } while (startKey && looked < KEPT_BRANCH_SEARCH);
  return undefined;
}

/** Whether one of the task's latest 20 checkpoints is already at this commit (a daemon resending its report). */
export async function hasRecentCheckpointAt(db: Db, taskId: string, commitSha: string): Promise<boolean> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":c": keys.checkpointPrefix },
    ScanIndexForward: false,
    Limit: 20,
    ConsistentRead: true,
    ProjectionExpression: "commitSha",
  });
  const sha = commitSha.toLowerCase();
  return items.some((item) => item.commitSha === sha);
}
