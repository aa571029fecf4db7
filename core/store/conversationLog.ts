import { ConversationMessage, type ConversationSegment, type TaskRecord } from "../models.js";
import { keys, pad } from "../keys.js";
import { notFound } from "../errors.js";
import type { Db } from "./db.js";
import type { Item } from "./table.js";
import { decodeMessage } from "./messageCodec.js";
import type { Page } from "./paging.js";

/**
 * The conversation is an append-only log per task: one item per message at
 * `MSG#<seq>`, the sequence claimed with a conditional put, so concurrent
 * appenders get a gapless, duplicate-free order. What a task *shows* is a list
 * of segments (runs of sequence numbers, possibly in an ancestor's log): a
 * fork shares its parent's prefix by reference, a rewind cuts the segments
 * without deleting a message, and a snapshot keeps the segments it saw.
 */

/** A field longer than this comes truncated in a page; read the whole message by id. */
export const PAGE_FIELD_CHARS = 16 * 1024;
/** A page of conversation stays under 1 MB. */
export const PAGE_BYTES = 900 * 1024;

const MAX_SEQ = 9_999_999_999;

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
export async function* logEntries(
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
  if (typeof item.blobKey === "string") {
    const whole = ConversationMessage.parse(await db.blobs.getJson(item.blobKey));
    return typeof item.receivedAt === "string" ? { ...whole, receivedAt: item.receivedAt } : whole;
  }
  return decodeMessage(item);
}

export async function entryHasId(db: Db, taskId: string, seq: number, messageId: string): Promise<boolean> {
  const item = await db.table.get(keys.message(taskId, seq), { ProjectionExpression: "id" });
  return item?.id === messageId;
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
    // A pointer left by an append that failed names an entry holding another message, or none.
    if (item && item.id === messageId) return wholeMessage(db, item);
  }
  throw notFound("message");
}

/** The message id a `MSGID#<id>` pointer names. */
export const messageIdOf = (pointer: Item) => String(pointer.sk).slice("MSGID#".length);
