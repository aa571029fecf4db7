import { CodeRewind, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { notFound } from "../errors.js";
import type { Db } from "./db.js";

/** Code rewinds the daemons carried out, newest first per task: each names the safety ref that undoes it. */
export async function saveCodeRewind(db: Db, rewind: CodeRewind): Promise<void> {
  await db.table.put({ ...keys.codeRewind(rewind.taskId, rewind.id), ...CodeRewind.parse(rewind) });
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

export async function markCodeRewindUndone(db: Db, taskId: string, rewindId: string): Promise<void> {
  await db.table.update(keys.codeRewind(taskId, rewindId), {
    UpdateExpression: "SET undoneAt = :u",
    ExpressionAttributeValues: { ":u": db.clock().toISOString() },
  });
}
