import { NewConversationMessage, type Connection, type TaskRecord } from "../../models.js";
import type { DaemonMessage, RefusedMessage, ReportAck } from "../../protocol.js";
import type { ScreenedReport } from "./reportScreen.js";
import * as reportOrder from "../../store/reportOrder.js";
import { blobKeys, isMissing, TooLarge } from "../../blobs.js";
import { DomainError, isUnavailable } from "../../errors.js";
import * as table from "../../store/table.js";
import * as conflicts from "../../store/conflicts.js";
import * as checkpoints from "../../store/checkpoints.js";
import * as tasks from "../../store/tasks.js";
import type { ServiceContext } from "../context.js";
import { appendToTask, setTaskStatus } from "../tasks.js";
import { checkpointTask } from "../checkpoints.js";
import { withFreshTask } from "../freshTask.js";

export type Report = Extract<DaemonMessage, { type: "checkpointCreated" | "taskMessages" | "taskStatus" }>;
/** What screening a report took out of it, and where each message kept stood in it. */
export type Screening = Pick<ScreenedReport, "refused" | "places">;

/** How long a report that came before its predecessor waits for it before being answered `early`. */
const REPORT_HOLD_MS = 3000;
/** An uploaded message (too large for a WebSocket message) is taken up to this size, gzip as stored. */
const MAX_UPLOADED_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * A daemon's report about a task. Numbered (`report`), it is applied once,
 * after its predecessor (held up to REPORT_HOLD_MS for it), and answered
 * with a `reportAck` (the answer to the message: the WebSocket route's
 * response); unnumbered (an older daemon), it is applied on arrival, as the
 * HTTP endpoints would, and not answered.
 */
export async function handleReport(
  ctx: ServiceContext,
  connection: Connection,
  message: Report,
  screening: Screening = { refused: [], places: [] },
): Promise<ReportAck | undefined> {
  const position = message.report;
  if (!position) {
    await applyReport(ctx, connection, message, screening);
    return undefined;
  }
  const ack = (status: ReportAck["status"], applied: number, error?: ReportAck["error"], refused: RefusedMessage[] = []): ReportAck => ({
    type: "reportAck",
    taskId: message.taskId,
    stream: position.stream,
    seq: position.seq,
    applied,
    status,
    ...(error ? { error } : {}),
    ...(refused.length ? { refused } : {}),
  });
  // A stream that could hold the task against every later one is refused whole.
  const refusal = reportOrder.streamRefusal(position.stream, ctx.db.clock());
  if (refusal) return ack("rejected", 0, refusal);
  const deadline = Date.now() + REPORT_HOLD_MS;
  // An early report waits for its predecessor, up to the hold.
  for (let attempt = 0; ; attempt++) {
    const answer = await conflicts.retryOnConflict(
      async (): Promise<ReportAck | { kind: "early"; applied: number }> => {
        const task = await tasks.getTaskRecord(ctx.db, connection.ownerId, message.taskId);
        if (!task) return ack("rejected", 0, { code: "not_found", message: "task not found" });
        const state = reportOrder.reportPlace(task, position);
        if (state.kind === "duplicate") return ack("duplicate", state.applied);
        if (state.kind === "superseded") return ack("superseded", state.applied);
        if (state.kind === "early") return { kind: "early", applied: state.applied };
        try {
          const refused = await applyReport(ctx, connection, message, screening, task);
          return ack("applied", position.seq, undefined, refused);
        } catch (error) {
          if (error instanceof DomainError && error.status < 500 && error.status !== 409) {
            // It can never apply: skip it, so that the reports after it still can.
            await reportOrder.advanceReport(ctx.db, task.id, position).catch((e) => {
              if (!(e instanceof reportOrder.ReportOutOfOrder)) throw e;
            });
            return ack("rejected", position.seq, { code: error.code, message: error.message });
          }
          throw error;
        }
      },
      // A concurrent copy got there first, or the task moved under it: look again.
      (error) => error instanceof reportOrder.ReportOutOfOrder || (error instanceof DomainError && error.status === 409),
      { attempts: 51, baseMs: 10, capMs: 50 },
    );
    if (!("kind" in answer)) return answer;
    if (Date.now() > deadline) return ack("early", answer.applied);
    // Held for its predecessor, which is usually being applied right now: look again soon.
    await table.backoff(attempt, 5, 20);
  }
}

/**
 * What a report changes, with its report number moving in the same write
 * where there is one; answers the messages it did not store.
 */
async function applyReport(ctx: ServiceContext, connection: Connection, message: Report, screening: Screening, read?: TaskRecord): Promise<RefusedMessage[]> {
  const { db } = ctx;
  const position = message.report;
  // The task as just read by the caller (a numbered report), or read now.
  const task = read ?? (await tasks.getTaskRecord(db, connection.ownerId, message.taskId));
  if (!task) throw new DomainError(404, "not_found", "task not found");
  switch (message.type) {
    case "checkpointCreated": {
      const { type: _t, taskId: _id, report: _r, messages, ...checkpoint } = message;
      // The messages printed before the commit go in first, without the report number (the checkpoint
      // moves it): if the checkpoint fails, the resend finds them stored, and ids make that a no-op.
      const whole = await wholeMessages(ctx, connection, message.taskId, messages ?? [], screening);
      if (whole.messages.length) await appendToTask(ctx, task, whole.messages);
      // One checkpoint per commit: a report that is not numbered (or starts a stream, as after a lost outbox)
      // may repeat one already stored; a numbered one that is next cannot.
      if ((!position || position.seq === 1) && (await checkpoints.hasCheckpointAt(db, task, checkpoint.commitSha))) {
        if (position) await reportOrder.advanceReport(db, task.id, position);
        return whole.refused;
      }
      await checkpointTask(ctx, task, checkpoint, position);
      return whole.refused;
    }
    case "taskMessages": {
      // Message ids make a resend a no-op (see store/conversationAppend.ts).
      const whole = await wholeMessages(ctx, connection, message.taskId, message.messages, screening);
      if (whole.messages.length) await appendToTask(ctx, task, whole.messages, position);
      else if (position) await reportOrder.advanceReport(db, task.id, position);
      return whole.refused;
    }
    case "taskStatus":
      await withFreshTask(db, connection.ownerId, message.taskId, async (task) => {
        if (position && reportOrder.reportPlace(task, position).kind !== "next") throw new reportOrder.ReportOutOfOrder(position);
        // The write is conditional on the task as read, report number included.
        await setTaskStatus(
          ctx,
          task,
          message.status,
          { daemonId: connection.daemonId, ...(position ? { reportStream: position.stream, reportSeq: position.seq } : {}) },
          message.exit,
        );
      });
      return [];
  }
}

/**
 * The messages of a report, those the daemon uploaded (too large for a
 * WebSocket message) read back whole; an upload that is missing, too large or
 * not that message is refused on its own, with what screening refused.
 */
async function wholeMessages(
  ctx: ServiceContext,
  connection: Connection,
  taskId: string,
  messages: Extract<Report, { type: "taskMessages" }>["messages"],
  screening: Screening,
): Promise<{ messages: NewConversationMessage[]; refused: RefusedMessage[] }> {
  const read = await Promise.all(
    messages.map(async (m, i): Promise<NewConversationMessage | RefusedMessage> => {
      try {
        return await wholeMessage(ctx, connection, taskId, m);
      } catch (error) {
        if (!(error instanceof DomainError) || error.status >= 500) throw error;
        return { index: screening.places[i] ?? i, id: m.id, code: error.code, message: error.message };
      }
    }),
  );
  const refused = [...screening.refused, ...read.filter((r): r is RefusedMessage => "index" in r)].sort((a, b) => a.index - b.index);
  return { messages: read.filter((r): r is NewConversationMessage => !("index" in r)), refused };
}

async function wholeMessage(
  ctx: ServiceContext,
  connection: Connection,
  taskId: string,
  { uploaded, ...m }: Extract<Report, { type: "taskMessages" }>["messages"][number],
): Promise<NewConversationMessage> {
  if (!uploaded) return m;
  const key = blobKeys.messageUpload(connection.ownerId, taskId, m.id);
  const size = await ctx.db.blobs.sizeOf(key);
  if (size === undefined) throw new DomainError(400, "upload_missing", `message ${m.id} was reported uploaded, but no upload is there`);
  if (size > MAX_UPLOADED_MESSAGE_BYTES) {
    throw new DomainError(413, "upload_too_large", `the upload of message ${m.id} is ${size} bytes; at most ${MAX_UPLOADED_MESSAGE_BYTES} are taken`);
  }
  // Whatever the daemon put there: JSON of that message, or a refusal (never a failure that would hold up later reports).
  const body = await ctx.db.blobs.getJson(key, MAX_UPLOADED_MESSAGE_BYTES).catch((error: unknown) => {
    if (isMissing(error)) throw new DomainError(400, "upload_missing", `message ${m.id} was reported uploaded, but no upload is there`);
    if (error instanceof TooLarge) {
      throw new DomainError(413, "upload_too_large", `the upload of message ${m.id} is over ${MAX_UPLOADED_MESSAGE_BYTES} bytes once decompressed`);
    }
    if (isUnavailable(error)) throw error;
    throw new DomainError(400, "upload_invalid", `the upload of message ${m.id} is not JSON`);
  });
  const parsed = NewConversationMessage.safeParse(body);
  if (!parsed.success || parsed.data.id !== m.id) throw new DomainError(400, "upload_invalid", `the upload of message ${m.id} is not that message`);
  return parsed.data;
}
