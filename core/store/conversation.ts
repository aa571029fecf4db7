import { createHash } from "node:crypto";
import {
  ConversationMessage,
  ConversationRewind,
  type ConversationSegment,
  type NewConversationMessage,
  type TaskRecord,
} from "../models.js";
import { keys, pad } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound } from "../errors.js";
import { blobKeys } from "../blobs.js";
import { type Db, nowIso } from "./db.js";
import { backoff, cancellationReasons, type Item, type TransactItem } from "./table.js";
import { decodeMessage, encodeMessage } from "./messageCodec.js";
import { advanceLastSeq, saveTaskWith } from "./tasks.js";
import { queryPage, type Page } from "./paging.js";

/**
 * The conversation is an append-only log per task: one item per message at
 * `MSG#<seq>`, the sequence claimed with a conditional put, so concurrent
 * appenders get a gapless, duplicate-free order. What a task *shows* is a list
 * of segments (runs of sequence numbers, possibly in an ancestor's log): a
 * fork shares its parent's prefix by reference, a rewind cuts the segments
 * without deleting a message, and a snapshot keeps the segments it saw.
 */

/** Above this an item's message body goes to S3 (items stay well under DynamoDB's 400 KB). */
export const INLINE_MESSAGE_BYTES = 64 * 1024;
/** A field longer than this comes truncated in a page; read the whole message by id. */
export const PAGE_FIELD_CHARS = 16 * 1024;
/** A page of conversation stays under 1 MB. */
export const PAGE_BYTES = 900 * 1024;

const MAX_SEQ = 9_999_999_999;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** 128 bits of sha256 are plenty to pin a log's content; shorter than hex in every item. */
const chainHash = (previous: string, body: string) => createHash("sha256").update(previous).update(body).digest().subarray(0, 16).toString("base64url");

interface LogEntry {
  seq: number;
  chain: string;
}

/** The last entry of a task's own log (sequence 0 and an empty chain when empty). */
export async function lastLogEntry(db: Db, taskId: string): Promise<LogEntry> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :m)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":m": keys.messagePrefix },
    ScanIndexForward: false,
    Limit: 1,
    ConsistentRead: true,
    ProjectionExpression: "seq, chain",
  });
  const item = items[0];
  return item ? { seq: item.seq as number, chain: item.chain as string } : { seq: 0, chain: "" };
}

function completeMessage(db: Db, m: NewConversationMessage): ConversationMessage {
  return ConversationMessage.parse({ ...m, id: m.id ?? newId(), timestamp: m.timestamp ?? nowIso(db) });
}

/** Shortens what would make a page too large; `truncated` says the whole message is one GET away. */
export function truncateForPage(message: ConversationMessage): ConversationMessage {
  let truncated = message.truncated ?? false;
  const out: ConversationMessage = { ...message };
  if (out.content.length > PAGE_FIELD_CHARS) {
    out.content = out.content.slice(0, PAGE_FIELD_CHARS);
    truncated = true;
  }
  if (out.toolResult !== undefined && out.toolResult.length > PAGE_FIELD_CHARS) {
    out.toolResult = out.toolResult.slice(0, PAGE_FIELD_CHARS);
    truncated = true;
  }
  if (out.toolInput !== undefined && JSON.stringify(out.toolInput).length > PAGE_FIELD_CHARS) {
    delete out.toolInput;
    truncated = true;
  }
  if (out.toolCalls && JSON.stringify(out.toolCalls).length > PAGE_FIELD_CHARS) {
    out.toolCalls = out.toolCalls.map((c) => ({ ...c, input: null }));
    truncated = true;
  }
  if (truncated) out.truncated = true;
  return out;
}

/**
 * Appends messages in order. Each message id is stored once: the log entry
 * and its id pointer are written in one transaction, both conditional, so a
 * resend (even one racing the first send) is skipped rather than stored
 * twice. Large bodies go to S3 first, then the item that names them.
 */
export async function appendMessages(
  db: Db,
  task: TaskRecord,
  incoming: NewConversationMessage[],
): Promise<{ appended: number; skipped: number; messageIds: string[] }> {
  const messages = incoming.map((m) => completeMessage(db, m));
  const seen = new Map<string, number>();
  messages.forEach((m, i) => {
    const first = seen.get(m.id);
    if (first !== undefined) throw badRequest(`messages[${i}].id repeats messages[${first}].id`, `messages.${i}.id`);
    seen.set(m.id, i);
  });
  // Most resends are whole batches already stored: skip those without a write.
  const already = new Set(
    (await db.table.batchGet(messages.map((m) => keys.messageById(task.id, m.id)))).map((item) => messageIdOf(item)),
  );
  let appended = 0;
  let head = messages.some((m) => !already.has(m.id)) ? await lastLogEntry(db, task.id) : { seq: 0, chain: "" };
  for (const message of messages.filter((m) => !already.has(m.id))) {
    const body = JSON.stringify(message);
    let stored: Item = encodeMessage(message);
    if (Buffer.byteLength(body) > INLINE_MESSAGE_BYTES) {
      const blobKey = blobKeys.message(task.ownerId, task.id, message.id);
      await db.blobs.putJson(blobKey, message);
      stored = { ...encodeMessage({ ...truncateForPage(message), truncated: true }), blobKey };
    }
    for (let attempt = 0; ; attempt++) {
      const seq = head.seq + 1;
      const chain = chainHash(head.chain, body);
      try {
        await db.table.transact([
          { Put: { Item: { ...keys.message(task.id, seq), ...stored, seq, chain }, ConditionExpression: "attribute_not_exists(pk)" } },
          { Put: { Item: { ...keys.messageById(task.id, message.id), seq }, ConditionExpression: "attribute_not_exists(pk)" } },
        ]);
        head = { seq, chain };
        appended++;
        break;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw error;
        if (reasons[1] === "ConditionalCheckFailed") break; // stored by a concurrent send of the same message
        // The sequence number was taken, or the transaction met another: read the end of the log again.
        await backoff(attempt);
        head = await lastLogEntry(db, task.id);
      }
    }
  }
  if (appended) await advanceLastSeq(db, task.id, head.seq);
  return { appended, skipped: messages.length - appended, messageIds: messages.map((m) => m.id) };
}

// ------------------------------------------------------------------ segments

/** Segments with the open tail closed at the log's current end: what "now" means for a snapshot or fork. */
export async function closeSegments(db: Db, task: TaskRecord, ownEnd?: number): Promise<ConversationSegment[]> {
  const closed: ConversationSegment[] = [];
  for (const s of task.segments) {
    const to = s.to ?? (s.taskId === task.id && ownEnd !== undefined ? ownEnd : (await lastLogEntry(db, s.taskId)).seq);
    if (to >= s.from) closed.push({ taskId: s.taskId, from: s.from, to });
  }
  return closed;
}

const lengthOf = (s: ConversationSegment) => Math.max(0, (s.to ?? 0) - s.from + 1);
export const countOf = (closed: ConversationSegment[]) => closed.reduce((n, s) => n + lengthOf(s), 0);

/** The first `count` visible messages of closed segments. */
export function clipSegments(closed: ConversationSegment[], count: number): ConversationSegment[] {
  const out: ConversationSegment[] = [];
  let left = count;
  for (const s of closed) {
    if (left <= 0) break;
    const take = Math.min(left, lengthOf(s));
    out.push({ taskId: s.taskId, from: s.from, to: s.from + take - 1 });
    left -= take;
  }
  return out;
}

/** Where visible position `n` (1-based) lives. */
function locate(closed: ConversationSegment[], n: number): { taskId: string; seq: number } | undefined {
  let left = n;
  for (const s of closed) {
    const len = lengthOf(s);
    if (left <= len) return { taskId: s.taskId, seq: s.from + left - 1 };
    left -= len;
  }
  return undefined;
}

/**
 * A content hash for a conversation: each log entry carries a chain hash over
 * every entry before it, so the chain at each segment's end pins its content.
 */
export async function contentHashOf(db: Db, closed: ConversationSegment[]): Promise<string> {
  const parts: string[] = [];
  for (const s of closed) {
    const item = await db.table.get(keys.message(s.taskId, s.to ?? 0), { ProjectionExpression: "chain" });
    parts.push(`${s.taskId}:${s.from}:${s.to}:${(item?.chain as string | undefined) ?? ""}`);
  }
  return sha256(parts.join("|"));
}

// ------------------------------------------------------------------ reading

function toMessage(item: Item, includeToolCalls: boolean, includeToolResults: boolean): ConversationMessage {
  const message = truncateForPage(decodeMessage(item));
  if (!includeToolCalls) {
    delete message.toolCalls;
    delete message.toolInput;
    delete message.toolName;
  }
  if (!includeToolResults) delete message.toolResult;
  return message;
}

export interface ReadOptions {
  scope: string;
  cursor?: string;
  limit: number;
  includeToolCalls?: boolean;
  includeToolResults?: boolean;
}

/**
 * The log entries that segments name, in order, starting after a position
 * (segment index, last sequence read), following segments into ancestors'
 * logs; read a query of at most `chunk` entries at a time, as the caller pulls.
 */
async function* logEntries(
  db: Db,
  segments: ConversationSegment[],
  start: { i: number; after: number },
  chunk?: number,
): AsyncGenerator<{ item: Item; i: number; seq: number }> {
  for (let i = start.i; i < segments.length; i++) {
    const s = segments[i]!;
    let lo = i === start.i ? Math.max(s.from, start.after + 1) : s.from;
    const hi = s.to ?? MAX_SEQ;
    while (lo <= hi) {
      const { items, lastKey } = await db.table.query({
        KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues: { ":p": keys.taskPartition(s.taskId), ":lo": `MSG#${pad(lo)}`, ":hi": `MSG#${pad(hi)}` },
        ConsistentRead: true,
        Limit: chunk,
      });
      for (const item of items) yield { item, i, seq: item.seq as number };
      if (!lastKey || items.length === 0) break;
      lo = (items.at(-1)!.seq as number) + 1;
    }
  }
}

/**
 * One page of a conversation, oldest first, following segments into
 * ancestors' logs. The page stops early rather than pass PAGE_BYTES.
 */
export async function readConversation(
  db: Db,
  segments: ConversationSegment[],
  options: ReadOptions,
): Promise<Page<ConversationMessage>> {
  const position = db.cursors.decode<{ i: number; after: number }>(options.scope, options.cursor) ?? { i: 0, after: 0 };
  const out: Array<{ message: ConversationMessage; i: number; seq: number }> = [];
  let bytes = 0;
  let full = false;
  // One entry past the page tells whether another page exists.
  for await (const { item, i, seq } of logEntries(db, segments, position, options.limit + 1)) {
    const message = toMessage(item, options.includeToolCalls ?? true, options.includeToolResults ?? true);
    const size = Buffer.byteLength(JSON.stringify(message));
    if (out.length === options.limit || (out.length > 0 && bytes + size > PAGE_BYTES)) {
      full = true;
      break;
    }
    bytes += size;
    out.push({ message, i, seq });
  }
  const last = out.at(-1);
  return {
    items: out.map((e) => e.message),
    nextCursor: full && last ? db.cursors.encode(options.scope, { i: last.i, after: last.seq }) : null,
  };
}

/** Every visible message, whole (for a daemon starting a fork with its conversation). */
export async function readWholeConversation(db: Db, segments: ConversationSegment[]): Promise<ConversationMessage[]> {
  const all: ConversationMessage[] = [];
  for await (const { item } of logEntries(db, segments, { i: 0, after: 0 })) all.push(await wholeMessage(db, item));
  return all;
}

async function wholeMessage(db: Db, item: Item): Promise<ConversationMessage> {
  if (typeof item.blobKey === "string") return ConversationMessage.parse(await db.blobs.getJson(item.blobKey));
  return decodeMessage(item);
}

/** Where a message id sits in a task's visible conversation (1-based), if it is visible. */
export async function positionOfMessage(db: Db, closed: ConversationSegment[], messageId: string): Promise<number | undefined> {
  let before = 0;
  for (const s of closed) {
    const ref = await db.table.get(keys.messageById(s.taskId, messageId));
    const seq = ref?.seq as number | undefined;
    if (seq !== undefined && seq >= s.from && seq <= (s.to ?? 0)) return before + seq - s.from + 1;
    before += lengthOf(s);
  }
  return undefined;
}

/** When the message at visible position `n` (1-based) was sent. */
export async function timestampAt(db: Db, closed: ConversationSegment[], n: number): Promise<Date | undefined> {
  const where = locate(closed, n);
  if (!where) return undefined;
  const item = await db.table.get(keys.message(where.taskId, where.seq), {
    ProjectionExpression: "#t",
    ExpressionAttributeNames: { "#t": "timestamp" },
  });
  return item ? new Date(item.timestamp as string) : undefined;
}

/** How many visible messages were sent at or before `at` (binary search; timestamps ascend with the log). */
export async function countUpTo(db: Db, closed: ConversationSegment[], at: Date): Promise<number> {
  let lo = 0;
  let hi = countOf(closed);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const sent = await timestampAt(db, closed, mid);
    if (sent && sent.getTime() <= at.getTime()) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A whole message of a task's conversation, by id (never truncated); hidden messages too, for audit. */
export async function getWholeMessage(db: Db, task: TaskRecord, messageId: string): Promise<ConversationMessage> {
  const logs = [...new Set(task.segments.map((s) => s.taskId))];
  for (const taskId of logs) {
    const ref = await db.table.get(keys.messageById(taskId, messageId));
    if (!ref) continue;
    // A message in an ancestor's log belongs to this task only if one of its segments covers it.
    const seq = ref.seq as number;
    const covered = task.segments.some((s) => s.taskId === taskId && seq >= s.from && (s.to === null || seq <= s.to));
    if (taskId !== task.id && !covered) continue;
    const item = await db.table.get(keys.message(taskId, seq));
    if (item) return wholeMessage(db, item);
  }
  throw notFound("message");
}

// ------------------------------------------------------------------ rewind

/** How many log entries two closed segment lists have in common. */
function overlap(a: ConversationSegment[], b: ConversationSegment[]): number {
  let n = 0;
  for (const x of a) {
    for (const y of b) {
      if (x.taskId === y.taskId) n += Math.max(0, Math.min(x.to ?? 0, y.to ?? 0) - Math.max(x.from, y.from) + 1);
    }
  }
  return n;
}

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
  const head = await lastLogEntry(db, task.id);
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

export async function getConversationRewind(db: Db, task: TaskRecord, rewindId?: string): Promise<ConversationRewind> {
  if (rewindId) {
    const item = await db.table.get(keys.conversationRewind(task.id, rewindId));
    if (!item || item.ownerId !== task.ownerId) throw notFound("conversation rewind");
    return ConversationRewind.parse(item);
  }
  const item = await db.table.queryFirst({
    KeyConditionExpression: "pk = :p AND begins_with(sk, :r)",
    FilterExpression: "attribute_not_exists(restoredAt)",
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":r": keys.conversationRewindPrefix },
    ScanIndexForward: false,
    ConsistentRead: true,
  });
  if (!item) throw notFound("conversation rewind to restore");
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

/** The message id a `MSGID#<id>` pointer names. */
export const messageIdOf = (pointer: Item) => String(pointer.sk).slice("MSGID#".length);
