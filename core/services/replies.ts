import { CodeRewind, NewConversationMessage, type Connection, type OperationRecord, type Phase, type TaskCheckpoint, type TaskRecord } from "../models.js";
import type { DaemonMessage, DaemonReply, GitDiffInfo, PreservedState, ReportAck } from "../protocol.js";
import { advanceReport, ReportOutOfOrder } from "../store/reportOrder.js";
import { newId } from "../ids.js";
import { blobKeys } from "../blobs.js";
import { DomainError } from "../errors.js";
import type { Principal } from "../auth.js";
import type { Relay } from "../relay.js";
import type { Db } from "../store/db.js";
import { claimReply, getOperationRecord, settleOperation, type Outcome } from "../store/operations.js";
import { backoff } from "../store/table.js";
import { handOverConnection, removePendingOperation, updateConnection } from "../store/connections.js";
import { getCheckpoint, hasRecentCheckpointAt } from "../store/checkpoints.js";
import { createSnapshot, toSnapshot } from "../store/snapshots.js";
import { clearRestartPoint, getTaskRecord, startSucceeded, toTask } from "../store/tasks.js";
import type { ServiceContext } from "./context.js";
import { appendMessages, eventWrites, phaseOf, recordTaskEvent, setTaskStatus } from "./tasks.js";
import { createCheckpoint } from "./checkpoints.js";
import { spawnOperationFailed, startAwaitingTasks } from "./spawn.js";
import { codeRewindWrite, failCodeRewind, markCodeRewindUndone } from "../store/codeRewinds.js";
import type { TransactItem } from "../store/table.js";
import { applyConversationRewind, type PendingConversationCut } from "./rewind.js";
import { log } from "../log.js";

/**
 * Everything a daemon says over the WebSocket, handled once: replies settle
 * their pending operation (after recording what the command did), reports
 * land in the store exactly as the HTTP endpoints would put them.
 */
export async function handleDaemonMessage(db: Db, relay: Relay, connection: Connection, message: DaemonMessage): Promise<void> {
  const principal: Principal = { ownerId: connection.ownerId, via: "daemon", keyId: connection.daemonId };
  const ctx: ServiceContext = { db, relay, principal };
  switch (message.type) {
    case "hello":
      await updateConnection(db, connection.connectionId, { hostname: message.hostname, version: message.version });
      await startAwaitingTasks(db, relay, connection.ownerId, connection.daemonId);
      return;
    case "heartbeat":
      return;
    case "uploadRequest": {
      const task = await getTaskRecord(db, connection.ownerId, message.taskId);
      if (!task) throw new DomainError(404, "not_found", "task not found");
      const uploadUrl = await db.blobs.presignPut(blobKeys.messageUpload(task.ownerId, task.id, message.messageId));
      await relay.notify(connection.connectionId, { type: "uploadGranted", requestId: message.requestId, uploadUrl });
      return;
    }
    case "handover": {
      const operations = await handOverConnection(db, connection);
      await relay.notify(connection.connectionId, { type: "handedOver", operations });
      return;
    }
    case "checkpointCreated":
    case "taskMessages":
    case "taskStatus":
      await handleReport(ctx, connection, message);
      return;
    case "error": {
      if (!message.requestId) {
        log.warn("daemon error", { daemonId: connection.daemonId, code: message.code, detail: message.message });
        return;
      }
      const op = await operationFor(db, connection, message.requestId);
      if (!op) return;
      const error = { code: message.code, message: message.message };
      if (await claimReply(db, op)) {
        await settleOperation(db, op, { status: "failed", error });
        await spawnOperationFailed(db, op, error);
      }
      // Late or not, a rewind the daemon reports failed did not happen (it rolls back first).
      await codeRewindFailed(db, op, error);
      return;
    }
    default:
      await handleReply(ctx, connection, message);
  }
}

type Report = Extract<DaemonMessage, { type: "checkpointCreated" | "taskMessages" | "taskStatus" }>;

/** How long a report that came before its predecessor waits for it before being answered `early`. */
export const REPORT_HOLD_MS = 3000;

/**
 * A daemon's report about a task. Numbered (`report`), it is applied once,
 * after its predecessor (held up to REPORT_HOLD_MS for it), and answered
 * with a `reportAck` on the connection; unnumbered (an older daemon), it is
 * applied on arrival, as the HTTP endpoints would.
 */
async function handleReport(ctx: ServiceContext, connection: Connection, message: Report): Promise<void> {
  const position = message.report;
  if (!position) return applyReport(ctx, connection, message);
  const ack = (status: ReportAck["status"], applied: number, error?: ReportAck["error"]) =>
    ctx.relay.notify(connection.connectionId, { type: "reportAck", taskId: message.taskId, stream: position.stream, seq: position.seq, applied, status, ...(error ? { error } : {}) });
  const deadline = Date.now() + REPORT_HOLD_MS;
  let conflicts = 0;
  for (let attempt = 0; ; attempt++) {
    const task = await getTaskRecord(ctx.db, connection.ownerId, message.taskId);
    if (!task) return ack("rejected", 0, { code: "not_found", message: "task not found" });
    const state = reportState(task, position);
    if (state.kind === "duplicate") return ack("duplicate", state.applied);
    if (state.kind === "superseded") return ack("superseded", state.applied);
    if (state.kind === "next") {
      try {
        await applyReport(ctx, connection, message);
        return ack("applied", position.seq);
      } catch (error) {
        if (++conflicts > 50) throw error;
        if (error instanceof ReportOutOfOrder || (error instanceof DomainError && error.status === 409)) {
          // A concurrent copy got there first, or the task moved under it: look again.
          await backoff(conflicts, 10, 50);
          continue;
        }
        if (error instanceof DomainError && error.status < 500) {
          // It can never apply: skip it, so that the reports after it still can.
          await advanceReport(ctx.db, task.id, position).catch((e) => {
            if (!(e instanceof ReportOutOfOrder)) throw e;
          });
          return ack("rejected", position.seq, { code: error.code, message: error.message });
        }
        throw error;
      }
    }
    if (Date.now() > deadline) return ack("early", state.applied);
    await backoff(attempt, 10, 50);
  }
}

function reportState(task: TaskRecord, position: NonNullable<Report["report"]>): { kind: "next" | "duplicate" | "early" | "superseded"; applied: number } {
  const sameStream = task.reportStream === position.stream;
  const applied = sameStream ? (task.reportSeq ?? 0) : 0;
  if (!sameStream) return position.seq === 1 ? { kind: "next", applied } : { kind: task.reportStream ? "superseded" : "early", applied };
  if (applied >= position.seq) return { kind: "duplicate", applied };
  return { kind: applied === position.seq - 1 ? "next" : "early", applied };
}

/** What a report changes, with its report number moving in the same write where there is one. */
async function applyReport(ctx: ServiceContext, connection: Connection, message: Report): Promise<void> {
  const { db } = ctx;
  const position = message.report;
  switch (message.type) {
    case "checkpointCreated": {
      const { type: _t, taskId, report: _r, ...checkpoint } = message;
      const task = await getTaskRecord(db, connection.ownerId, taskId);
      if (!task) throw new DomainError(404, "not_found", "task not found");
      // A daemon that is not sure a report arrived sends it again: one checkpoint per commit.
      if (await hasRecentCheckpointAt(db, task.id, checkpoint.commitSha)) {
        if (position) await advanceReport(db, task.id, position);
        return;
      }
      await createCheckpoint(ctx, taskId, checkpoint, position);
      return;
    }
    case "taskMessages":
      // Message ids make a resend a no-op (see store/conversationAppend.ts).
      await appendMessages(ctx, message.taskId, await wholeMessages(ctx, connection, message), position);
      return;
    case "taskStatus":
      await withFreshTask(db, connection.ownerId, message.taskId, async (task) => {
        if (position && reportState(task, position).kind !== "next") throw new ReportOutOfOrder(position);
        // The write is conditional on the task as read, report number included.
        await setTaskStatus(ctx, task, message.status, {
          daemonId: connection.daemonId,
          ...(position ? { reportStream: position.stream, reportSeq: position.seq } : {}),
        });
      });
      return;
  }
}

/** The messages of a report, those the daemon uploaded (too large for a WebSocket message) read back whole. */
async function wholeMessages(ctx: ServiceContext, connection: Connection, message: Extract<Report, { type: "taskMessages" }>): Promise<NewConversationMessage[]> {
  return Promise.all(
    message.messages.map(async ({ uploaded, ...m }) => {
      if (!uploaded) return m;
      const key = blobKeys.messageUpload(connection.ownerId, message.taskId, m.id);
      if (!(await ctx.db.blobs.exists(key))) {
        throw new DomainError(400, "upload_missing", `message ${m.id} was reported uploaded, but no upload is there`);
      }
      const parsed = NewConversationMessage.safeParse(await ctx.db.blobs.getJson(key));
      if (!parsed.success || parsed.data.id !== m.id) throw new DomainError(400, "upload_invalid", `the upload of message ${m.id} is not that message`);
      return parsed.data;
    }),
  );
}

/** The operation a reply answers, if it is this owner's and was sent to this daemon. */
async function operationFor(db: Db, connection: Connection, requestId: string): Promise<OperationRecord | undefined> {
  const [op] = await Promise.all([
    getOperationRecord(db, connection.ownerId, requestId),
    // Answered: no longer the connection's to time out at $disconnect.
    removePendingOperation(db, connection.connectionId, requestId),
  ]);
  if (!op) return undefined;
  if (op.daemonId && op.daemonId !== connection.daemonId) {
    log.warn("reply from another daemon ignored", { operationId: op.id, daemonId: connection.daemonId });
    return undefined;
  }
  return op;
}



async function handleReply(ctx: ServiceContext, connection: Connection, reply: DaemonReply): Promise<void> {
  // Unknown, another owner's or another daemon's, or already answered: a late or repeated reply.
  const op = await operationFor(ctx.db, connection, reply.requestId);
  if (!op) return;
  // A diff changes nothing: settling it (conditionally, once) is enough. The rest claim first, then record.
  const readOnly = reply.type === "checkpointDiffResult";
  if (readOnly ? op.status !== "pending" : !(await claimReply(ctx.db, op))) return;
  if (op.status !== "pending") {
    // Timed out already: record what was done, leave the operation as it was told.
    if (!reply.success) return codeRewindFailed(ctx.db, op, failureOf(reply));
    await complete(ctx, op, reply).catch((error) =>
      log.warn("late reply not recorded", { operationId: op.id }, error),
    );
    return;
  }
  let outcome: Outcome;
  try {
    outcome = reply.success
      ? { status: "succeeded", result: await complete(ctx, op, reply) }
      : { status: "failed", error: failureOf(reply) };
  } catch (error) {
    outcome = { status: "failed", error: { code: "reply_invalid", message: (error as Error).message } };
  }
  await settleOperation(ctx.db, op, outcome);
  if (outcome.status !== "succeeded") await spawnOperationFailed(ctx.db, op, outcome.error);
  // A reply that could not be recorded says nothing of the worktree: only the daemon's own failure settles the record failed.
  if (!reply.success && outcome.status === "failed") await codeRewindFailed(ctx.db, op, outcome.error);
}

/** The code rewind recorded before a `rewindToCheckpoint` was sent, settled `failed`: it did not happen. */
async function codeRewindFailed(db: Db, op: OperationRecord, error: { code: string; message: string }): Promise<void> {
  const rewindId = op.context?.codeRewindId;
  const taskId = op.context?.taskId;
  if (op.commandType !== "rewindToCheckpoint" || typeof rewindId !== "string" || typeof taskId !== "string") return;
  await failCodeRewind(db, taskId, rewindId, error);
}

function failureOf(reply: DaemonReply): { code: string; message: string } {
  if (reply.type === "rewindResult" && reply.foreignChanges?.length) {
    return {
      code: "foreign_changes",
      message: `the worktree has changes the task did not make (${reply.foreignChanges.join(", ")}); repeat with force: true to rewind anyway (they are kept under the safety ref)`,
    };
  }
  const text = reply.error ?? ("message" in reply ? String(reply.message) : "the daemon reported a failure");
  return { code: /running/i.test(text) ? "task_running" : "daemon_error", message: text };
}

const str = (op: OperationRecord, key: string) => String(op.context?.[key] ?? "");

/** What a successful reply means for the store, and the API's answer for the operation. */
async function complete(ctx: ServiceContext, op: OperationRecord, reply: DaemonReply): Promise<unknown> {
  const { db } = ctx;
  if (op.context?.taskId !== undefined && op.context.taskId !== reply.taskId) {
    throw new Error(`the reply names task ${reply.taskId}, not the command's ${String(op.context.taskId)}`);
  }
  if (reply.type === "checkpointDiffResult") {
    // Read-only: nothing to record, so no task to load (the operation is the owner's and names the task).
    const diff: GitDiffInfo | undefined = reply.diffUploaded ? await db.blobs.getJson<GitDiffInfo>(str(op, "transferKey")) : reply.diff;
    if (!diff) throw new Error("the diff reply carried no diff");
    return {
      taskId: reply.taskId,
      checkpointId: str(op, "checkpointId"),
      commitSha: str(op, "commitSha"),
      previousSha: op.context?.previousSha ?? null,
      files: diff.files,
      stats: diff.stats,
    };
  }
  const task = await getTaskRecord(db, op.ownerId, reply.taskId);
  if (!task) throw new Error(`the reply names task ${reply.taskId}, which is not the owner's`);
  const phase = await phaseOf(ctx, task);
  switch (reply.type) {
    case "rewindResult": {
      const checkpoint = await getCheckpoint(db, task, str(op, "checkpointId"));
      const cut = op.context?.conversationCut as PendingConversationCut | undefined;
      const done = {
        id: typeof op.context?.codeRewindId === "string" ? op.context.codeRewindId : undefined,
        operationId: op.id,
        preserveMode: op.context?.preserveMode,
        preservedAs: reply.preservedAs,
        safetyRef: reply.safetyRef,
        actor: str(op, "actor"),
      };
      if (!cut) {
        const rewind = await recordCodeRewind(db, task, checkpoint, phase, done);
        return { taskId: task.id, rewindId: rewind.id, checkpoint, preservedAs: rewind.preservedAs, safetyRef: rewind.safetyRef };
      }
      // The code is back: now the conversation follows it, in the same transaction as both records.
      const code = codeRewindWrites(db, task, checkpoint, phase, done);
      await withFreshTask(db, task.ownerId, task.id, (current) =>
        applyConversationRewind(db, current, cut.kept, done.actor, cut.request, { id: cut.rewindId, alsoWrite: code.writes }),
      );
      return { taskId: task.id, rewindId: code.rewind.id, checkpoint, preservedAs: code.rewind.preservedAs, safetyRef: code.rewind.safetyRef };
    }
    case "undoRewindResult": {
      const rewindId = str(op, "rewindId");
      const restoredFrom = reply.restoredFrom ?? "";
      await db.table.transact([
        markCodeRewindUndone(db, task.id, rewindId),
        ...eventWrites(db, {
          ownerId: task.ownerId,
          contractId: task.contractId,
          taskId: task.id,
          phase,
          eventType: "rewind",
          eventSubtype: "code_undone",
          eventData: { rewindId, restoredFrom, actor: str(op, "actor") },
        }),
      ]);
      return { taskId: task.id, restoredFrom };
    }
    case "branchCreated": {
      await recordTaskEvent(db, task, {
        eventType: "checkpoint",
        eventSubtype: "branch_created",
        phase,
        eventData: {
          branchName: reply.branchName,
          commitSha: reply.commitSha,
          checkpointId: str(op, "checkpointId"),
          checkpointNumber: op.context?.checkpointNumber,
          actor: str(op, "actor"),
        },
      });
      return { branchName: reply.branchName, commitSha: reply.commitSha };
    }
    case "taskSpawned": {
      await startSucceeded(db, task.id);
      // Messages are handled concurrently: the agent may already have reported it finished.
      const started = await withFreshTask(db, task.ownerId, task.id, (current) =>
        setTaskStatus(ctx, current, current.status === "pending" || current.status === "failed" ? "running" : current.status, { daemonId: op.daemonId }),
      );
      // A resume from a checkpoint moved the worktree back first: record it, so it can be undone.
      if ((reply.safetyRef || typeof op.context?.codeRewindId === "string") && op.context?.checkpointId) {
        const checkpoint = await getCheckpoint(db, task, str(op, "checkpointId"));
        await recordCodeRewind(db, task, checkpoint, phase, {
          id: typeof op.context?.codeRewindId === "string" ? op.context.codeRewindId : undefined,
          operationId: op.id,
          preserveMode: "create_branch",
          preservedAs: reply.preservedAs,
          safetyRef: reply.safetyRef,
          actor: str(op, "actor") || "resume",
        });
        await clearRestartPoint(db, task.id);
      }
      return { task: toTask(started), branchName: reply.branchName, commitSha: reply.commitSha };
    }
    case "conversationSnapshotCreated": {
      const state = reply.stateUploaded ? await db.blobs.getJson(str(op, "transferKey")) : reply.state;
      // Asked for by a user (POST …/snapshots with captureState) it is theirs: manual; otherwise the daemon's own: auto.
      const metadata = op.context?.metadata as Record<string, unknown> | null | undefined;
      const snapshot = await createSnapshot(db, task, {
        snapshotType: metadata === undefined ? "auto" : "manual",
        state,
        metadata: { ...(metadata ?? {}), source: "daemon" },
      });
      return toSnapshot(snapshot);
    }
  }
}

/** What the daemon reported of a code rewind it carried out, and the record it settles (`id`, when one was written before dispatch). */
interface CodeRewindDone {
  id?: string;
  operationId?: string;
  preserveMode: unknown;
  preservedAs?: PreservedState;
  safetyRef?: string;
  actor: string;
}

/** A code rewind the daemon carried out: its record (the way back, when it saved one) and its history event. */
function codeRewindWrites(
  db: Db,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  phase: Phase | undefined,
  done: CodeRewindDone,
): { rewind: CodeRewind; writes: TransactItem[] } {
  const rewind = CodeRewind.parse({
    id: done.id ?? newId(),
    operationId: done.operationId,
    status: "done",
    taskId: task.id,
    ownerId: task.ownerId,
    checkpointId: checkpoint.id,
    commitSha: checkpoint.commitSha,
    preserveMode: done.preserveMode,
    preservedAs: done.preservedAs,
    safetyRef: done.safetyRef,
    actor: done.actor,
    createdAt: db.clock().toISOString(),
  });
  const event = eventWrites(db, {
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    phase,
    eventType: "rewind",
    eventSubtype: "code",
    eventData: {
      rewindId: rewind.id,
      checkpointId: checkpoint.id,
      checkpointNumber: checkpoint.checkpointNumber,
      commitSha: checkpoint.commitSha,
      preserveMode: rewind.preserveMode,
      preservedAs: rewind.preservedAs,
      safetyRef: rewind.safetyRef,
      undoable: rewind.safetyRef !== undefined,
      actor: rewind.actor,
    },
  });
  return { rewind, writes: [codeRewindWrite(rewind), ...event] };
}

/** Records a code rewind and its event in one transaction. */
async function recordCodeRewind(
  db: Db,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  phase: Phase | undefined,
  done: CodeRewindDone,
): Promise<CodeRewind> {
  const { rewind, writes } = codeRewindWrites(db, task, checkpoint, phase, done);
  await db.table.transact(writes);
  return rewind;
}

/**
 * Applies a daemon's report to the task as it is now: reports are handled
 * concurrently, so a write that meets another (a 409 concurrent_update) is
 * retried on a fresh read instead of being lost.
 */
async function withFreshTask<T>(db: Db, ownerId: string, taskId: string, apply: (task: TaskRecord) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const task = await getTaskRecord(db, ownerId, taskId);
    if (!task) throw new DomainError(404, "not_found", "task not found");
    try {
      return await apply(task);
    } catch (error) {
      if (!(error instanceof DomainError && error.code === "concurrent_update") || attempt >= 5) throw error;
      await backoff(attempt);
    }
  }
}
