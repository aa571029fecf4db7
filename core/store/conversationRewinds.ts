import { ConversationRewind, type ConversationSegment, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound } from "../errors.js";
import { type Db, nowIso } from "./db.js";
import type { TransactItem } from "./table.js";
import { saveTaskWith } from "./tasks.js";
import { queryFirst, queryPage, type Page } from "./paging.js";
import { committedEnd } from "./conversationLog.js";
import { clipSegments, closeSegments, countOf, overlap } from "./segments.js";

/**
 * Makes the visible conversation `target` (the first N messages, or the
 * exact segments a snapshot named) and hides the rest; nothing is deleted,
 * and later appends come after the kept ones. The rewind record keeps the
 * previous segments so the rewind can be restored.
 */
export async function rewindConversation(
  db: Db,
  task: TaskRecord,
  target: number | ConversationSegment[],
  actor: string,
  options: {
    id?: string;
    /** Other changes of the task made with the cut (a resume's status). */
    alsoChange?: Omit<Parameters<typeof saveTaskWith>[2], "segments">;
    alsoWrite?: (rewind: ConversationRewind) => TransactItem[];
  } = {},
): Promise<{ task: TaskRecord; rewind: ConversationRewind }> {
  // One read of the log's end: a message appended meanwhile is after the cut, visible.
  const head = await committedEnd(db, task.id);
  const closed = await closeSegments(db, task, head.seq);
  const total = countOf(closed);
  if (typeof target === "number" && target > total) throw badRequest(`the conversation has ${total} messages; cannot keep ${target}`);
  const kept = typeof target === "number" ? clipSegments(closed, target) : target;
  const segments = [...kept, { taskId: task.id, from: head.seq + 1, to: null }];
  const rewind = ConversationRewind.parse({
    id: options.id ?? newId(),
    taskId: task.id,
    ownerId: task.ownerId,
    previousSegments: task.segments,
    segments,
    messageCount: countOf(kept),
    hiddenCount: total - overlap(closed, kept),
    actor,
    createdAt: nowIso(db),
  });
  // The cut, its record and whatever goes with it (its history event): all of them or none.
  const updated = await saveTaskWith(db, task, { ...options.alsoChange, segments }, [
    { Put: { Item: { ...keys.conversationRewind(task.id, rewind.id), ...rewind }, ConditionExpression: "attribute_not_exists(pk)" } },
    ...(options.alsoWrite?.(rewind) ?? []),
  ]);
  return { task: updated, rewind };
}

/** How many of a task's latest conversation rewinds a restore that names none looks through. */
export const RESTORE_SEARCH = 25;

/** A rewind by id, or the latest one not restored yet among the task's latest RESTORE_SEARCH (an older one is restored by id). */
export async function getConversationRewind(db: Db, task: TaskRecord, rewindId?: string): Promise<ConversationRewind> {
  if (rewindId) {
    const item = await db.table.get(keys.conversationRewind(task.id, rewindId));
    if (!item || item.ownerId !== task.ownerId) throw notFound("conversation rewind");
    return ConversationRewind.parse(item);
  }
  const item = await queryFirst(db, {
    KeyConditionExpression: "pk = :p AND begins_with(sk, :r)",
    FilterExpression: "attribute_not_exists(restoredAt)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":r": keys.conversationRewindPrefix },
    ScanIndexForward: false,
    ConsistentRead: true,
  }, RESTORE_SEARCH);
  if (!item) throw notFound(`a conversation rewind to restore among the latest ${RESTORE_SEARCH} (name an older one by id)`);
  return ConversationRewind.parse(item);
}

/** Brings back what a rewind hid: the segments before it, plus anything appended since. */
export async function restoreConversation(
  db: Db,
  task: TaskRecord,
  rewind: ConversationRewind,
  alsoWrite: TransactItem[] = [],
): Promise<TaskRecord> {
  // The previous segments end in the task's own open tail, which starts before
  // anything appended since the rewind, so those messages stay visible too.
  return saveTaskWith(db, task, { segments: rewind.previousSegments }, [
    {
      Update: {
        Key: keys.conversationRewind(task.id, rewind.id),
        UpdateExpression: "SET restoredAt = :now",
        ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(restoredAt)",
        ExpressionAttributeValues: { ":now": nowIso(db) },
      },
    },
    ...alsoWrite,
  ]);
}

export function listConversationRewinds(db: Db, taskId: string, limit: number, cursor?: string): Promise<Page<ConversationRewind>> {
  return queryPage(db, {
    scope: `conversationRewinds:${taskId}`,
    cursor,
    limit,
    keyCondition: "pk = :p AND begins_with(sk, :r)",
    values: { ":p": keys.taskPartition(taskId), ":r": keys.conversationRewindPrefix },
    parse: (item) => ConversationRewind.parse(item),
  });
}
