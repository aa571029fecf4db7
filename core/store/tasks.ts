import { Task, TaskRecord, type ConversationSegment, type CreateTaskRequest } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { conflict } from "../errors.js";
import { type Db, nextUpdatedAt, nowIso } from "./db.js";
import { queryPage, type Page } from "./paging.js";
import { isConditionFailure, type Item } from "./table.js";

/** How many messages a task's visible conversation holds: closed runs plus its own open tail. */
export function visibleCount(task: Pick<TaskRecord, "segments" | "lastSeq" | "id">): number {
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
}

export async function createTask(db: Db, ownerId: string, input: NewTask): Promise<TaskRecord> {
  const now = nowIso(db);
  const id = newId();
  const record = TaskRecord.parse({
    id,
    ownerId,
    contractId: input.contractId,
    name: input.name,
    plan: input.plan,
    status: input.status ?? "pending",
    isSupervisor: input.isSupervisor ?? false,
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
  await db.table.put({ ...keys.task(id), ...indexKeys(record), ...record });
  return record;
}

/** Another owner's task is indistinguishable from a missing one. */
export async function getTaskRecord(db: Db, ownerId: string, taskId: string): Promise<TaskRecord | undefined> {
  const item = await db.table.get(keys.task(taskId));
  return item && item.ownerId === ownerId ? TaskRecord.parse(item) : undefined;
}

/**
 * Writes the changed fields of a task, refusing if someone else changed it
 * since it was read. Only the given fields are touched (a field given as
 * undefined is removed), so a concurrent append's lastSeq is never overwritten.
 */
export async function saveTask(
  db: Db,
  before: TaskRecord,
  changes: Partial<Omit<TaskRecord, "id" | "ownerId" | "createdAt" | "lastSeq" | "messageCount">>,
): Promise<TaskRecord> {
  const updatedAt = nextUpdatedAt(db, before.updatedAt);
  const entries = Object.entries({ ...changes, updatedAt });
  const set = entries.filter(([, v]) => v !== undefined);
  const remove = entries.filter(([, v]) => v === undefined);
  const names = Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k]));
  const nameOf = (key: string) => `#f${entries.findIndex(([k]) => k === key)}`;
  const item = await db.table
    .update(keys.task(before.id), {
      UpdateExpression:
        `SET ${set.map(([k]) => `${nameOf(k)} = :${nameOf(k).slice(1)}`).join(", ")}` +
        (remove.length ? ` REMOVE ${remove.map(([k]) => nameOf(k)).join(", ")}` : ""),
      ConditionExpression: "updatedAt = :prev",
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ":prev": before.updatedAt, ...Object.fromEntries(set.map(([k, v]) => [`:${nameOf(k).slice(1)}`, v])) },
      ReturnValues: "ALL_NEW",
    })
    .catch((error: Error) => {
      if (isConditionFailure(error)) throw conflict("concurrent_update", "the task changed while this request ran; try again");
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

/** Marks a task that must be started on a daemon as soon as one of its owner's is online. */
export async function markAwaitingDaemon(db: Db, task: TaskRecord): Promise<void> {
  await db.table.update(keys.task(task.id), {
    UpdateExpression: "SET gsi3pk = :p, gsi3sk = :s",
    ConditionExpression: "attribute_exists(pk)",
    ExpressionAttributeValues: { ":p": keys.awaitingDaemon(task.ownerId), ":s": task.id },
  });
}

export async function clearAwaitingDaemon(db: Db, taskId: string): Promise<void> {
  await db.table.update(keys.task(taskId), { UpdateExpression: "REMOVE gsi3pk, gsi3sk" });
}

/** The daemon has moved the worktree back to the restart checkpoint: nothing left to do. */
export async function clearRestartPoint(db: Db, taskId: string): Promise<void> {
  await db.table.update(keys.task(taskId), { UpdateExpression: "REMOVE restartAtCheckpointId" });
}

export async function listAwaitingDaemon(db: Db, ownerId: string, limit = 25): Promise<TaskRecord[]> {
  const { items } = await db.table.query({
    IndexName: "gsi3",
    KeyConditionExpression: "gsi3pk = :p",
    ExpressionAttributeValues: { ":p": keys.awaitingDaemon(ownerId) },
    Limit: limit,
  });
  return items.map((item) => TaskRecord.parse(item));
}
