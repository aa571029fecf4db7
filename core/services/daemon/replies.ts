import type { Connection, OperationRecord } from "../../models.js";
import type { DaemonMessage, DaemonReply, GitDiffInfo, ReportAck } from "../../protocol.js";
import type { Principal } from "../../auth.js";
import type { Relay } from "../../relay.js";
import type { Db } from "../../store/db.js";
import * as operations from "../../store/operations.js";
import type { Outcome } from "../../store/operations.js";
import * as snapshots from "../../store/snapshots.js";
import * as tasks from "../../store/tasks.js";
import type { ServiceContext } from "../context.js";
import { phaseOf, recordTaskEvent } from "../taskEvents.js";
import { spawnOperationFailed } from "../spawn.js";
import { greetDaemon, grantUpload, handOver } from "./connection.js";
import { handleReport, type Screening } from "./reports.js";
import { operationFor, str } from "./replyOperation.js";
import { codeRewindFailed, rewindCompleted, undoRewindCompleted } from "./codeRewindReplies.js";
import { spawnCompleted } from "./spawnReplies.js";
import { log } from "../../log.js";

/**
 * Everything a daemon says over the WebSocket, handled once: replies settle
 * their pending operation (after recording what the command did), reports
 * land in the store exactly as the HTTP endpoints would put them; what to
 * answer on the connection (a numbered report's acknowledgement) is returned.
 */
export async function handleDaemonMessage(
  db: Db,
  relay: Relay,
  connection: Connection,
  message: DaemonMessage,
  screened?: Screening,
): Promise<ReportAck | undefined> {
  const principal: Principal = { ownerId: connection.ownerId, via: "daemon", keyId: connection.daemonId };
  const ctx: ServiceContext = { db, relay, principal };
  switch (message.type) {
    case "hello":
      await greetDaemon(db, relay, connection, message);
      return;
    case "heartbeat":
      return;
    case "uploadRequest":
      await grantUpload(db, relay, connection, message);
      return;
    case "handover":
      await handOver(db, relay, connection);
      return;
    case "checkpointCreated":
    case "taskMessages":
    case "taskStatus":
      return handleReport(ctx, connection, message, screened);
    case "error": {
      if (!message.requestId) {
        log.warn("daemon error", { daemonId: connection.daemonId, code: message.code, detail: message.message });
        return;
      }
      const op = await operationFor(db, connection, message.requestId);
      if (!op) return;
      const error = { code: message.code, message: message.message };
      if (await operations.claimReply(db, op)) {
        await operations.settleOperation(db, op, { status: "failed", error });
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

async function handleReply(ctx: ServiceContext, connection: Connection, reply: DaemonReply): Promise<void> {
  // Unknown, another owner's or another daemon's, or already answered: a late or repeated reply.
  const op = await operationFor(ctx.db, connection, reply.requestId);
  if (!op) return;
  // A diff changes nothing: settling it (conditionally, once) is enough. The rest claim first, then record.
  const readOnly = reply.type === "checkpointDiffResult";
  if (readOnly ? op.status !== "pending" : !(await operations.claimReply(ctx.db, op))) return;
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
  await operations.settleOperation(ctx.db, op, outcome);
  if (outcome.status !== "succeeded") await spawnOperationFailed(ctx.db, op, outcome.error);
  // A reply that could not be recorded says nothing of the worktree: only the daemon's own failure settles the record failed.
  if (!reply.success && outcome.status === "failed") await codeRewindFailed(ctx.db, op, outcome.error);
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
  const task = await tasks.getTaskRecord(db, op.ownerId, reply.taskId);
  if (!task) throw new Error(`the reply names task ${reply.taskId}, which is not the owner's`);
  const phase = await phaseOf(ctx, task);
  switch (reply.type) {
    case "rewindResult":
      return rewindCompleted(db, op, reply, task, phase);
    case "undoRewindResult":
      return undoRewindCompleted(db, op, reply, task, phase);
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
    case "taskSpawned":
      return spawnCompleted(ctx, op, reply, task, phase);
    case "conversationSnapshotCreated": {
      const state = reply.stateUploaded ? await db.blobs.getJson(str(op, "transferKey")) : reply.state;
      // Asked for by a user (POST …/snapshots with captureState) it is theirs: manual; otherwise the daemon's own: auto.
      const metadata = op.context?.metadata as Record<string, unknown> | null | undefined;
      const snapshot = await snapshots.createSnapshot(db, task, {
        snapshotType: metadata === undefined ? "auto" : "manual",
        state,
        metadata: { ...(metadata ?? {}), source: "daemon" },
      });
      return snapshots.toSnapshot(snapshot);
    }
  }
}
