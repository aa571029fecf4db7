import { CodeRewind, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { notFound } from "../errors.js";
import type { Db } from "./db.js";
import { queryFirst, queryPage, type Page } from "./paging.js";
import { isConditionFailure, type TransactItem } from "./table.js";

/**
 * Code rewinds, newest first per task. Each is recorded `dispatched` before
 * its command goes to the daemon, naming the safety ref the daemon is told to
 * save, and settled `done` or `failed` by the daemon's reply.
 */

/** The safety ref the daemon is told to save a rewind under: named by the server, so the record names it before the daemon answers. */
export const safetyRefFor = (taskId: string, rewindId: string) => `refs/makima/safety/${taskId}/${rewindId}`;

/** Records a rewind about to be dispatched: from now on it can be found (and undone, if its safety ref exists). */
export async function putDispatchedCodeRewind(db: Db, rewind: CodeRewind): Promise<void> {
  await db.table.put(
    { ...keys.codeRewind(rewind.taskId, rewind.id), ...CodeRewind.parse({ ...rewind, status: "dispatched" }) },
    { ConditionExpression: "attribute_not_exists(pk)" },
  );
}

/** A rewind whose command never left: nothing happened, so no record stays. */
export async function deleteDispatchedCodeRewind(db: Db, taskId: string, rewindId: string): Promise<void> {
  try {
    await db.table.delete(keys.codeRewind(taskId, rewindId), {
      ConditionExpression: "#s = :d",
      ExpressionAttributeNames: { "#s": "status" },
      ExpressionAttributeValues: { ":d": "dispatched" },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/**
 * The record of a rewind the daemon carried out, as a write of a transaction
 * (with its history event): it settles the dispatched record, or is the
 * record itself when none was written first (a rewind settled twice fails
 * the condition).
 */
export function codeRewindWrite(rewind: CodeRewind): TransactItem {
  return {
    Put: {
      Item: { ...keys.codeRewind(rewind.taskId, rewind.id), ...CodeRewind.parse({ ...rewind, status: "done" }) },
      ConditionExpression: "attribute_not_exists(pk) OR #s = :d",
      ExpressionAttributeNames: { "#s": "status" },
      ExpressionAttributeValues: { ":d": "dispatched" },
    },
  };
}

/** A dispatched rewind the daemon reported as not done (refused, or rolled back): it stays listed, and is never undone. */
export async function failCodeRewind(db: Db, taskId: string, rewindId: string, error: { code: string; message: string }): Promise<void> {
  try {
    await db.table.update(keys.codeRewind(taskId, rewindId), {
      UpdateExpression: "SET #s = :f, #e = :e",
      ConditionExpression: "#s = :d",
      ExpressionAttributeNames: { "#s": "status", "#e": "error" },
      ExpressionAttributeValues: { ":f": "failed", ":d": "dispatched", ":e": error },
    });
  } catch (error) {
    // Settled already (or never recorded): the first answer stands.
    if (!isConditionFailure(error)) throw error;
  }
}

/** How many of a task's latest code rewinds an undo that names none looks through. */
export const UNDO_SEARCH = 25;

/** A rewind by id, or the latest one not undone yet that did not fail, among the task's latest UNDO_SEARCH (an older one is undone by id). */
export async function findCodeRewind(db: Db, task: TaskRecord, rewindId?: string): Promise<CodeRewind> {
  if (rewindId) {
    const item = await db.table.get(keys.codeRewind(task.id, rewindId));
    if (!item || item.ownerId !== task.ownerId) throw notFound("rewind");
    return CodeRewind.parse(item);
  }
  const item = await queryFirst(db, {
    KeyConditionExpression: "pk = :p AND begins_with(sk, :r)",
    FilterExpression: "attribute_not_exists(undoneAt) AND #s <> :f",
    ExpressionAttributeNames: { "#s": "status" },
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":r": keys.codeRewindPrefix, ":f": "failed" },
    ScanIndexForward: false,
    ConsistentRead: true,
  }, UNDO_SEARCH);
  if (item) return CodeRewind.parse(item);
  throw notFound(`a code rewind to undo among the latest ${UNDO_SEARCH} (name an older one by id)`);
}

export function listCodeRewinds(db: Db, taskId: string, limit: number, cursor?: string): Promise<Page<CodeRewind>> {
  return queryPage(db, {
    scope: `codeRewinds:${taskId}`,
    cursor,
    limit,
    keyCondition: "pk = :p AND begins_with(sk, :r)",
    values: { ":p": keys.taskPartition(taskId), ":r": keys.codeRewindPrefix },
    parse: (item) => CodeRewind.parse(item),
  });
}

/** Marks a rewind undone, as a write of a transaction (with its history event). */
export function markCodeRewindUndone(db: Db, taskId: string, rewindId: string): TransactItem {
  return {
    Update: {
      Key: keys.codeRewind(taskId, rewindId),
      UpdateExpression: "SET undoneAt = :u",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":u": db.clock().toISOString() },
    },
  };
}
