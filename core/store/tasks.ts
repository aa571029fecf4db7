import { Task, TaskRecord, type ConversationSegment, type CreateTaskRequest } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { conflict } from "../errors.js";
import { type Db, nextUpdatedAt, nowIso } from "./db.js";
import { queryPage, type Page } from "./paging.js";
import { cancellationReasons, isConditionFailure, type Item, type TransactItem } from "./table.js";

/** How many messages a task's visible conversation holds: closed runs plus its own open tail. */
function visibleCount(task: Pick<TaskRecord, "segments" | "lastSeq" | "id">): number {
  return task.segments.reduce((sum, s) => {
    const to = s.to ?? (s.taskId === task.id ? task.lastSeq : 0);
    return sum + Math.max(0, to - s.from + 1);
  }, 0);
}

/** The public resource from the stored record. */
export function toTask(record: TaskRecord): Task {
  return Task.parse({ ...record, messageCount: visibleCount(record) });
}

function indexKeys(task: TaskRecord): Item {
  return {
    ...(task.contractId ? { gsi1pk: keys.contractTasks(task.contractId), gsi1sk: task.id } : {}),
    ...(task.forkedFromTaskId ? { gsi2pk: keys.taskForks(task.forkedFromTaskId), gsi2sk: task.id } : {}),
  };
}

export interface NewTask extends CreateTaskRequest {
  status?: Task["status"];
  forkedFromTaskId?: string;
  forkedAtCheckpointId?: string;
  forkedAtMessageId?: string;
  /** Conversation inherited by reference (a fork or a resume with conversation). */
  inheritedSegments?: ConversationSegment[];
  resumeContext?: string;
  /** The only daemon that may start it (a fork or resume asked for on one daemon). */
  daemonId?: string;
  /** Chosen beforehand when something else is named after the task (its branch). */
  id?: string;
}

/**
 * Creates a task, with whatever must exist with it (its history events) in
 * the same transaction.
 */
export async function createTask(
  db: Db,
  ownerId: string,
  input: NewTask,
  alsoWrite: (task: TaskRecord) => TransactItem[] = () => [],
): Promise<TaskRecord> {
  const now = nowIso(db);
  const id = input.id ?? newId();
  const record = TaskRecord.parse({
    id,
    ownerId,
    contractId: input.contractId,
    name: input.name,
    plan: input.plan,
    status: input.status ?? "pending",
    isSupervisor: input.isSupervisor ?? false,
    daemonId: input.daemonId,
    branchName: input.branchName,
    baseSha: input.baseSha,
    forkedFromTaskId: input.forkedFromTaskId,
    forkedAtCheckpointId: input.forkedAtCheckpointId,
    forkedAtMessageId: input.forkedAtMessageId,
    resumeContext: input.resumeContext,
    messageCount: 0,
    lastSeq: 0,
    segments: [...(input.inheritedSegments ?? []), { taskId: id, from: 1, to: null }],
    checkpointCount: 0,
    createdAt: now,
    updatedAt: now,
  });
  const item = { ...keys.task(id), ...indexKeys(record), ...record };
  const others = alsoWrite(record);
  if (others.length === 0) await db.table.put(item, { ConditionExpression: "attribute_not_exists(pk)" });
  else await db.table.transact([{ Put: { Item: item, ConditionExpression: "attribute_not_exists(pk)" } }, ...others]);
  return record;
}

/** Another owner's task is indistinguishable from a missing one. */
export async function getTaskRecord(db: Db, ownerId: string, taskId: string): Promise<TaskRecord | undefined> {
  const item = await db.table.get(keys.task(taskId));
  return item && item.ownerId === ownerId ? TaskRecord.parse(item) : undefined;
}

type TaskChanges = Partial<Omit<TaskRecord, "id" | "ownerId" | "createdAt" | "lastSeq" | "messageCount">>;

/**
 * The conditional update of a task as one write of a transaction: only the
 * given fields are touched (a field given as undefined is removed), and only
 * if nobody changed the task since `before` was read. `after` is the task
 * as the write leaves it (lastSeq as read).
 */
function taskUpdate(db: Db, before: TaskRecord, changes: TaskChanges): { write: TransactItem; after: TaskRecord } {
  const updatedAt = nextUpdatedAt(db, before.updatedAt);
  const entries = Object.entries({ ...changes, updatedAt });
  const set = entries.filter(([, v]) => v !== undefined);
  const remove = entries.filter(([, v]) => v === undefined);
  const names = Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k]));
  const nameOf = (key: string) => `#f${entries.findIndex(([k]) => k === key)}`;
  const after = TaskRecord.parse({
    ...Object.fromEntries(Object.entries(before).filter(([k]) => !remove.some(([r]) => r === k))),
    ...Object.fromEntries(set),
  });
  return {
    after,
    write: {
      Update: {
        Key: keys.task(before.id),
        UpdateExpression:
          `SET ${set.map(([k]) => `${nameOf(k)} = :${nameOf(k).slice(1)}`).join(", ")}` +
          (remove.length ? ` REMOVE ${remove.map(([k]) => nameOf(k)).join(", ")}` : ""),
        ConditionExpression: "updatedAt = :prev",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ":prev": before.updatedAt, ...Object.fromEntries(set.map(([k, v]) => [`:${nameOf(k).slice(1)}`, v])) },
      },
    },
  };
}

const concurrentUpdate = () => conflict("concurrent_update", "the task changed while this request ran; try again");

/**
 * Writes a task's change together with other items (its history event, a
 * rewind record): all of them or none. The task's write comes first; a
 * failed condition on it is a 409 concurrent_update.
 */
export async function saveTaskWith(db: Db, before: TaskRecord, changes: TaskChanges, others: TransactItem[]): Promise<TaskRecord> {
  const { write, after } = taskUpdate(db, before, changes);
  try {
    await db.table.transact([write, ...others]);
  } catch (error) {
    const reasons = cancellationReasons(error);
    if (reasons?.some((r) => r === "ConditionalCheckFailed" || r === "TransactionConflict")) throw concurrentUpdate();
    throw error;
  }
  // lastSeq moves on its own: read it back rather than trust the copy read before.
  return (await getTaskRecord(db, before.ownerId, before.id)) ?? after;
}

/**
 * Writes the changed fields of a task, refusing if someone else changed it
 * since it was read. Only the given fields are touched (a field given as
 * undefined is removed), so a concurrent append's lastSeq is never overwritten.
 */
export async function saveTask(db: Db, before: TaskRecord, changes: TaskChanges): Promise<TaskRecord> {
  const { write } = taskUpdate(db, before, changes);
  if (!("Update" in write)) throw new Error("a task update is an Update");
  const { Key, ...update } = write.Update;
  const item = await db.table
    .update(Key, { ...update, ReturnValues: "ALL_NEW" })
    .catch((error: Error) => {
      if (isConditionFailure(error)) throw concurrentUpdate();
      throw error;
    });
  return TaskRecord.parse(item);
}

export function listContractTasks(db: Db, contractId: string, limit: number, cursor?: string): Promise<Page<TaskRecord>> {
  return queryPage(db, {
    scope: `contractTasks:${contractId}`,
    cursor,
    limit,
    index: "gsi1",
    keyCondition: "gsi1pk = :p",
    values: { ":p": keys.contractTasks(contractId) },
    parse: (item) => TaskRecord.parse(item),
  });
}

export function listForks(db: Db, taskId: string, limit: number, cursor?: string): Promise<Page<TaskRecord>> {
  return queryPage(db, {
    scope: `forks:${taskId}`,
    cursor,
    limit,
    index: "gsi2",
    keyCondition: "gsi2pk = :p",
    values: { ":p": keys.taskForks(taskId) },
    parse: (item) => TaskRecord.parse(item),
  });
}

/** Where a task waits: with the tasks of the one daemon that may start it, or with those any daemon may. */
const awaitingPartition = (task: Pick<TaskRecord, "ownerId" | "daemonId">) =>
  task.daemonId ? keys.awaitingOnDaemon(task.ownerId, task.daemonId) : keys.awaitingDaemon(task.ownerId);

/**
 * Marks a task that must be started on a daemon as soon as one of its
 * owner's is online. One whose start is under way keeps its place after the
 * tasks still to hand out.
 */
export async function markAwaitingDaemon(db: Db, task: TaskRecord): Promise<void> {
  await db.table.update(keys.task(task.id), {
    UpdateExpression: "SET gsi3pk = :p, gsi3sk = if_not_exists(gsi3sk, :s)",
    ConditionExpression: "attribute_exists(pk)",
    ExpressionAttributeValues: { ":p": awaitingPartition(task), ":s": task.id },
  });
}

export async function clearAwaitingDaemon(db: Db, taskId: string): Promise<void> {
  await db.table.update(keys.task(taskId), { UpdateExpression: "REMOVE gsi3pk, gsi3sk" });
}

/** The daemon has moved the worktree back to the restart checkpoint: nothing left to do. */
export async function clearRestartPoint(db: Db, taskId: string): Promise<void> {
  await db.table.update(keys.task(taskId), { UpdateExpression: "REMOVE restartAtCheckpointId" });
}

/**
 * Takes the right to start a pending task, for one operation: a conditional
 * write, so of two daemons saying hello at once (or ten resumes at once)
 * exactly one sends `spawnTask`. A start that has been under way since
 * before `staleBefore` (its daemon never answered) may be taken over.
 * Counts the attempt. False when someone else holds it.
 */
export async function claimStart(db: Db, task: TaskRecord, operationId: string, staleBefore: Date): Promise<TaskRecord | undefined> {
  try {
    const item = await db.table.update(keys.task(task.id), {
      UpdateExpression:
        "SET startingOperationId = :op, startingSince = :now, startAttempts = if_not_exists(startAttempts, :zero) + :one, gsi3sk = :started",
      ConditionExpression: "#st = :pending AND (attribute_not_exists(startingOperationId) OR startingSince < :stale)",
      ExpressionAttributeNames: { "#st": "status" },
      ExpressionAttributeValues: {
        ":op": operationId,
        ":now": nowIso(db),
        ":zero": 0,
        ":one": 1,
        ":pending": "pending",
        ":stale": staleBefore.toISOString(),
        ":started": keys.awaitingStarted(task.id),
      },
      ReturnValues: "ALL_NEW",
    });
    return TaskRecord.parse(item);
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * The end of a start that did not happen, as a write of a transaction (with
 * its history events): only if this operation still holds the start. The
 * task waits for a daemon again, or, after its last attempt, has failed.
 */
export function startFailedUpdate(
  db: Db,
  task: TaskRecord,
  operationId: string,
  error: { code: string; message: string; attempt: number },
  final: boolean,
): TransactItem {
  const lastStartError = { ...error, at: nowIso(db) };
  return {
    Update: {
      Key: keys.task(task.id),
      UpdateExpression: final
        ? "SET lastStartError = :e, #st = :failed, updatedAt = :now REMOVE startingOperationId, startingSince, gsi3pk, gsi3sk"
        : "SET lastStartError = :e, gsi3pk = :p, gsi3sk = :s REMOVE startingOperationId, startingSince",
      ConditionExpression: "startingOperationId = :op AND #st = :pending",
      ExpressionAttributeNames: { "#st": "status" },
      ExpressionAttributeValues: {
        ":e": lastStartError,
        ":op": operationId,
        ":pending": "pending",
        ...(final ? { ":failed": "failed", ":now": nextUpdatedAt(db, task.updatedAt) } : { ":p": awaitingPartition(task), ":s": task.id }),
      },
    },
  };
}

/** A daemon reported the task started: it no longer waits, and the start is over. */
export async function startSucceeded(db: Db, taskId: string): Promise<void> {
  await db.table.update(keys.task(taskId), {
    UpdateExpression: "REMOVE gsi3pk, gsi3sk, startingOperationId, startingSince, lastStartError",
    ConditionExpression: "attribute_exists(pk)",
  });
}

/** How many waiting tasks are read to pick out those not tried yet (a filter applies after the read). */
const UNTRIED_WINDOW = 25;

/**
 * One bounded page of the tasks waiting for a daemon that `daemonId` may
 * start: those bound to it first, then those any daemon may start (among
 * which a task bound to another daemon before it had a partition of its own
 * is passed over). Tasks whose start is under way come after the others.
 * `untriedOnly`: only tasks no daemon was asked to start yet, picked out of
 * the first UNTRIED_WINDOW × `limit`. At most that many are read from each
 * partition.
 */
export async function listAwaitingDaemon(
  db: Db,
  ownerId: string,
  daemonId: string,
  options: { limit: number; untriedOnly?: boolean },
): Promise<TaskRecord[]> {
  const window = options.untriedOnly ? options.limit * UNTRIED_WINDOW : options.limit;
  const untried = options.untriedOnly ? "attribute_not_exists(startAttempts)" : undefined;
  const bound = await db.table.query({
    IndexName: "gsi3",
    KeyConditionExpression: "gsi3pk = :p",
    ...(untried ? { FilterExpression: untried } : {}),
    ExpressionAttributeValues: { ":p": keys.awaitingOnDaemon(ownerId, daemonId) },
    Limit: window,
  });
  const found = bound.items.map((item) => TaskRecord.parse(item)).slice(0, options.limit);
  if (found.length < options.limit) {
    const any = await db.table.query({
      IndexName: "gsi3",
      KeyConditionExpression: "gsi3pk = :p",
      FilterExpression: `(attribute_not_exists(daemonId) OR daemonId = :d)${untried ? ` AND ${untried}` : ""}`,
      ExpressionAttributeValues: { ":p": keys.awaitingDaemon(ownerId), ":d": daemonId },
      Limit: window,
    });
    found.push(...any.items.map((item) => TaskRecord.parse(item)).slice(0, options.limit - found.length));
  }
  return found;
}
