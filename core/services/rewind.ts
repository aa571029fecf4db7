import type { CodeRewind, ConversationSegment, RewindConversationRequest, RewindTaskRequest, TaskCheckpoint, TaskRecord } from "../models.js";
import { badRequest, conflict } from "../errors.js";
import { newId } from "../ids.js";
import type { Db } from "../store/db.js";
import type { TransactItem } from "../store/table.js";
import { actorOf } from "../auth.js";
import { outcomeOf, type RelayOutcome } from "../relay.js";
import * as checkpoints from "../store/checkpoints.js";
import * as segments from "../store/segments.js";
import * as conversationRewinds from "../store/conversationRewinds.js";
import * as tasks from "../store/tasks.js";
import * as codeRewinds from "../store/codeRewinds.js";
import type { CodeRewindView } from "../responses.js";
import { assertBranchName } from "../gitRefs.js";
import { ownedSupervisor, ownedTask, type ServiceContext } from "./context.js";
import { assertNotRunning } from "./tasks.js";
import { aboutTask, eventWrites, phaseOf, taskEventWrites } from "./taskEvents.js";

export interface CodeRewindResult {
  taskId: string;
  rewindId: string;
  checkpoint: TaskCheckpoint;
  preservedAs?: { type: "branch" | "stash"; reference: string };
  /** Absent when the daemon did not save one: such a rewind cannot be undone. */
  safetyRef?: string;
}

export async function checkpointFor(ctx: ServiceContext, task: TaskRecord, req: { checkpointId?: string; checkpointSha?: string }) {
  if (req.checkpointId) return checkpoints.getCheckpoint(ctx.db, task, req.checkpointId);
  return checkpoints.findCheckpointBySha(ctx.db, task, req.checkpointSha!);
}

/**
 * Records the code rewind (`dispatched`, naming its safety ref), then sends
 * it to the daemon; the reply settles the record (see replies.ts). A command
 * that never left takes its record with it.
 */
async function dispatchCodeRewind(
  ctx: ServiceContext,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  req: Pick<RewindTaskRequest, "preserveMode" | "branchName" | "force">,
  conversationCut?: PendingConversationCut,
): Promise<RelayOutcome<CodeRewindResult>> {
  if (req.branchName) assertBranchName(req.branchName);
  const actor = actorOf(ctx.principal);
  const operationId = newId();
  const rewindId = newId();
  const safetyRef = codeRewinds.safetyRefFor(task.id, rewindId);
  const now = ctx.db.clock();
  await codeRewinds.putDispatchedCodeRewind(ctx.db, {
    id: rewindId,
    taskId: task.id,
    ownerId: task.ownerId,
    checkpointId: checkpoint.id,
    commitSha: checkpoint.commitSha,
    preserveMode: req.preserveMode,
    safetyRef,
    actor,
    createdAt: now.toISOString(),
    status: "dispatched",
    operationId,
    deadline: new Date(now.getTime() + ctx.relay.timeoutMs).toISOString(),
  });
  let op;
  try {
    op = await ctx.relay.dispatch(
      task.ownerId,
      {
        type: "rewindToCheckpoint",
        taskId: task.id,
        checkpointSha: checkpoint.commitSha,
        preserveMode: req.preserveMode,
        branchName: req.branchName,
        force: req.force,
        safetyRef,
      },
      {
        preferDaemonId: task.daemonId,
        operationId,
        context: {
          taskId: task.id,
          checkpointId: checkpoint.id,
          preserveMode: req.preserveMode,
          actor,
          codeRewindId: rewindId,
          ...(conversationCut ? { conversationCut } : {}),
        },
      },
    );
  } catch (error) {
    await codeRewinds.deleteDispatchedCodeRewind(ctx.db, task.id, rewindId);
    throw error;
  }
  return outcomeOf(ctx.db, op);
}

/** Rewinds a task's worktree to a checkpoint; the daemon first saves everything under a safety ref. */
export async function rewindTask(ctx: ServiceContext, taskId: string, req: RewindTaskRequest) {
  const task = await ownedTask(ctx, taskId);
  assertNotRunning(task, "rewinding it");
  const checkpoint = await checkpointFor(ctx, task, req);
  return dispatchCodeRewind(ctx, task, checkpoint, req);
}


/** A code rewind as the API shows it: a dispatched one past its deadline is `unknown`, with the way forward. */
function codeRewindView(rewind: CodeRewind, now: Date): CodeRewindView {
  const overdue = rewind.status === "dispatched" && rewind.deadline !== undefined && Date.parse(rewind.deadline) <= now.getTime();
  const { ownerId: _owner, ...shown } = rewind;
  if (!overdue) return shown;
  return {
    ...shown,
    status: "unknown",
    next: `the daemon did not answer by ${rewind.deadline}: it reports the outcome when it reconnects; POST /api/v1/mesh/tasks/${rewind.taskId}/rewind/undo with rewindId ${rewind.id} puts the worktree back if ${rewind.safetyRef ?? "its safety ref"} exists`,
  };
}

/** A task's code rewinds, newest first, each with its status. */
export async function codeRewindsOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string) {
  const task = await ownedTask(ctx, taskId);
  const page = await codeRewinds.listCodeRewinds(ctx.db, task.id, limit, cursor);
  const now = ctx.db.clock();
  return { ...page, items: page.items.map((r) => codeRewindView(r, now)) };
}

/** Puts the worktree back exactly as it was just before a rewind (the latest by default). */
export async function undoRewind(ctx: ServiceContext, taskId: string, rewindId?: string) {
  const task = await ownedTask(ctx, taskId);
  assertNotRunning(task, "undoing a rewind");
  const rewind = await codeRewinds.findCodeRewind(ctx.db, task, rewindId);
  if (rewind.undoneAt) throw conflict("already_undone", `rewind ${rewind.id} was already undone at ${rewind.undoneAt}`);
  if (rewind.status === "failed") {
    throw conflict("rewind_failed", `rewind ${rewind.id} did not happen (${rewind.error?.message ?? "the daemon reported a failure"}); there is nothing to undo`);
  }
  if (!rewind.safetyRef) {
    throw conflict("not_undoable", `rewind ${rewind.id} was carried out by a daemon that saved no safety ref; it cannot be undone`);
  }
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
  const closed = await segments.closeSegments(ctx.db, task);
  const total = segments.countOf(closed);
  if (req.byMessageCount !== undefined) {
    if (req.byMessageCount > total) {
      throw badRequest(`byMessageCount is ${req.byMessageCount} but the conversation has ${total} messages`, "byMessageCount");
    }
    return total - req.byMessageCount;
  }
  if (req.toMessageId !== undefined) {
    const position = await segments.positionOfMessage(ctx.db, closed, req.toMessageId);
    if (position === undefined) throw badRequest(`message ${req.toMessageId} is not in the visible conversation`, "toMessageId");
    return position;
  }
  return segments.countUpTo(ctx.db, closed, new Date(req.toTimestamp!));
}

/** The checkpoint on the kept conversation (its snapshot saw a prefix of it): where the code goes with it. */
async function checkpointAtConversation(ctx: ServiceContext, task: TaskRecord, kept: ConversationSegment[]): Promise<TaskCheckpoint> {
  const checkpoint = await checkpoints.checkpointOnConversation(ctx.db, task, kept);
  if (!checkpoint) {
    throw conflict("no_checkpoint", "no checkpoint was taken on the conversation this rewind keeps; rewind the conversation alone");
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

/** What a conversation rewind with code waits for: the cut to apply once the daemon has moved the code back. */
export interface PendingConversationCut {
  rewindId: string;
  kept: ConversationSegment[];
  request: RewindConversationRequest;
}

/** The cut, its record and its history event, in one transaction. */
export async function applyConversationRewind(
  db: Db,
  task: TaskRecord,
  keep: number | ConversationSegment[],
  actor: string,
  request: RewindConversationRequest,
  options: { id?: string; alsoWrite?: TransactItem[] } = {},
) {
  const phase = await phaseOf({ db }, task);
  return conversationRewinds.rewindConversation(db, task, keep, actor, {
    id: options.id,
    alsoWrite: (rewind) => [
      ...eventWrites(db, {
        ...aboutTask(task, phase),
        eventType: "rewind",
        eventSubtype: "conversation",
        eventData: { rewindId: rewind.id, messageCount: rewind.messageCount, hiddenCount: rewind.hiddenCount, request, actor },
      }),
      ...(options.alsoWrite ?? []),
    ],
  });
}

/**
 * Hides the messages after the rewind point (they stay stored, and come back
 * with a restore). With `rewindCode` the code goes first: the task's
 * worktree goes back to the checkpoint taken on the kept conversation, and
 * the conversation is cut only once the daemon reports the code back (see
 * replies.ts) — a refused or failed code rewind, early or late, leaves the
 * conversation as it was.
 */
export async function rewindTaskConversation(
  ctx: ServiceContext,
  task: TaskRecord,
  req: RewindConversationRequest,
): Promise<ConversationRewindResult> {
  assertNotRunning(task, "rewinding its conversation");
  const keep = await keepCount(ctx, task, req);
  const actor = actorOf(ctx.principal);
  if (!req.rewindCode) {
    const { rewind } = await applyConversationRewind(ctx.db, task, keep, actor, req);
    return { taskId: task.id, rewindId: rewind.id, messageCount: rewind.messageCount, hiddenCount: rewind.hiddenCount };
  }
  const closed = await segments.closeSegments(ctx.db, task);
  const kept = segments.clipSegments(closed, keep);
  const checkpoint = await checkpointAtConversation(ctx, task, kept);
  const cut: PendingConversationCut = { rewindId: newId(), kept, request: req };
  const code = await dispatchCodeRewind(ctx, task, checkpoint, { preserveMode: "create_branch", force: req.force }, cut);
  const result: ConversationRewindResult = {
    taskId: task.id,
    rewindId: cut.rewindId,
    messageCount: keep,
    hiddenCount: segments.countOf(closed) - keep,
  };
  if (code.pending) return { ...result, codeRewind: { operationId: code.operationId, status: "pending" } };
  return { ...result, codeRewind: code.result };
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
  const rewind = await conversationRewinds.getConversationRewind(ctx.db, task, rewindId);
  if (rewind.restoredAt) throw conflict("already_restored", `rewind ${rewind.id} was already restored at ${rewind.restoredAt}`);
  const event = await taskEventWrites(ctx.db, task, {
    eventType: "rewind",
    eventSubtype: "conversation_restored",
    eventData: { rewindId: rewind.id, restoredCount: rewind.hiddenCount, actor: actorOf(ctx.principal) },
  });
  const restored = await conversationRewinds.restoreConversation(ctx.db, task, rewind, event);
  return { taskId: task.id, rewindId: rewind.id, messageCount: tasks.toTask(restored).messageCount };
}
