import { CodeRewind, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { notFound } from "../errors.js";
import type { Db } from "./db.js";
import type { TransactItem } from "./table.js";

/** Code rewinds the daemons carried out, newest first per task: each names the safety ref that undoes it (if the daemon saved one). */
/** The record of a code rewind as a write of a transaction (with its history event). */
export function codeRewindWrite(rewind: CodeRewind): TransactItem {
  return { Put: { Item: { ...keys.codeRewind(rewind.taskId, rewind.id), ...CodeRewind.parse(rewind) }, ConditionExpression: "attribute_not_exists(pk)" } };
}

/** A rewind by id, or the latest one not undone yet. */
export async function findCodeRewind(db: Db, task: TaskRecord, rewindId?: string): Promise<CodeRewind> {
  if (rewindId) {
    const item = await db.table.get(keys.codeRewind(task.id, rewindId));
    if (!item || item.ownerId !== task.ownerId) throw notFound("rewind");
    return CodeRewind.parse(item);
  }
  const item = await db.table.queryFirst({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :r)",
    FilterExpression: "attribute_not_exists(undoneAt)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":r": keys.codeRewindPrefix },
    ScanIndexForward: false,
    ConsistentRead: true,
  });
  if (item) return CodeRewind.parse(item);
  throw notFound("a code rewind to undo");
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
