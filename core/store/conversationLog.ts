import * as z from "zod";
import { ConversationMessage, type ConversationSegment, type TaskRecord } from "../models.js";
import { keys, pad } from "../keys.js";
import { notFound } from "../errors.js";
import { isMissing } from "../blobs.js";
import type { Db } from "./db.js";
import type { Item } from "./table.js";
import { chainHash, decodeLogItem, digestsOf, idDigest, LogItem, type LogBatch } from "./logBatch.js";
import { queryPages, type Page } from "./paging.js";

/**
 * Reading the conversation. Each task has an append-only log (see
 * logBatch.ts for how it is stored); what a task *shows* is a list of
 * segments (runs of sequence numbers, possibly in an ancestor's log): a fork
 * shares its parent's prefix by reference, a rewind cuts the segments
 * without deleting a message, and a snapshot keeps the segments it saw.
 * Only committed messages are read: up to the task item's `lastSeq`.
 */

/** A field longer than this comes truncated in a page; read the whole message by id. */
export const PAGE_FIELD_CHARS = 16 * 1024;
/** A page of conversation stays under 1 MB. */
const PAGE_BYTES = 900 * 1024;
/** Log items per query (a query returns at most 1 MB whatever the limit). */
const ITEMS_PER_QUERY = 25;
/** Items whose messages are in S3 are fetched this many at a time, ahead of the reader. */
const READ_AHEAD = 4;

/** The last committed sequence number of a task's log, and the chain hash there. */
export async function committedEnd(db: Db, taskId: string): Promise<{ seq: number; chain: string }> {
  const item = await db.table.get(keys.task(taskId), { ProjectionExpression: "lastSeq, lastChain" });
  return { seq: (item?.lastSeq as number | undefined) ?? 0, chain: (item?.lastChain as string | undefined) ?? "" };
}

/** Segments with each open tail closed at its log's committed end (`known` when the caller has just read it). */
export async function closeOpen(
  db: Db,
  segments: ConversationSegment[],
  known?: { taskId: string; end: number },
): Promise<ConversationSegment[]> {
  const closed: ConversationSegment[] = [];
  for (const s of segments) {
    const to = s.to ?? (s.taskId === known?.taskId ? known.end : (await committedEnd(db, s.taskId)).seq);
    if (to >= s.from) closed.push({ taskId: s.taskId, from: s.from, to });
  }
  return closed;
}

/** The log item whose messages include `seq` (or, past a log's end, its last item). */
async function itemHolding(db: Db, taskId: string, seq: number): Promise<Item | undefined> {
  const { items } = await db.table.query({
    KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":lo": keys.logBatchPrefix, ":hi": keys.logBatch(taskId, seq).sk },
    ScanIndexForward: false,
    Limit: 1,
    ConsistentRead: true,
  });
  return items[0];
}

/**
 * The batches of a log holding sequence numbers lo..hi, in order, read as
 * the caller pulls: the item holding `lo`, then forward. A tombstone sends
 * the reader to the sealed stretch that took its messages.
 */
async function* batchesOf(db: Db, taskId: string, lo: number, hi: number): AsyncGenerator<LogBatch> {
  let next = lo;
  const located = await itemHolding(db, taskId, lo);
  // Items read and not yet yielded; the S3 reads of the next few go out together.
  let queued: Array<{ stored: Item; item: LogItem; decoded?: Promise<LogBatch> }> = [];
  const enqueue = (items: Item[]) => {
    queued = items.map((stored) => ({ stored, item: LogItem.parse(stored) }));
  };
  const prefetch = () => {
    for (const entry of queued.slice(0, READ_AHEAD)) {
      if (entry.decoded || entry.item.last < next || entry.item.kind === "tombstone") continue;
      entry.decoded = decodeRead(db, taskId, entry.stored);
      entry.decoded.catch(() => undefined);
    }
  };
  if (located) enqueue([located]);
  let after = located ? LogItem.parse(located).seq : lo - 1;
  while (next <= hi) {
    if (queued.length === 0) {
      const { items } = await db.table.query({
        KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":lo": `${keys.logBatchPrefix}${pad(after + 1)}`, ":hi": keys.logBatch(taskId, hi).sk },
        Limit: ITEMS_PER_QUERY,
        ConsistentRead: true,
      });
      if (items.length === 0) break;
      enqueue(items);
    }
    prefetch();
    const { item, decoded } = queued.shift()!;
    after = Math.max(after, item.seq);
    if (item.last < next) continue;
    let batch: LogBatch;
    if (item.kind === "tombstone") {
      const holding = await db.table.get(keys.logBatch(taskId, item.sealedInto));
      if (!holding) throw new Error(`log of task ${taskId}: sealed stretch ${item.sealedInto} is missing`);
      batch = await decodeLogItem(db, taskId, holding);
    } else {
      batch = await decoded!;
    }
    if (batch.first > next) throw new Error(`log of task ${taskId} has no message ${next}`);
    yield batch;
    next = batch.last + 1;
    // A sealed stretch covers the tombstones after it: the next query starts past them.
    after = Math.max(after, batch.last);
  }
}

/**
 * A log item read a moment ago, decoded. A sealing may have folded it into
 * a stretch since, and the cleanup sweep removed its S3 object: then the
 * stretch that holds its messages now is read instead.
 */
async function decodeRead(db: Db, taskId: string, stored: Item): Promise<LogBatch> {
  try {
    return await decodeLogItem(db, taskId, stored);
  } catch (error) {
    if (!isMissing(error)) throw error;
    const now = await db.table.get(keys.logBatch(taskId, LogItem.parse(stored).seq));
    const folded = now ? LogItem.parse(now) : undefined;
    const into = folded?.kind === "tombstone" ? folded.sealedInto : undefined;
    const holding = into === undefined ? undefined : await db.table.get(keys.logBatch(taskId, into));
    if (!holding) throw error;
    return decodeLogItem(db, taskId, holding);
  }
}

/** A message of a log with its place: what readers walk. */
export interface LogEntry {
  message: ConversationMessage;
  seq: number;
  chain: string;
  /** The segment it is visible through. */
  i: number;
}

/** The entries that closed segments name, in order, starting after a position (segment index, last sequence read). */
export async function* logEntries(db: Db, closed: ConversationSegment[], start: { i: number; after: number } = { i: 0, after: 0 }): AsyncGenerator<LogEntry> {
  for (let i = start.i; i < closed.length; i++) {
    const s = closed[i]!;
    const lo = i === start.i ? Math.max(s.from, start.after + 1) : s.from;
    const hi = s.to ?? 0;
    if (lo > hi) continue;
    // A batch may reach back before what was read already (a stretch sealed while reading): go on from where it stopped.
    let next = lo;
    for await (const batch of batchesOf(db, s.taskId, lo, hi)) {
      for (let seq = Math.max(next, batch.first); seq <= Math.min(hi, batch.last); seq++) {
        const k = seq - batch.first;
        yield { message: batch.messages[k]!, seq, chain: batch.chains[k]!, i };
      }
      next = Math.max(next, batch.last + 1);
    }
  }
}

/**
 * Single entries by position, each log item read once: for probes (a
 * binary search over receive times, the chain at a segment's end).
 */
export class EntryReader {
  private readonly batches = new Map<string, LogBatch>();
  constructor(private readonly db: Db) {}

  async at(taskId: string, seq: number): Promise<LogEntry | undefined> {
    for (const [key, batch] of this.batches) {
      if (key.startsWith(`${taskId}#`) && seq >= batch.first && seq <= batch.last) return this.entry(batch, seq);
    }
    for await (const batch of batchesOf(this.db, taskId, seq, seq)) {
      this.batches.set(`${taskId}#${batch.first}`, batch);
      return this.entry(batch, seq);
    }
    return undefined;
  }

  private entry(batch: LogBatch, seq: number): LogEntry {
    const k = seq - batch.first;
    return { message: batch.messages[k]!, seq, chain: batch.chains[k]!, i: 0 };
  }
}

/** Shortens what would make a page too large; `truncated` says the whole message is one GET away. */
function truncateForPage(message: ConversationMessage): ConversationMessage {
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

function toPageMessage(whole: ConversationMessage, includeToolCalls: boolean, includeToolResults: boolean): ConversationMessage {
  const message = truncateForPage(whole);
  if (!includeToolCalls) {
    delete message.toolCalls;
    delete message.toolInput;
    delete message.toolName;
  }
  if (!includeToolResults) delete message.toolResult;
  return message;
}

/** Where a page of conversation goes on: after sequence number `after` of segment `i`. */
const ConversationPosition = z.strictObject({ i: z.int().min(0), after: z.int().min(0) });

export interface ReadOptions {
  scope: string;
  cursor?: string;
  limit: number;
  includeToolCalls?: boolean;
  includeToolResults?: boolean;
}

/**
 * One page of a conversation, oldest first, following segments into
 * ancestors' logs (open tails end at the log's committed end). The page
 * stops early rather than pass PAGE_BYTES.
 */
export async function readConversation(
  db: Db,
  segments: ConversationSegment[],
  options: ReadOptions,
): Promise<Page<ConversationMessage>> {
  const position = db.cursors.decode(options.scope, options.cursor, ConversationPosition) ?? { i: 0, after: 0 };
  const closed = await closeOpen(db, segments);
  const out: Array<{ message: ConversationMessage; i: number; seq: number }> = [];
  let bytes = 0;
  let full = false;
  // One entry past the page tells whether another page exists.
  for await (const { message: whole, i, seq } of logEntries(db, closed, position)) {
    const message = toPageMessage(whole, options.includeToolCalls ?? true, options.includeToolResults ?? true);
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
  for await (const { message } of logEntries(db, await closeOpen(db, segments))) all.push(message);
  return all;
}

/**
 * Where message ids sit in a task's own log, in after+1..upTo: the id digests
 * of its committed batches say where to look, and the entry there must
 * carry the id (a digest match alone is not proof).
 */
export async function findMessages(db: Db, taskId: string, ids: string[], upTo: number, after = 0): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  if (ids.length === 0 || upTo <= after) return found;
  // Ids whose digests collide are each looked for.
  const wanted = new Map<string, string[]>();
  for (const id of ids) wanted.set(idDigest(id), [...(wanted.get(idDigest(id)) ?? []), id]);
  const candidates: Array<{ id: string; seq: number }> = [];
  const pages = queryPages(db, {
    KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":lo": keys.logIds(taskId, after + 1).sk, ":hi": keys.logIds(taskId, upTo).sk },
    ConsistentRead: true,
  });
  for await (const items of pages) {
    for (const item of items) {
      for (const { digest, seq } of digestsOf(item)) {
        if (seq <= upTo) for (const id of wanted.get(digest) ?? []) candidates.push({ id, seq });
      }
    }
  }
  const reader = new EntryReader(db);
  for (const { id, seq } of candidates) {
    if (found.has(id)) continue;
    const entry = await reader.at(taskId, seq);
    if (entry?.message.id === id) found.set(id, seq);
  }
  return found;
}

/** A whole message of a task's conversation, by id (never truncated); hidden messages too, for audit. */
export async function getWholeMessage(db: Db, task: TaskRecord, messageId: string): Promise<ConversationMessage> {
  for (const taskId of [...new Set(task.segments.map((s) => s.taskId))]) {
    const end = taskId === task.id ? task.lastSeq : Math.max(...task.segments.filter((s) => s.taskId === taskId).map((s) => s.to ?? 0));
    const seq = (await findMessages(db, taskId, [messageId], end)).get(messageId);
    if (seq === undefined) continue;
    // A message in an ancestor's log belongs to this task only if one of its segments covers it.
    const covered = task.segments.some((s) => s.taskId === taskId && seq >= s.from && (s.to === null || seq <= s.to));
    if (taskId !== task.id && !covered) continue;
    const entry = await new EntryReader(db).at(taskId, seq);
    if (entry) return entry.message;
  }
  throw notFound("message");
}

/**
 * Recomputes a task's chain hashes from its messages as stored, batches and
 * sealed stretches alike: whether every stored chain hash and the task's
 * `lastChain` agree with the messages (nothing lost, changed or reordered).
 */
export async function verifyLog(db: Db, taskId: string): Promise<{ messages: number; ok: boolean; firstBad?: number }> {
  const end = await committedEnd(db, taskId);
  let chain = "";
  let messages = 0;
  for await (const batch of batchesOf(db, taskId, 1, end.seq)) {
    for (let k = messages + 1 - batch.first; k < batch.bodies.length; k++) {
      chain = chainHash(chain, batch.bodies[k]!);
      messages++;
      if (chain !== batch.chains[k] || batch.first + k !== messages) return { messages, ok: false, firstBad: batch.first + k };
    }
  }
  return { messages, ok: messages === end.seq && chain === end.chain };
}
