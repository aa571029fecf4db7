import { createHash } from "node:crypto";
import type { ConversationSegment, TaskRecord } from "../models.js";
import type { Db } from "./db.js";
import { closeOpen, EntryReader, findMessages } from "./conversationLog.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Segments with the open tail closed at the log's committed end: what "now" means for a snapshot or fork. */
export function closeSegments(db: Db, task: TaskRecord, ownEnd?: number): Promise<ConversationSegment[]> {
  return closeOpen(db, task.segments, ownEnd === undefined ? undefined : { taskId: task.id, end: ownEnd });
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
 * `head` is a log end the caller knows (the task's lastSeq and lastChain).
 */
export async function contentHashOf(
  db: Db,
  closed: ConversationSegment[],
  head?: { taskId: string; seq: number; chain: string },
): Promise<string> {
  const reader = new EntryReader(db);
  const parts: string[] = [];
  for (const s of closed) {
    const to = s.to ?? 0;
    const chain = head && head.taskId === s.taskId && head.seq === to ? head.chain : ((await reader.at(s.taskId, to))?.chain ?? "");
    parts.push(`${s.taskId}:${s.from}:${s.to}:${chain}`);
  }
  return sha256(parts.join("|"));
}

/** Where a message id sits in a task's visible conversation (1-based), if it is visible. */
export async function positionOfMessage(db: Db, closed: ConversationSegment[], messageId: string): Promise<number | undefined> {
  let before = 0;
  for (const s of closed) {
    const seq = (await findMessages(db, s.taskId, [messageId], s.to ?? 0)).get(messageId);
    if (seq !== undefined && seq >= s.from) return before + seq - s.from + 1;
    before += lengthOf(s);
  }
  return undefined;
}

/**
 * When the server stored the message at visible position `n` (1-based): its
 * receive time, which ascends with the log whatever the agents' clocks say
 * (entries stored before receive times were kept fall back to their timestamp).
 */
export async function timestampAt(db: Db, closed: ConversationSegment[], n: number, reader = new EntryReader(db)): Promise<Date | undefined> {
  const where = locate(closed, n);
  if (!where) return undefined;
  const entry = await reader.at(where.taskId, where.seq);
  return entry ? new Date(entry.message.receivedAt ?? entry.message.timestamp) : undefined;
}

/** How many visible messages the server had received at or before `at` (binary search over receive times). */
export async function countUpTo(db: Db, closed: ConversationSegment[], at: Date): Promise<number> {
  const reader = new EntryReader(db);
  let lo = 0;
  let hi = countOf(closed);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const sent = await timestampAt(db, closed, mid, reader);
    if (sent && sent.getTime() <= at.getTime()) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** How many log entries two closed segment lists have in common. */
export function overlap(a: ConversationSegment[], b: ConversationSegment[]): number {
  let n = 0;
  for (const x of a) {
    for (const y of b) {
      if (x.taskId === y.taskId) n += Math.max(0, Math.min(x.to ?? 0, y.to ?? 0) - Math.max(x.from, y.from) + 1);
    }
  }
  return n;
}
