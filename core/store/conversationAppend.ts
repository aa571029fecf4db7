import { createHash } from "node:crypto";
import { ConversationMessage, type NewConversationMessage, type TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound } from "../errors.js";
import { blobKeys } from "../blobs.js";
import { type Db, nowIso } from "./db.js";
import { backoff, cancellationReasons, type Item } from "./table.js";
import { historyEventItems, newHistoryEvent, type NewHistoryEvent } from "./history.js";
import { encodeMessage } from "./messageCodec.js";
import { lastLogEntry, logEntries, messageIdOf, truncateForPage } from "./conversationLog.js";
import { advanceReport, ReportOutOfOrder, reportGuard, reportIsNext, type ReportPosition } from "./reportOrder.js";
import { sha256 } from "./segments.js";

/** Above this an item's message body goes to S3 (items stay well under DynamoDB's 400 KB). */
export const INLINE_MESSAGE_BYTES = 64 * 1024;

/** 128 bits of sha256 are plenty to pin a log's content; shorter than hex in every item. */
const chainHash = (previous: string, body: string) => createHash("sha256").update(previous).update(body).digest().subarray(0, 16).toString("base64url");

function completeMessage(db: Db, m: NewConversationMessage): ConversationMessage {
  return ConversationMessage.parse({ ...m, id: m.id ?? newId(), timestamp: m.timestamp ?? nowIso(db) });
}

/** Messages per transaction: with the task's update and a history event's items, within DynamoDB's 100 actions. */
export const APPEND_CHUNK = 90;
/** Bytes of items per transaction, within DynamoDB's 4 MB. */
const APPEND_CHUNK_BYTES = 3 * 1024 * 1024;
/** How long a multi-transaction append keeps others out before it counts as abandoned. */
const APPEND_LOCK_MS = 15_000;

export interface AppendOptions {
  /** The history event of each transaction's messages (recorded in that transaction). */
  event?: (chunk: { count: number; firstMessageId: string; lastMessageId: string; roles: string[] }) => NewHistoryEvent;
  /** A daemon report: applied once, after its predecessor (ReportOutOfOrder otherwise). */
  report?: ReportPosition;
}

interface Head {
  seq: number;
  chain: string;
  /** The receive time of the entry at seq (epoch ms; 0 when unknown). */
  receivedAt: number;
  /** The task item's lastSeq as read (the transaction's condition). */
  taskSeq: number;
}

async function readHead(db: Db, taskId: string, fromLog: boolean): Promise<Head> {
  const item = await db.table.get(keys.task(taskId), { ProjectionExpression: "lastSeq, lastChain, lastReceivedAt" });
  if (!item) throw notFound("task");
  const taskSeq = (item.lastSeq as number | undefined) ?? 0;
  const receivedAt = (item.lastReceivedAt as number | undefined) ?? 0;
  // A log written before lastChain was kept (or whose lastSeq lagged) is read from its end.
  if (fromLog || (taskSeq > 0 && typeof item.lastChain !== "string")) {
    const last = await lastLogEntry(db, taskId);
    return { ...last, taskSeq, receivedAt };
  }
  return { seq: taskSeq, chain: (item.lastChain as string | undefined) ?? "", taskSeq, receivedAt };
}

/** Which of these ids are stored in the task's log: pointers are hints, checked against the entry they name. */
async function storedIds(db: Db, taskId: string, ids: string[], upTo: number): Promise<Set<string>> {
  const pointers = await db.table.batchGet(ids.map((id) => keys.messageById(taskId, id)));
  const claimed = pointers.filter((p) => (p.seq as number) <= upTo);
  if (claimed.length === 0) return new Set();
  const entries = await db.table.batchGet(claimed.map((p) => keys.message(taskId, p.seq as number)));
  const at = new Map(entries.map((e) => [e.seq as number, e.id as string]));
  return new Set(claimed.map((p) => messageIdOf(p)).filter((id, i) => at.get(claimed[i]!.seq as number) === id));
}

/** Ids of the log entries after `after` up to `upTo` (what a concurrent appender just wrote). */
async function idsBetween(db: Db, taskId: string, after: number, upTo: number): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for await (const { item, seq } of logEntries(db, [{ taskId, from: after + 1, to: upTo }], { i: 0, after })) {
    found.set(item.id as string, seq);
  }
  return found;
}

/**
 * Appends messages in order, each id once. Each transaction writes a chunk of
 * log entries together with the task's lastSeq (conditional on the value
 * read, which is what claims the sequence numbers), its history event and,
 * for a daemon report, the report number: after a failure the log, the
 * count and the history agree. An append of more than one chunk holds an
 * append lock on the task so that concurrent appends interleave only at
 * whole appends. The `MSGID#` pointers are written just before, outside the
 * transaction: a pointer is trusted only when the entry it names carries its
 * id. Large bodies go to S3 first, then the item that names them.
 */
export async function appendMessages(
  db: Db,
  task: TaskRecord,
  incoming: NewConversationMessage[],
  options: AppendOptions = {},
): Promise<{ appended: number; skipped: number; messageIds: string[]; lastSeq: number }> {
  const messages = incoming.map((m) => completeMessage(db, m));
  const seen = new Map<string, number>();
  messages.forEach((m, i) => {
    const first = seen.get(m.id);
    if (first !== undefined) throw badRequest(`messages[${i}].id repeats messages[${first}].id`, `messages.${i}.id`);
    seen.set(m.id, i);
  });

  let head = await readHead(db, task.id, false);
  const already = await storedIds(db, task.id, messages.map((m) => m.id), head.seq);
  let todo = messages.filter((m) => !already.has(m.id));
  if (todo.length === 0 && options.report) await advanceReport(db, task.id, options.report);

  // Encoded once (large bodies to S3 once), whatever the retries.
  const encoded = new Map<string, { item: Item; body: string; bytes: number }>();
  for (const message of todo) {
    const body = JSON.stringify(message);
    let item: Item = encodeMessage(message);
    if (Buffer.byteLength(body) > INLINE_MESSAGE_BYTES) {
      const blobKey = blobKeys.message(task.ownerId, task.id, message.id);
      await db.blobs.putJson(blobKey, message);
      item = { ...encodeMessage({ ...truncateForPage(message), truncated: true }), blobKey };
    }
    encoded.set(message.id, { item, body, bytes: Buffer.byteLength(JSON.stringify(item)) });
  }
  const chunks: (typeof todo)[] = [];
  for (let i = 0; i < todo.length; ) {
    let bytes = 0;
    let n = 0;
    while (i + n < todo.length && n < APPEND_CHUNK && (n === 0 || bytes + encoded.get(todo[i + n]!.id)!.bytes <= APPEND_CHUNK_BYTES)) {
      bytes += encoded.get(todo[i + n]!.id)!.bytes;
      n++;
    }
    chunks.push(todo.slice(i, i + n));
    i += n;
  }
  // Named after the batch: a retry of the same batch after a failure carries on under the lock it left.
  const lock = sha256(messages.map((m) => m.id).join("\n")).slice(0, 32);

  let appended = 0;
  let fromLog = false;
  let deadline = Date.now() + APPEND_LOCK_MS + 5000;
  for (let c = 0; c < chunks.length; c++) {
    let chunk = chunks[c]!;
    for (let attempt = 0; chunk.length > 0; attempt++) {
      const first = c === 0;
      const last = c === chunks.length - 1;
      const entries: Item[] = [];
      let { seq, chain } = head;
      // Receive times ascend with the log, strictly from one append to the next (time cuts binary-search
      // them and can fall between any two appends), even when the appenders' clocks differ.
      const now = db.clock().getTime();
      const receivedAt = new Date(Math.max(now, head.receivedAt + 1)).toISOString();
      for (const message of chunk) {
        seq++;
        chain = chainHash(chain, encoded.get(message.id)!.body);
        entries.push({ ...keys.message(task.id, seq), ...encoded.get(message.id)!.item, receivedAt, seq, chain });
      }
      const guard = options.report && last ? reportGuard(options.report) : undefined;
      const lockCondition = first
        ? "(attribute_not_exists(appendLock) OR appendLockUntil < :now OR appendLock = :lock)"
        : "appendLock = :lock";
      const set = ["lastSeq = :seq", "lastChain = :chain", "lastReceivedAt = :at", ...(guard ? [guard.set] : []), ...(!last ? ["appendLock = :lock", "appendLockUntil = :until"] : [])];
      const event = options.event?.({
        count: chunk.length,
        firstMessageId: chunk[0]!.id,
        lastMessageId: chunk.at(-1)!.id,
        roles: [...new Set(chunk.map((m) => m.role))],
      });
      // The pointers first: a pointer whose entry is not there (this transaction failed) is ignored by readers.
      const pointers = chunk.map((m, i) => ({ put: { ...keys.messageById(task.id, m.id), seq: head.seq + i + 1 } }));
      await Promise.all(Array.from({ length: Math.ceil(pointers.length / 25) }, (_, i) => db.table.batchWrite(pointers.slice(i * 25, i * 25 + 25))));
      const pending = options.report && !guard ? reportIsNext(options.report) : undefined;
      try {
        await db.table.transact([
          {
            Update: {
              Key: keys.task(task.id),
              UpdateExpression: `SET ${set.join(", ")}${last ? " REMOVE appendLock, appendLockUntil" : ""}`,
              ConditionExpression: `attribute_exists(pk) AND lastSeq = :prev AND ${lockCondition}${guard || pending ? ` AND ${(guard ?? pending)!.condition}` : ""}`,
              ExpressionAttributeValues: {
                ":prev": head.taskSeq,
                ":seq": seq,
                ":chain": chain,
                ":at": Date.parse(receivedAt),
                ...(first ? { ":now": now } : {}),
                ":lock": lock,
                ...(!last ? { ":until": now + APPEND_LOCK_MS } : {}),
                ...(guard ?? pending)?.values,
              },
            },
          },
          ...entries.map((Item) => ({ Put: { Item, ConditionExpression: "attribute_not_exists(pk)" } })),
          ...(event ? historyEventItems(newHistoryEvent(event, db.clock())).map((Item) => ({ Put: { Item } })) : []),
        ]);
        appended += chunk.length;
        head = { seq, chain, taskSeq: seq, receivedAt: Date.parse(receivedAt) };
        break;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw error;
        // The task matched but an entry was there: lastSeq lagged the log (written before they moved together).
        if (reasons[0] === "None" && reasons.slice(1, 1 + entries.length).includes("ConditionalCheckFailed")) fromLog = true;
        if (reasons[0] === "ConditionalCheckFailed" && options.report) {
          const now = await db.table.get(keys.task(task.id), { ProjectionExpression: "reportStream, reportSeq" });
          const applied = now?.reportStream === options.report.stream ? ((now.reportSeq as number | undefined) ?? 0) : 0;
          if (applied !== options.report.seq - 1) throw new ReportOutOfOrder(options.report);
        }
        if (Date.now() > deadline) throw error;
        // Another append moved the end of the log: what it wrote may include some of these (a concurrent resend).
        await backoff(attempt);
        const previous = head.seq;
        head = await readHead(db, task.id, fromLog);
        fromLog = false;
        if (head.seq > previous) {
          // Others are making progress: keep trying (only an append lock that never moves runs out the time).
          deadline = Date.now() + APPEND_LOCK_MS + 5000;
          const written = await idsBetween(db, task.id, previous, head.seq);
          // Pointers this attempt wrote for messages another append stored are put back on their entries.
          const found = chunk.filter((m) => written.has(m.id));
          if (found.length) await db.table.batchWrite(found.map((m) => ({ put: { ...keys.messageById(task.id, m.id), seq: written.get(m.id)! } })));
          chunk = chunk.filter((m) => !written.has(m.id));
          todo = todo.filter((m) => !written.has(m.id));
        }
        if (chunk.length === 0 && last && options.report) await advanceReport(db, task.id, options.report);
      }
    }
  }
  return { appended, skipped: messages.length - appended, messageIds: messages.map((m) => m.id), lastSeq: head.seq };
}
