import { SnapshotRecord, TaskCheckpoint, type ConversationSegment, type CreateCheckpointRequest, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound } from "../errors.js";
import { type Db } from "./db.js";
import { cancellationReasons, cancellationReasonsByName, isExpired, writesOf, type Item, type Key, type TransactItem } from "./table.js";
import { isWriteConflict, retryOnConflict } from "./conflicts.js";
import { clipSegments, countOf } from "./segments.js";
import { buildSnapshot, snapshotItem } from "./snapshots.js";
import { ReportOutOfOrder, reportGuard, type ReportPosition } from "./reportOrder.js";
import { queryPage, queryPages, type Page } from "./paging.js";
import { newHistoryEvent, type NewHistoryEvent } from "./history.js";
import { CHECKPOINT_HOST, hostedEvent } from "./hostedEvents.js";

/**
 * A checkpoint and its `checkpoint` snapshot. The number is claimed by a
 * conditional put in a transaction with the checkpoint's history event, so
 * concurrent checkpoints of a task get 1, 2, 3… without gaps or repeats;
 * the checkpoint's id carries its number (checkpointIdFor).
 *
 * Its snapshot and its pointers (by commit, by message count → number) are
 * hints, written just before the transaction at the plain rate (a
 * transaction prices each item twice). Every attempt writes keys of its own
 * (the snapshot's is rewritten with each attempt's number), so a hint never
 * overwrites another checkpoint's; a reader believes one only when the
 * checkpoint it names agrees with it (`vouches` here, snapshots.ts
 * `vouched`); the transaction checks that the snapshot is still there, so a
 * cleanup that took it for unreferenced in between sends the attempt round
 * again instead of leaving a checkpoint naming a deleted snapshot. The hints of a refused attempt are deleted; those of an
 * attempt cut short by a crash stay, unbelieved (retention removes the
 * snapshot in time).
 */
export async function createCheckpointWithSnapshot(
  db: Db,
  task: TaskRecord,
  input: CreateCheckpointRequest,
  /** A daemon report: the checkpoint is stored with its report number, once and in order (ReportOutOfOrder otherwise). */
  report?: ReportPosition,
  /** The checkpoint's history event, hosted by the checkpoint (hostedEvents.ts). */
  event?: (checkpoint: TaskCheckpoint, snapshot: SnapshotRecord) => NewHistoryEvent,
): Promise<{ checkpoint: TaskCheckpoint; snapshot: SnapshotRecord }> {
  const guard = report ? reportGuard(report, task.reportStream) : undefined;
  const [built, first] = await Promise.all([buildSnapshot(db, task, { snapshotType: "checkpoint" }), lastCheckpoint(db, task.id)]);
  let last = first;
  // The number was taken, or another transaction met this one: try the next free number.
  return retryOnConflict(
    async (attempt) => {
      if (attempt > 0) last = await lastCheckpoint(db, task.id);
      const number = last.number + 1;
      // Times ascend with numbers, whatever the writers' clocks say.
      const at = new Date(Math.max(db.clock().getTime(), last.at + 1));
      const checkpointId = checkpointIdFor(number, at);
      const snapshot = { ...built, checkpointId, checkpointNumber: number };
      const checkpoint = TaskCheckpoint.parse({
        id: checkpointId,
        taskId: task.id,
        checkpointNumber: number,
        ...input,
        conversationSnapshotId: snapshot.id,
        messageCount: snapshot.messageCount,
        createdAt: at.toISOString(),
      });
      const item = { ...keys.checkpoint(task.id, number), ownerId: task.ownerId, ...checkpoint };
      const hosted = event ? hostedEvent(newHistoryEvent(event(checkpoint, snapshot), at), CHECKPOINT_HOST, item) : undefined;
      const hints = [...pointerItems(task.id, checkpoint), snapshotItem(snapshot)];
      await db.table.batchWrite(hints.map((put) => ({ put })));
      const writes = {
        checkpoint: { Put: { Item: { ...item, ...(hosted ? { historyEvent: hosted.historyEvent } : {}) }, ConditionExpression: "attribute_not_exists(pk)" } },
        report: guard ? reportUpdate(task.id, guard) : undefined,
        event: (hosted?.items ?? []).map((Item) => ({ Put: { Item } })),
        // Its snapshot is still there: retention deletes a snapshot no checkpoint names, as this one's was until now
        // (refused, the next attempt writes it again).
        snapshot: { ConditionCheck: { Key: keys.snapshot(task.id, snapshot.id), ConditionExpression: "attribute_exists(pk)" } },
      };
      try {
        await db.table.transact(writesOf(writes));
      } catch (error) {
        // Refused, so not written: this attempt's hints go. After an error of unknown outcome they stay, in case it went through.
        if (cancellationReasons(error)) await db.table.batchWrite(hints.map(({ pk, sk }) => ({ delete: { pk, sk } }))).catch(() => undefined);
        if (report && cancellationReasonsByName(error, writes)?.report === "ConditionalCheckFailed") throw new ReportOutOfOrder(report);
        throw error;
      }
      return { checkpoint, snapshot };
    },
    isWriteConflict,
    { attempts: 50 },
  );
}

/** The checkpoint transaction's write to the task item for a daemon report: its number, conditional on its predecessor's. */
function reportUpdate(taskId: string, guard: ReturnType<typeof reportGuard>): TransactItem {
  return { Update: { Key: keys.task(taskId), UpdateExpression: `SET ${guard.set}`, ConditionExpression: guard.condition, ExpressionAttributeValues: guard.values } };
}

/**
 * A checkpoint's id: a UUIDv7 of its time whose last 48 bits are its number
 * in the task, so that finding it by id is one read of the checkpoint, which
 * must carry that id (no pointer item by id).
 */
export function checkpointIdFor(number: number, at: Date): string {
  return `${newId(at).slice(0, 24)}${number.toString(16).padStart(12, "0")}`;
}

/** The number a checkpoint id names, if it names one. */
export function numberInCheckpointId(id: string): number | undefined {
  const n = parseInt(id.slice(24), 16);
  return /^[0-9a-f]{12}$/.test(id.slice(24)) && n >= 1 && n <= MAX_CHECKPOINT_NUMBER ? n : undefined;
}

/** Checkpoint numbers are six digits in keys. */
const MAX_CHECKPOINT_NUMBER = 999_999;

/** A checkpoint's pointers: by commit and by message count; each names the number, and the id in its key. */
function pointerItems(taskId: string, c: TaskCheckpoint): Array<Item & Key> {
  const n = c.checkpointNumber;
  return [
    { ...keys.checkpointBySha(taskId, c.commitSha, n, c.id), checkpointNumber: n },
    { ...keys.checkpointByCount(taskId, c.messageCount ?? 0, n, c.id), checkpointNumber: n },
  ];
}

/** Whether a checkpoint agrees with a pointer to it (…#<number>#<checkpoint id>): the same id. */
function vouches(checkpoint: TaskCheckpoint | undefined, pointer: Item): checkpoint is TaskCheckpoint {
  return checkpoint !== undefined && checkpoint.id === String(pointer.sk).split("#")[3];
}

/** How many pointers a lookup reads past before giving up on finding one a checkpoint vouches for. */
const POINTER_SEARCH = 50;

/** The checkpoint of the first pointer of a key range, in order, that it vouches for (and `accept` takes). */
async function firstVouched(
  db: Db,
  task: TaskRecord,
  range: { keyCondition: string; values: Record<string, unknown>; forward: boolean },
  accept: (checkpoint: TaskCheckpoint) => Promise<boolean> = async () => true,
  most = POINTER_SEARCH,
): Promise<TaskCheckpoint | undefined> {
  const pointers = queryPages(
    db,
    {
      KeyConditionExpression: range.keyCondition,
      ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ...range.values },
      ScanIndexForward: range.forward,
      ConsistentRead: true,
      Limit: 25,
    },
    most,
  );
  for await (const page of pointers) {
    for (const pointer of page) {
      const checkpoint = await getCheckpointByNumber(db, task, pointer.checkpointNumber as number);
      if (vouches(checkpoint, pointer) && (await accept(checkpoint))) return checkpoint;
    }
  }
  return undefined;
}

/** The task's latest checkpoint: its number and time (epoch ms); 0 and 0 before the first. */
async function lastCheckpoint(db: Db, taskId: string): Promise<{ number: number; at: number }> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :c)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":c": keys.checkpointPrefix },
    ScanIndexForward: false,
    Limit: 1,
    ConsistentRead: true,
    ProjectionExpression: "checkpointNumber, createdAt",
  });
  const item = items[0];
  return item ? { number: item.checkpointNumber as number, at: Date.parse(item.createdAt as string) } : { number: 0, at: 0 };
}

export async function getCheckpointByNumber(db: Db, task: TaskRecord, number: number): Promise<TaskCheckpoint | undefined> {
  const item = await db.table.get(keys.checkpoint(task.id, number));
  return item && item.ownerId === task.ownerId ? TaskCheckpoint.parse(item) : undefined;
}

/**
 * A checkpoint of this task; one of another task (or owner) is not found.
 * The number in its id says where it is (checkpointIdFor).
 */
export async function getCheckpoint(db: Db, task: TaskRecord, checkpointId: string): Promise<TaskCheckpoint> {
  const n = numberInCheckpointId(checkpointId);
  const checkpoint = n === undefined ? undefined : await getCheckpointByNumber(db, task, n);
  if (checkpoint?.id !== checkpointId) throw notFound("checkpoint");
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
 * The latest checkpoint of a task at a commit (a prefix of its SHA is
 * enough; one that names checkpoints at several commits is refused): the
 * pointers by commit, read newest first, one item.
 */
export async function findCheckpointBySha(db: Db, task: TaskRecord, sha: string): Promise<TaskCheckpoint> {
  const prefix = sha.toLowerCase();
  const byCommit = (forward: boolean) =>
    firstVouched(db, task, { keyCondition: "pk = :p AND begins_with(sk, :s)", values: { ":s": `${keys.checkpointShaPrefix}${prefix}` }, forward });
  const newest = await byCommit(false);
  if (newest) {
    if (newest.commitSha !== prefix) {
      const lowest = await byCommit(true);
      if (lowest && lowest.commitSha !== newest.commitSha) {
        throw badRequest(`${sha} is the start of more than one checkpointed commit; give more of the SHA`, "checkpointSha");
      }
    }
    return newest;
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
  let high = (await lastCheckpoint(db, task.id)).number;
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
function isPrefixOf(prefix: ConversationSegment[], whole: ConversationSegment[]): boolean {
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
  return firstVouched(
    db,
    task,
    { keyCondition: "pk = :p AND sk BETWEEN :lo AND :hi", values: { ":lo": keys.checkpointCountPrefix, ":hi": keys.checkpointCountUpTo(count) }, forward: false },
    (checkpoint) => onKept(checkpoint.conversationSnapshotId),
    KEPT_BRANCH_SEARCH,
  );
}

/** Whether the task already has a checkpoint at this commit (a daemon resending its report): the commit pointers, vouched for. */
export async function hasCheckpointAt(db: Db, task: TaskRecord, commitSha: string): Promise<boolean> {
  const sha = commitSha.toLowerCase();
  const found = await firstVouched(db, task, { keyCondition: "pk = :p AND begins_with(sk, :s)", values: { ":s": `${keys.checkpointShaPrefix}${sha}#` }, forward: false });
  return found !== undefined;
}
