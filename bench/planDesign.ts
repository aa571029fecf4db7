import {
  ConversationMessage,
  TaskCheckpoint,
  type CreateCheckpointRequest,
  type TaskRecord,
} from "../core/models.js";
import { keys } from "../core/keys.js";
import { newId } from "../core/ids.js";
import { blobKeys } from "../core/blobs.js";
import { type Db } from "../core/store/db.js";
import { type Item } from "../core/store/table.js";
import { historyEventItems, newHistoryEvent, typeFacet, type NewHistoryEvent } from "../core/store/history.js";
import { dayOf, expiryAttributes } from "../core/store/snapshots.js";
import { itemSize } from "./support.js";

/**
 * The original plan's design (PLAN-resume-history-system.md), put in our
 * single table so that both designs are priced by the same rules. Nothing
 * here goes through this service's conversation store: each item models a
 * row the plan writes.
 *
 * - Per message (Phase 2, Task 2.2 "Task Conversation Retrieval":
 *   `get_task_conversation` reconstructs a task's conversation "from
 *   task_events"): one `task_events` row per message, the message as
 *   uncompressed JSON (JSONB), in the task's partition, in insertion order.
 * - Per message (Phase 1, Task 1.1 `history_events`, event_type 'chat',
 *   event_subtype 'message'; `record_history_event`): one history event, with
 *   the plan's four indexes (owner, contract, task, event type) stored the way
 *   this service stores its own events' indexes (historyEventItems: the
 *   owner's timeline item carrying the contract and task index keys, and a
 *   copy by type). The plan has no index by phase, so no phase copy.
 * - Per checkpoint (Phase 2, Task 2.2 `create_checkpoint_with_snapshot`, one
 *   SQL transaction → one TransactWrite): the `task_checkpoints` row (with its
 *   `conversation_snapshot_id`, Phase 1 step 3) and its by-id lookup, the
 *   `conversation_snapshots` row whose `conversation_state` is the full
 *   conversation (Phase 1, Task 1.1: "Full conversation at this point";
 *   Phase 5, Task 5.3: the daemon captures it at each checkpoint), indexed by
 *   creation day for the plan's `cleanup_old_snapshots` (idx
 *   `conversation_snapshots_created`), and the checkpoint's history event
 *   (event_type 'checkpoint').
 *
 * Rows the plan inserts outside a transaction are plain batch writes. A
 * snapshot keeps conversation_state inline while the item stays within
 * `inlineBytes`; beyond it the state is gzip JSON in S3, written first, so no
 * item names a missing object.
 */

export const planKeys = {
  /** A `task_events` row of a task, in insertion order (ids are UUIDv7). */
  taskEvent: (taskId: string, eventId: string) => ({ pk: keys.taskPartition(taskId), sk: `TASKEVENT#${eventId}` }),
  taskEventPrefix: "TASKEVENT#",
};

/**
 * The plan's indexes of a history event: owner, contract, task and type (the
 * owner's timeline and a copy by type); it indexes no phase. Each item is the
 * plan's row, every column of it (id, owner_id and created_at too).
 */
function planHistoryItems(input: NewHistoryEvent, at: Date): Item[] {
  const event = newHistoryEvent(input, at);
  return historyEventItems(event, [undefined, typeFacet(input.eventType)]).map((item) => ({ ...item, id: event.id, ownerId: event.ownerId, createdAt: event.createdAt }));
}

/** The rows the plan inserts for a batch of messages a daemon reports: a task event and a chat history event each. */
export async function planAppendMessages(db: Db, task: TaskRecord, messages: ConversationMessage[]): Promise<void> {
  const rows: Item[] = [];
  for (const message of messages) {
    const at = db.clock();
    const eventId = newId();
    rows.push({
      ...planKeys.taskEvent(task.id, eventId),
      id: eventId,
      taskId: task.id,
      eventType: "output",
      eventData: message,
      createdAt: at.toISOString(),
    });
    rows.push(
      ...planHistoryItems(
        {
          ownerId: task.ownerId,
          contractId: task.contractId,
          taskId: task.id,
          eventType: "chat",
          eventSubtype: "message",
          eventData: { messageId: message.id, role: message.role },
        },
        at,
      ),
    );
  }
  await db.table.batchWrite(rows.map((put) => ({ put })));
}

/** `create_checkpoint_with_snapshot`: one transaction; the state in S3 first when it does not fit the item. */
export async function planCheckpointWithSnapshot(
  db: Db,
  task: TaskRecord,
  checkpointNumber: number,
  input: CreateCheckpointRequest,
  conversation: ConversationMessage[],
  inlineBytes: number,
): Promise<{ snapshotId: string; inline: boolean }> {
  const checkpointId = newId();
  const snapshotId = newId();
  const now = db.clock();
  const row: Item = {
    ...keys.snapshot(task.id, snapshotId),
    id: snapshotId,
    taskId: task.id,
    checkpointId,
    snapshotType: "checkpoint",
    messageCount: conversation.length,
    createdAt: now.toISOString(),
    ...expiryAttributes({ id: snapshotId, taskId: task.id }, dayOf(now)),
  };
  let snapshot: Item = { ...row, conversationState: conversation };
  const inline = itemSize(snapshot) <= inlineBytes;
  if (!inline) {
    const stateBlobKey = blobKeys.snapshotState(task.ownerId, task.id, snapshotId);
    await db.blobs.putJson(stateBlobKey, conversation);
    snapshot = { ...row, conversationStateBlobKey: stateBlobKey };
  }
  const checkpoint = TaskCheckpoint.parse({
    id: checkpointId,
    taskId: task.id,
    checkpointNumber,
    ...input,
    conversationSnapshotId: snapshotId,
    messageCount: conversation.length,
    createdAt: now.toISOString(),
  });
  const event = planHistoryItems(
    {
      ownerId: task.ownerId,
      contractId: task.contractId,
      taskId: task.id,
      eventType: "checkpoint",
      eventSubtype: "created",
      eventData: { checkpointId, checkpointNumber, commitSha: input.commitSha, message: input.message, snapshotId, messageCount: conversation.length },
    },
    now,
  );
  await db.table.transact([
    { Put: { Item: { ...keys.checkpoint(task.id, checkpointNumber), ownerId: task.ownerId, ...checkpoint }, ConditionExpression: "attribute_not_exists(pk)" } },
    { Put: { Item: { ...keys.checkpointById(task.id, checkpointId), ownerId: task.ownerId, checkpointNumber } } },
    { Put: { Item: snapshot } },
    ...event.map((Item) => ({ Put: { Item } })),
  ]);
  return { snapshotId, inline };
}

/** The plan's conversation at a snapshot: the snapshot row, and its S3 object when the state is not inline. */
export async function planSnapshotState(db: Db, taskId: string, snapshotId: string): Promise<ConversationMessage[]> {
  const item = await db.table.get(keys.snapshot(taskId, snapshotId));
  if (!item) throw new Error(`plan: no snapshot ${snapshotId}`);
  const state =
    typeof item.conversationStateBlobKey === "string"
      ? await db.blobs.getJson<unknown[]>(item.conversationStateBlobKey)
      : (item.conversationState as unknown[]);
  return state.map((m) => ConversationMessage.parse(m));
}

/** `get_task_conversation`: the task's `task_events` rows in order, page by page. */
export async function planTaskConversation(db: Db, taskId: string): Promise<ConversationMessage[]> {
  const messages: ConversationMessage[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.table.query({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :e)",
      ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":e": planKeys.taskEventPrefix },
      ExclusiveStartKey: startKey,
    });
    for (const item of page.items) messages.push(ConversationMessage.parse(item.eventData));
    startKey = page.lastKey;
  } while (startKey);
  return messages;
}

