import { SnapshotRecord, TaskCheckpoint, type ConversationSegment, type CreateCheckpointRequest, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound } from "../errors.js";
import { type Db, nowIso } from "./db.js";
import { cancellationReasons, isExpired, type Item, type TransactItem } from "./table.js";
import { isWriteConflict, retryOnConflict } from "./conflicts.js";
import { clipSegments, countOf } from "./segments.js";
import { buildSnapshot, snapshotItem } from "./snapshots.js";
import { ReportOutOfOrder, reportGuard, type ReportPosition } from "./reportOrder.js";
import { queryPage, type Page } from "./paging.js";

/**
 * A checkpoint and its `checkpoint` snapshot, written in one transaction with
 * its pointers (by id, by commit, by message count → number); the number is
 * claimed by a conditional put, so concurrent checkpoints of a task get 1, 2,
 * 3… without gaps or repeats.
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
  const guard = report ? reportGuard(report, task.reportStream) : undefined;
  const checkpointId = newId();
  const [snapshot, lastNumber] = await Promise.all([
    buildSnapshot(db, task, { snapshotType: "checkpoint", checkpointId }),
    lastCheckpointNumber(db, task.id),
  ]);
  let number = lastNumber + 1;
  // The number was taken, or another transaction met this one: try the next free number.
  return retryOnConflict(
    async (attempt) => {
      if (attempt > 0) number = (await lastCheckpointNumber(db, task.id)) + 1;
      const checkpoint = TaskCheckpoint.parse({
        id: checkpointId,
        taskId: task.id,
        checkpointNumber: number,
        ...input,
        conversationSnapshotId: snapshot.id,
        messageCount: snapshot.messageCount,
        createdAt: nowIso(db),
      });
      const pointer = { ownerId: task.ownerId, checkpointNumber: number, commitSha: checkpoint.commitSha, conversationSnapshotId: snapshot.id };
      try {
        await db.table.transact([
          {
            Put: {
              Item: { ...keys.checkpoint(task.id, number), ownerId: task.ownerId, ...checkpoint },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          ...(guard
            ? [{ Update: { Key: keys.task(task.id), UpdateExpression: `SET ${guard.set}`, ConditionExpression: guard.condition, ExpressionAttributeValues: guard.values } }]
            : []),
          { Put: { Item: { ...keys.checkpointById(task.id, checkpointId), ownerId: task.ownerId, checkpointNumber: number } } },
          { Put: { Item: { ...keys.checkpointBySha(task.id, checkpoint.commitSha, number), ...pointer } } },
          { Put: { Item: { ...keys.checkpointByCount(task.id, snapshot.messageCount, number), ...pointer } } },
          { Put: { Item: snapshotItem(snapshot) } },
          ...alsoWrite(checkpoint, snapshot),
        ]);
      } catch (error) {
        if (report && cancellationReasons(error)?.[1] === "ConditionalCheckFailed") throw new ReportOutOfOrder(report);
        throw error;
      }
      return { checkpoint, snapshot };
    },
    isWriteConflict,
    { attempts: 50 },
  );
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

/**
 * Whether the task has checkpoints from before the pointers by commit and by
 * message count: its first checkpoint has none. Two reads, made only when a
 * pointer lookup found nothing.
 */
async function hasUnpointedCheckpoints(db: Db, task: TaskRecord): Promise<boolean> {
  const first = await getCheckpointByNumber(db, task, 1);
  return first !== undefined && (await db.table.get(keys.checkpointBySha(task.id, first.commitSha, 1))) === undefined;
}

/** How many checkpoints from before the pointers a search by commit looks through, newest first. */
const UNPOINTED_SHA_SEARCH = 1000;

/**
 * The latest checkpoint of a task at a commit (a prefix of its SHA is
 * enough; one that names checkpoints at several commits is refused): the
 * pointers by commit, read newest first, one item. Checkpoints from before
 * those pointers are searched as they were stored, when nothing else matched.
 */
export async function findCheckpointBySha(db: Db, task: TaskRecord, sha: string): Promise<TaskCheckpoint> {
  const prefix = sha.toLowerCase();
  const byCommit = (forward: boolean) =>
    db.table.query({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :s)",
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":s": `${keys.checkpointShaPrefix}${prefix}` },
      ScanIndexForward: forward,
      Limit: 1,
      ConsistentRead: true,
    });
  const [newest] = (await byCommit(false)).items;
  if (newest && newest.ownerId === task.ownerId) {
    if (newest.commitSha !== prefix) {
      const [lowest] = (await byCommit(true)).items;
      if (lowest && lowest.commitSha !== newest.commitSha) {
        throw badRequest(`${sha} is the start of more than one checkpointed commit; give more of the SHA`, "checkpointSha");
      }
    }
    const checkpoint = await getCheckpointByNumber(db, task, newest.checkpointNumber as number);
    if (checkpoint) return checkpoint;
  }
  if (!newest && (await hasUnpointedCheckpoints(db, task))) {
    const item = await db.table.queryFirst({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
      FilterExpression: "begins_with(commitSha, :sha)",
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":c": keys.checkpointPrefix, ":sha": prefix },
      ScanIndexForward: false,
      ConsistentRead: true,
    }, UNPOINTED_SHA_SEARCH);
    if (item && item.ownerId === task.ownerId) return TaskCheckpoint.parse(item);
  }
  throw notFound(`checkpoint at commit ${sha}`);
}

/**
 * The latest checkpoint taken at or before a time. Numbers are claimed in
 * the order checkpoints are made, so their times ascend with them: a binary
 * search over the numbers, one read per halving.
 */
export async function latestCheckpointAtOrBefore(db: Db, task: TaskRecord, at: Date): Promise<TaskCheckpoint | undefined> {
  let low = 1;
  let high = await lastCheckpointNumber(db, task.id);
  let found: number | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const item = await db.table.get(keys.checkpoint(task.id, middle), { ProjectionExpression: "createdAt" });
    if (item && Date.parse(item.createdAt as string) <= at.getTime()) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found === undefined ? undefined : getCheckpointByNumber(db, task, found);
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
 * of history and not to one a rewind abandoned. The pointers by message
 * count are read in reverse from the kept point (the most messages first,
 * then the newest), a bounded number of them; a checkpoint whose snapshot
 * retention removed cannot be placed and is passed over.
 */
export async function checkpointOnConversation(db: Db, task: TaskRecord, kept: ConversationSegment[]): Promise<TaskCheckpoint | undefined> {
  const count = countOf(kept);
  const onKept = async (snapshotId: unknown) => {
    if (typeof snapshotId !== "string") return false;
    const snapshot = await db.table.get(keys.snapshot(task.id, snapshotId));
    return snapshot !== undefined && !isExpired(db, snapshot) && isPrefixOf(SnapshotRecord.parse(snapshot).segments, kept);
  };
  let startKey: Item | undefined;
  let looked = 0;
  do {
    const page = await db.table.query({
      KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":lo": keys.checkpointCountPrefix, ":hi": keys.checkpointCountUpTo(count) },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: 25,
      ExclusiveStartKey: startKey,
    });
    looked += page.items.length;
    for (const pointer of page.items) {
      if (pointer.ownerId !== task.ownerId || !(await onKept(pointer.conversationSnapshotId))) continue;
      const checkpoint = await getCheckpointByNumber(db, task, pointer.checkpointNumber as number);
      if (checkpoint?.conversationSnapshotId === pointer.conversationSnapshotId) return checkpoint;
    }
    startKey = page.lastKey;
  } while (startKey && looked < KEPT_BRANCH_SEARCH);
  if (!(await hasUnpointedCheckpoints(db, task))) return undefined;
  return checkpointOnConversationUnpointed(db, task, kept, onKept);
}

/** The same search over checkpoints from before the pointers: newest first among those with at most as many messages. */
async function checkpointOnConversationUnpointed(
  db: Db,
  task: TaskRecord,
  kept: ConversationSegment[],
  onKept: (snapshotId: unknown) => Promise<boolean>,
): Promise<TaskCheckpoint | undefined> {
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
      if (await onKept(checkpoint.conversationSnapshotId)) return checkpoint;
    }
    startKey = page.lastKey;
  } while (startKey && looked < KEPT_BRANCH_SEARCH);
  return undefined;
}

/** Whether the task already has a checkpoint at this commit (a daemon resending its report): one read of the commit pointer. */
export async function hasCheckpointAt(db: Db, taskId: string, commitSha: string): Promise<boolean> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :s)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":s": `${keys.checkpointShaPrefix}${commitSha.toLowerCase()}#` },
    Limit: 1,
    ConsistentRead: true,
    ProjectionExpression: "checkpointNumber",
  });
  return items.length > 0;
}
