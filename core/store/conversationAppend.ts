import { ConversationMessage, TaskRecord, type NewConversationMessage } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { badRequest, notFound, unavailable } from "../errors.js";
import { log } from "../log.js";
import { recordMetric } from "../metrics.js";
import { type Db, nowIso } from "./db.js";
import { cancellationReasons, type TransactItem } from "./table.js";
import { retryOnConflict } from "./conflicts.js";
import { newHistoryEvent, type NewHistoryEvent } from "./history.js";
import { CHAT_HOST, hostedEvent } from "./hostedEvents.js";
import { findMessages } from "./conversationLog.js";
import { decodeLogItem, idsItem, LogItem, newBatch } from "./logBatch.js";
import { advanceReport, ReportOutOfOrder, reportGuard, reportIsNextFor, type ReportPosition } from "./reportOrder.js";
import { sealIfDue } from "./logSeal.js";

/**
 * Appending to a task's log. An append is one batch item (logBatch.ts),
 * taken and then committed:
 *
 * 1. **take**: the item `MSG#<lastSeq + 1>` is put only if no item has that
 *    key. Every appender that read the same end of the log tries the same
 *    key, so exactly one takes it.
 * 2. **commit**: one transaction moves the task's `lastSeq` (conditional on
 *    the value read, and on the batch still holding its token), writes the
 *    batch's id digests hosting its `chat` history event (hostedEvents.ts)
 *    and the event's timeline items and, for a daemon report, the report
 *    number. Readers see only what is committed, so after any failure the
 *    log, the message count and the history agree.
 * 3. **settle**: when the commit fails, refused or of unknown outcome (an
 *    error that may yet be applied), one rule: the batch is withdrawn
 *    unless it is committed (by this commit, landed after all, or by another
 *    append for it); a commit landing after the withdraw is refused by its
 *    condition on the token. Committed, the append is acknowledged.
 *
 * A batch taken but left uncommitted (its writer died) blocks the next
 * sequence number only until ABANDONED_AFTER_MS: the next appender commits
 * it for its writer, from what the item holds. The big item is written
 * once, outside the transaction; only small items are transactional.
 */

/** A batch taken and not committed this long ago is committed by the next appender. */
const ABANDONED_AFTER_MS = 3_000;
/** How long an append waits for a log that does not move before answering 503. */
const APPEND_STALL_MS = 15_000;

export interface AppendOptions {
  /** The history event of the batch's messages (recorded in the commit). */
  event?: (batch: { count: number; firstMessageId: string; lastMessageId: string; roles: string[] }) => NewHistoryEvent;
  /** A daemon report: applied once, after its predecessor (ReportOutOfOrder otherwise). */
  report?: ReportPosition;
}

/** The committed end of the log, as the task item has it. */
export interface LogHead {
  seq: number;
  chain: string;
  /** The receive time of the last batch (epoch ms; 0 when empty). */
  receivedAt: number;
  reportStream?: string;
  reportSeq?: number;
  /** The log is sealed into S3 up to here. */
  sealedTo: number;
}

/** The end of the log as a task record has it. */
const headOf = (task: Pick<TaskRecord, "lastSeq" | "lastChain" | "lastReceivedAt" | "reportStream" | "reportSeq" | "sealedTo">): LogHead => ({
  seq: task.lastSeq,
  chain: task.lastChain ?? "",
  receivedAt: task.lastReceivedAt ?? 0,
  reportStream: task.reportStream,
  reportSeq: task.reportSeq,
  sealedTo: task.sealedTo ?? 0,
});

/** The task item's attributes that say where its log ends. */
const HeadAttributes = TaskRecord.pick({ lastSeq: true, lastChain: true, lastReceivedAt: true, reportStream: true, reportSeq: true, sealedTo: true });

async function readHead(db: Db, taskId: string): Promise<LogHead> {
  const item = await db.table.get(keys.task(taskId), { ProjectionExpression: Object.keys(HeadAttributes.shape).join(", ") });
  if (!item) throw notFound("task");
  return headOf(HeadAttributes.parse({ lastSeq: 0, ...item }));
}

interface Taken {
  first: number;
  last: number;
  chain: string;
  receivedAt: string;
  token: string;
  messages: ConversationMessage[];
}

/** What commits a taken batch, all in one transaction: the log's end, the batch's id index hosting its `chat` event, and the event's timeline items. */
function commitWrites(task: TaskRecord, head: LogHead, batch: Taken, options: AppendOptions): TransactItem[] {
  const guard = options.report ? reportGuard(options.report, head.reportStream) : undefined;
  const event = options.event?.({
    count: batch.messages.length,
    firstMessageId: batch.messages[0]!.id,
    lastMessageId: batch.messages.at(-1)!.id,
    roles: [...new Set(batch.messages.map((m) => m.role))],
  });
  const ids = idsItem(task.id, batch.first, batch.token, batch.messages.map((m) => m.id));
  // Dated when the batch was received, which ascends with the log.
  const hosted = event ? hostedEvent(newHistoryEvent(event, new Date(batch.receivedAt)), CHAT_HOST, ids) : undefined;
  return [
    // A commit that lands after its batch was withdrawn (an error of unknown outcome, applied late) is refused.
    { ConditionCheck: { Key: keys.logBatch(task.id, batch.first), ConditionExpression: "#t = :t", ExpressionAttributeNames: { "#t": "token" }, ExpressionAttributeValues: { ":t": batch.token } } },
    {
      Update: {
        Key: keys.task(task.id),
        UpdateExpression: `SET lastSeq = :seq, lastChain = :chain, lastReceivedAt = :at${guard ? `, ${guard.set}` : ""}`,
        ConditionExpression: `attribute_exists(pk) AND lastSeq = :prev${guard ? ` AND ${guard.condition}` : ""}`,
        ExpressionAttributeValues: {
          ":prev": head.seq,
          ":seq": batch.last,
          ":chain": batch.chain,
          ":at": Date.parse(batch.receivedAt),
          ...guard?.values,
        },
      },
    },
    { Put: { Item: { ...ids, ...(hosted ? { historyEvent: hosted.historyEvent } : {}) } } },
    ...(hosted?.items ?? []).map((Item) => ({ Put: { Item } })),
  ];
}

/** Whether the batch with this token is committed (its id index is written only by its commit). */
async function isCommitted(db: Db, taskId: string, first: number, token: string): Promise<boolean> {
  const ids = await db.table.get(keys.logIds(taskId, first), { ProjectionExpression: "#t", ExpressionAttributeNames: { "#t": "token" } });
  return ids?.token === token;
}

/**
 * The batch after the committed end was taken by another append: if it has
 * been left uncommitted longer than ABANDONED_AFTER_MS, commit it (without
 * a report number: a resend of that report finds its messages stored).
 */
async function commitAbandoned(db: Db, task: TaskRecord, head: LogHead, options: AppendOptions): Promise<void> {
  const stored = await db.table.get(keys.logBatch(task.id, head.seq + 1));
  if (!stored) return;
  const item = LogItem.parse(stored);
  if (item.kind !== "batch" && item.kind !== "batchInS3") return;
  if (db.clock().getTime() - Date.parse(item.receivedAt) < ABANDONED_AFTER_MS) return;
  const batch = await decodeLogItem(db, task.id, stored);
  const taken: Taken = {
    first: batch.first,
    last: batch.last,
    chain: batch.chains.at(-1)!,
    receivedAt: item.receivedAt,
    token: item.token,
    messages: batch.messages.map(({ receivedAt: _r, ...m }) => m),
  };
  try {
    await db.table.transact(commitWrites(task, head, taken, { event: options.event }));
    log.warn("committed an abandoned append", { taskId: task.id, first: taken.first, last: taken.last });
    recordMetric("LogAbandonedCommitted", 1, {});
  } catch (error) {
    // Its writer committed or withdrew it meanwhile, or the log moved on.
    if (!cancellationReasons(error)) throw error;
  }
}

/** Takes back a batch whose commit failed, unless it got committed meanwhile; whether it was committed. */
async function withdraw(db: Db, taskId: string, head: LogHead, taken: Taken): Promise<boolean> {
  try {
    await db.table.transact([
      { ConditionCheck: { Key: keys.task(taskId), ConditionExpression: "lastSeq = :prev", ExpressionAttributeValues: { ":prev": head.seq } } },
      { Delete: { Key: keys.logBatch(taskId, taken.first), ConditionExpression: "#t = :t", ExpressionAttributeNames: { "#t": "token" }, ExpressionAttributeValues: { ":t": taken.token } } },
    ]);
    return false;
  } catch (error) {
    if (!cancellationReasons(error)) throw error;
    return isCommitted(db, taskId, taken.first, taken.token);
  }
}

/** The next sequence number was taken by another append: read the log's end again and retry. */
class LogMoved extends Error {}

/** Step 0: the messages complete (ids, timestamps from the one clock), each id once. */
function completeMessages(db: Db, incoming: NewConversationMessage[]): ConversationMessage[] {
  const messages = incoming.map((m) => ConversationMessage.parse({ ...m, id: m.id ?? newId(db.clock()), timestamp: m.timestamp ?? nowIso(db) }));
  const seen = new Map<string, number>();
  messages.forEach((m, i) => {
    const first = seen.get(m.id);
    if (first !== undefined) throw badRequest(`messages[${i}].id repeats messages[${first}].id`, `messages.${i}.id`);
    seen.set(m.id, i);
  });
  return messages;
}

/** Where an append stands between tries: the log's end as last read, and what is still to store. */
interface Progress {
  head: LogHead;
  /** The end was read by this append (not taken from the caller's record). */
  fresh: boolean;
  todo: ConversationMessage[];
  /** When the log was last seen to move (the one clock, epoch ms). */
  movedAt: number;
}

/** The messages not stored yet: not in the task's log, nor in what a fork shows from its ancestors. */
async function notStored(db: Db, task: TaskRecord, messages: ConversationMessage[]): Promise<ConversationMessage[]> {
  const ids = messages.map((m) => m.id);
  const stored = await findMessages(db, task.id, ids, task.lastSeq);
  for (const s of task.segments) {
    if (s.taskId === task.id || s.to === null) continue;
    for (const [id, seq] of await findMessages(db, s.taskId, ids, s.to, s.from - 1)) stored.set(id, seq);
  }
  return messages.filter((m) => !stored.has(m.id));
}

/** Reads the end of the log again; what the appends that moved it stored may include some of these (a resend). */
async function refresh(db: Db, taskId: string, p: Progress): Promise<void> {
  const previous = p.head.seq;
  p.head = await readHead(db, taskId);
  p.fresh = true;
  if (p.head.seq > previous) {
    p.movedAt = db.clock().getTime();
    const found = await findMessages(db, taskId, p.todo.map((m) => m.id), p.head.seq, previous);
    p.todo = p.todo.filter((m) => !found.has(m.id));
  }
}

/** Step 1, take: the batch is put at the log's end if no item has that key; undefined when another append has it. */
async function take(db: Db, task: TaskRecord, head: LogHead, todo: ConversationMessage[], attempt: number): Promise<Taken | undefined> {
  // Receive times ascend with the log, strictly from one batch to the next, whatever the appenders' clocks say.
  const receivedAt = new Date(Math.max(db.clock().getTime(), head.receivedAt + 1)).toISOString();
  const batch = newBatch(task, head.seq + 1, head.chain, todo, receivedAt);
  // On a retry, look before writing: while another append is committing the next batch, writing ours is for nothing.
  if (attempt > 0 && (await db.table.get(keys.logBatch(task.id, batch.item.seq), { ProjectionExpression: "seq" }))) return undefined;
  if (batch.chunk) await db.blobs.putJson(batch.chunk.key, batch.chunk.value);
  if (!(await db.table.putNew(batch.item))) return undefined;
  return { first: batch.item.seq, last: batch.item.last, chain: batch.chain, receivedAt, token: batch.item.token, messages: todo };
}

/** How many times a commit that only met other requests is tried. */
const COMMIT_ATTEMPTS = 8;

/** A transaction cancelled only because other requests held its items (none of its conditions failed). */
function onlyConflicted(error: unknown): boolean {
  const reasons = cancellationReasons(error);
  return reasons !== undefined && reasons.includes("TransactionConflict") && !reasons.includes("ConditionalCheckFailed");
}

/** Steps 2 and 3, commit and settle: whether the batch is committed, and the commit's error if it met one. */
async function commit(db: Db, task: TaskRecord, head: LogHead, taken: Taken, options: AppendOptions): Promise<{ committed: boolean; error?: unknown }> {
  try {
    // A commit that met another request on one of its items (a late take of the batch's key) changed nothing: again.
    const writes = commitWrites(task, head, taken, options);
    await retryOnConflict(() => db.table.transact(writes), onlyConflicted, { attempts: COMMIT_ATTEMPTS, baseMs: 5, capMs: 100 });
    return { committed: true };
  } catch (error) {
    // Refused (the log moved, the report is not next) or of unknown outcome: committed by now, or withdrawn.
    const committed = (await isCommitted(db, task.id, taken.first, taken.token)) || (await withdraw(db, task.id, head, taken).catch(() => false));
    if (committed && options.report) {
      // Committed without its report number (by another append), or with it: record it unless recorded.
      await advanceReport(db, task.id, options.report).catch((e: unknown) => {
        if (!(e instanceof ReportOutOfOrder)) throw e;
      });
    }
    return { committed, error };
  }
}

/**
 * Appends messages in order, each id once (an id already in the log is
 * skipped), as one batch: concurrent appends interleave only as whole
 * batches. A daemon report is applied once, in order.
 */
export async function appendMessages(
  db: Db,
  task: TaskRecord,
  incoming: NewConversationMessage[],
  options: AppendOptions = {},
): Promise<{ appended: number; skipped: number; messageIds: string[]; lastSeq: number }> {
  const messages = completeMessages(db, incoming);
  const result = (appended: number, head: LogHead) => ({ appended, skipped: messages.length - appended, messageIds: messages.map((m) => m.id), lastSeq: head.seq });
  // The task as the caller read it is where the log most likely ends: a stale end only costs a retry, as the
  // take and the commit are conditional on it.
  const p: Progress = { head: headOf(task), fresh: false, todo: await notStored(db, task, messages), movedAt: db.clock().getTime() };
  /** One try: take the next sequence number and commit; LogMoved when another append got there first. */
  const tryOnce = async (attempt: number) => {
    // The caller's record may be behind: a report that looks out of order is judged on a fresh read.
    if (attempt > 0 || (options.report && !p.fresh && !reportIsNextFor(p.head, options.report))) await refresh(db, task.id, p);
    if (p.todo.length === 0) {
      if (options.report) await advanceReport(db, task.id, options.report);
      return result(0, p.head);
    }
    if (options.report && !reportIsNextFor(p.head, options.report)) throw new ReportOutOfOrder(options.report);
    const taken = await take(db, task, p.head, p.todo, attempt);
    if (!taken) {
      // The log has not moved for a while: the batch after its end may have lost its writer.
      if (db.clock().getTime() - p.movedAt > ABANDONED_AFTER_MS) await commitAbandoned(db, task, p.head, options);
      throw new LogMoved();
    }
    const { committed, error } = await commit(db, task, p.head, taken, options);
    if (!committed) {
      if (!cancellationReasons(error)) throw error;
      throw options.report ? new ReportOutOfOrder(options.report) : new LogMoved();
    }
    const end = { ...p.head, seq: taken.last, chain: taken.chain, receivedAt: Date.parse(taken.receivedAt) };
    await sealIfDue(db, task, end).catch((e: unknown) => log.warn("sealing failed; the next append retries", { taskId: task.id, error: e }));
    return result(p.todo.length, end);
  };
  try {
    // Only a log that stops moving runs out the time: under contention, every append gets its turn.
    return await retryOnConflict(tryOnce, (error) => error instanceof LogMoved, { until: () => p.movedAt + APPEND_STALL_MS, now: () => db.clock().getTime(), baseMs: 10, capMs: 200 });
  } catch (error) {
    if (error instanceof LogMoved) throw unavailable();
    throw error;
  }
}
