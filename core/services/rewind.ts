import type { RewindConversationRequest, RewindTaskRequest, TaskCheckpoint, TaskRecord } from "../models.js";
import { badRequest, conflict, noDaemon } from "../errors.js";
import { actorOf } from "../auth.js";
import { outcomeOf, type RelayOutcome } from "../relay.js";
import { checkpointAtMessageCount, findCheckpointBySha, getCheckpoint } from "../store/checkpoints.js";
import {
  closeSegments,
  countOf,
  countUpTo,
  getConversationRewind,
  positionOfMessage,
  restoreConversation as storeRestore,
  rewindConversation as storeRewind,
} from "../store/conversation.js";
import { listConnections } from "../store/connections.js";
import { getTaskRecord, toTask } from "../store/tasks.js";
import { findCodeRewind } from "../store/codeRewinds.js";
import { assertBranchName } from "../gitRefs.js";
import { ownedSupervisor, ownedTask, type ServiceContext } from "./context.js";
import { assertNotRunning, recordTaskEvent } from "./tasks.js";

export interface CodeRewindResult {
  taskId: string;
  rewindId: string;
  checkpoint: TaskCheckpoint;
  preservedAs?: { type: "branch" | "stash"; reference: string };
  safetyRef: string;
}

async function checkpointFor(ctx: ServiceContext, task: TaskRecord, req: { checkpointId?: string; checkpointSha?: string }) {
  if (req.checkpointId) return getCheckpoint(ctx.db, task, req.checkpointId);
  return findCheckpointBySha(ctx.db, task, req.checkpointSha!);
}

/** Sends the code rewind to the daemon; the reply handler records it (see replies.ts). */
async function dispatchCodeRewind(
  ctx: ServiceContext,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  req: Pick<RewindTaskRequest, "preserveMode" | "branchName" | "force">,
): Promise<RelayOutcome<CodeRewindResult>> {
  if (req.branchName) assertBranchName(req.branchName);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    {
      type: "rewindToCheckpoint",
      taskId: task.id,
      checkpointSha: checkpoint.commitSha,
      preserveMode: req.preserveMode,
      branchName: req.branchName,
      force: req.force,
    },
    {
      preferDaemonId: task.daemonId,
      context: { taskId: task.id, checkpointId: checkpoint.id, preserveMode: req.preserveMode, actor: actorOf(ctx.principal) },
    },
  );
  return outcomeOf<CodeRewindResult>(ctx.db, op);
}

/** Rewinds a task's worktree to a checkpoint; the daemon first saves everything under a safety ref. */
export async function rewindTask(ctx: ServiceContext, taskId: string, req: RewindTaskRequest) {
  const task = await ownedTask(ctx, taskId);
  assertNotRunning(task, "rewinding it");
  const checkpoint = await checkpointFor(ctx, task, req);
  return dispatchCodeRewind(ctx, task, checkpoint, req);
}


/** Puts the worktree back exactly as it was just before a rewind (the latest by default). */
export async function undoRewind(ctx: ServiceContext, taskId: string, rewindId?: string) {
  const task = await ownedTask(ctx, taskId);
  assertNotRunning(task, "undoing a rewind");
  const rewind = await findCodeRewind(ctx.db, task, rewindId);
  if (rewind.undoneAt) throw conflict("already_undone", `rewind ${rewind.id} was already undone at ${rewind.undoneAt}`);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    { type: "undoRewind", taskId: task.id, safetyRef: rewind.safetyRef },
    { preferDaemonId: task.daemonId, context: { taskId: task.id, rewindId: rewind.id, actor: actorOf(ctx.principal) } },
  );
  return outcomeOf<{ taskId: string; restoredFrom: string }>(ctx.db, op);
}

// ------------------------------------------------------------------ conversation

/** How many visible messages a conversation rewind keeps. */
async function keepCount(ctx: ServiceContext, task: TaskRecord, req: RewindConversationRequest): Promise<number> {
  const closed = await closeSegments(ctx.db, task);
  const total = countOf(closed);
  if (req.byMessageCount !== undefined) {
    if (req.byMessageCount > total) {
      throw badRequest(`byMessageCount is ${req.byMessageCount} but the conversation has ${total} messages`, "byMessageCount");
    }
    return total - req.byMessageCount;
  }
  if (req.toMessageId !== undefined) {
    const position = await positionOfMessage(ctx.db, closed, req.toMessageId);
    if (position === undefined) throw badRequest(`message ${req.toMessageId} is not in the visible conversation`, "toMessageId");
    return position;
  }
  return countUpTo(ctx.db, closed, new Date(req.toTimestamp!));
}

/** The checkpoint taken when the conversation was where the rewind leaves it: where the code goes with it. */
async function checkpointAtConversation(ctx: ServiceContext, task: TaskRecord, keep: number): Promise<TaskCheckpoint> {
  const checkpoint = await checkpointAtMessageCount(ctx.db, task, keep);
  if (!checkpoint) {
    throw conflict("no_checkpoint", "no checkpoint was taken at or before that point of the conversation; rewind the conversation alone");
  }
  return checkpoint;
}

export interface ConversationRewindResult {
  taskId: string;
  rewindId: string;
  messageCount: number;
  hiddenCount: number;
  codeRewind?: CodeRewindResult | { operationId: string; status: "pending" };
}

/**
 * Hides the messages after the rewind point (they stay stored, and come back
 * with a restore); with `rewindCode`, the task's worktree goes back to the
 * checkpoint taken at or before that point.
 */
export async function rewindTaskConversation(
  ctx: ServiceContext,
  task: TaskRecord,
  req: RewindConversationRequest,
): Promise<ConversationRewindResult> {
  assertNotRunning(task, "rewinding its conversation");
  const keep = await keepCount(ctx, task, req);
  let checkpoint: TaskCheckpoint | undefined;
  if (req.rewindCode) {
    checkpoint = await checkpointAtConversation(ctx, task, keep);
    // Refuse before changing anything if the code half cannot happen.
    if ((await listConnections(ctx.db, task.ownerId)).length === 0) throw noDaemon();
  }
  const { rewind } = await storeRewind(ctx.db, task, keep, actorOf(ctx.principal));
  await recordTaskEvent(ctx.db, task, {
    eventType: "rewind",
    eventSubtype: "conversation",
    eventData: {
      rewindId: rewind.id,
      messageCount: rewind.messageCount,
      hiddenCount: rewind.hiddenCount,
      request: req,
      actor: rewind.actor,
    },
  });
  const result: ConversationRewindResult = {
    taskId: task.id,
    rewindId: rewind.id,
    messageCount: rewind.messageCount,
    hiddenCount: rewind.hiddenCount,
  };
  if (checkpoint) {
    try {
      const code = await dispatchCodeRewind(ctx, task, checkpoint, { preserveMode: "create_branch", force: req.force });
      result.codeRewind = code.pending ? { operationId: code.operationId, status: "pending" } : code.result;
    } catch (error) {
      // The code could not go back (foreign changes, daemon gone…): neither does the conversation.
      const current = await getTaskRecord(ctx.db, task.ownerId, task.id);
      if (current) await storeRestore(ctx.db, current, rewind);
      throw error;
    }
  }
  return result;
}

export async function rewindSupervisorConversation(ctx: ServiceContext, contractId: string, req: RewindConversationRequest) {
  const { contract, supervisor } = await ownedSupervisor(ctx, contractId);
  const { taskId: supervisorTaskId, ...rest } = await rewindTaskConversation(ctx, supervisor, req);
  return { contractId: contract.id, supervisorTaskId, ...rest };
}

export async function restoreSupervisorConversation(ctx: ServiceContext, contractId: string, rewindId?: string) {
  const { supervisor } = await ownedSupervisor(ctx, contractId);
  return restoreTaskConversation(ctx, supervisor, rewindId);
}

/** Undoes a conversation rewind (the latest by default): hidden messages are visible again. */
export async function restoreTaskConversation(ctx: ServiceContext, task: TaskRecord, rewindId?: string) {
  const rewind = await getConversationRewind(ctx.db, task, rewindId);
  if (rewind.restoredAt) throw conflict("already_restored", `rewind ${rewind.id} was already restored at ${rewind.restoredAt}`);
  const restored = await storeRestore(ctx.db, task, rewind);
  await recordTaskEvent(ctx.db, task, {
    eventType: "rewind",
    eventSubtype: "conversation_restored",
    eventData: { rewindId: rewind.id, restoredCount: rewind.hiddenCount, actor: actorOf(ctx.principal) },
  });
  return { taskId: task.id, rewindId: rewind.id, messageCount: toTask(restored).messageCount };
}
