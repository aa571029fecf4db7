import { createHash } from "node:crypto";
import type { ConversationSegment, TaskRecord } from "../models.js";
import { keys } from "../keys.js";
import type { Db } from "./db.js";
import { entryHasId, lastLogEntry } from "./conversationLog.js";

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

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

/** Where a message id sits in a task's visible conversation (1-based), if it is visible. */
export async function positionOfMessage(db: Db, closed: ConversationSegment[], messageId: string): Promise<number | undefined> {
  let before = 0;
  for (const s of closed) {
    const ref = await db.table.get(keys.messageById(s.taskId, messageId));
    const seq = ref?.seq as number | undefined;
    if (seq !== undefined && seq >= s.from && seq <= (s.to ?? 0) && (await entryHasId(db, s.taskId, seq, messageId))) {
      return before + seq - s.from + 1;
    }
    before += lengthOf(s);
  }
  return undefined;
}

/**
 * When the server stored the message at visible position `n` (1-based): its
 * receive time, which ascends with the log whatever the agents' clocks say
 * (entries stored before receive times were kept fall back to their timestamp).
 */
export async function timestampAt(db: Db, closed: ConversationSegment[], n: number): Promise<Date | undefined> {
  const where = locate(closed, n);
  if (!where) return undefined;
  const item = await db.table.get(keys.message(where.taskId, where.seq), {
    ProjectionExpression: "#t, receivedAt",
    ExpressionAttributeNames: { "#t": "timestamp" },
  });
  return item ? new Date((item.receivedAt ?? item.timestamp) as string) : undefined;
}

/** How many visible messages the server had received at or before `at` (binary search over receive times). */
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
