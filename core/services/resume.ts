import type { ContinueTaskRequest, ResumeSupervisorRequest, TaskRecord } from "../models.js";
import { actorOf } from "../auth.js";
import { findCheckpointBySha, getCheckpoint } from "../store/checkpoints.js";
import { closeSegments, countOf, countUpTo, rewindConversation } from "../store/conversation.js";
import { contractHistory, recordHistoryEvent } from "../store/history.js";
import { getTaskRecord, saveTask, toTask } from "../store/tasks.js";
import { ownedSupervisor, ownedTask, type ServiceContext } from "./context.js";
import { assertNotRunning, phaseOf } from "./tasks.js";
import { conversationAtCheckpoint } from "./fork.js";
import { startOnDaemon } from "./spawn.js";

/** Hides the conversation after `keep` messages (recoverable), if there is anything to hide. */
async function cutConversation(ctx: ServiceContext, task: TaskRecord, keep: number): Promise<{ task: TaskRecord; rewindId?: string; hiddenCount: number }> {
  const total = countOf(await closeSegments(ctx.db, task));
  if (keep >= total) return { task, hiddenCount: 0 };
  const { task: updated, rewind } = await rewindConversation(ctx.db, task, keep, actorOf(ctx.principal));
  return { task: updated, rewindId: rewind.id, hiddenCount: rewind.hiddenCount };
}

/** When the contract entered its current phase (the latest phase event), if recorded. */
async function phaseStartedAt(ctx: ServiceContext, contractId: string): Promise<Date | undefined> {
  const page = await contractHistory(ctx.db, contractId, { eventTypes: ["phase"], limit: 1 });
  const event = page.items[0];
  return event ? new Date(event.createdAt) : undefined;
}

/**
 * Resumes an interrupted supervisor: `continue` keeps its conversation,
 * `restart_phase` hides what it said since the current phase began,
 * `from_checkpoint` goes back to a checkpoint's conversation and commit.
 * Nothing is deleted; the supervisor is started on a daemon when one is online.
 */
export async function resumeSupervisor(ctx: ServiceContext, contractId: string, req: ResumeSupervisorRequest) {
  const found = await ownedSupervisor(ctx, contractId);
  const contract = found.contract;
  let supervisor = found.supervisor;
  assertNotRunning(supervisor, "resuming it");

  let cut: Awaited<ReturnType<typeof cutConversation>> | undefined;
  let checkpointId: string | undefined;
  const changes: Partial<TaskRecord> = { status: "pending", resumeContext: req.additionalContext };
  if (req.resumeMode === "restart_phase") {
    const since = await phaseStartedAt(ctx, contract.id);
    const keep = since ? await countUpTo(ctx.db, await closeSegments(ctx.db, supervisor), since) : 0;
    cut = await cutConversation(ctx, supervisor, keep);
  } else if (req.resumeMode === "from_checkpoint") {
    const checkpoint = await getCheckpoint(ctx.db, supervisor, req.checkpointId!);
    checkpointId = checkpoint.id;
    cut = await cutConversation(ctx, supervisor, countOf(await conversationAtCheckpoint(ctx, supervisor, checkpoint)));
    changes.baseSha = checkpoint.commitSha;
  }
  supervisor = await saveTask(ctx.db, cut?.task ?? supervisor, changes);
  await recordHistoryEvent(ctx.db, {
    ownerId: contract.ownerId,
    contractId: contract.id,
    taskId: supervisor.id,
    eventType: "resume",
    eventSubtype: `supervisor_${req.resumeMode}`,
    phase: contract.phase,
    eventData: {
      resumeMode: req.resumeMode,
      checkpointId,
      conversationRewindId: cut?.rewindId,
      hiddenCount: cut?.hiddenCount ?? 0,
      additionalContext: req.additionalContext !== undefined,
      actor: actorOf(ctx.principal),
    },
  });
  const started = await startOnDaemon(ctx.db, ctx.relay, supervisor, { targetDaemonId: req.targetDaemonId });
  return {
    contractId: contract.id,
    supervisorTaskId: supervisor.id,
    resumeMode: req.resumeMode,
    ...(started.daemonId ? { daemonId: started.daemonId } : {}),
    ...(started.operationId ? { operationId: started.operationId } : {}),
  };
}

/**
 * Continues an interrupted task in place: `with_context` keeps its
 * conversation (plus any extra context), `clean_restart` starts it with none
 * (hidden, recoverable), `from_checkpoint` goes back to a checkpoint's commit
 * and conversation.
 */
export async function continueTask(ctx: ServiceContext, taskId: string, req: ContinueTaskRequest) {
  let task = await ownedTask(ctx, taskId);
  assertNotRunning(task, "continuing it");
  let cut: Awaited<ReturnType<typeof cutConversation>> | undefined;
  let checkpointId: string | undefined;
  const changes: Partial<TaskRecord> = { status: "pending", resumeContext: req.additionalContext };
  if (req.mode === "clean_restart") {
    cut = await cutConversation(ctx, task, 0);
  } else if (req.mode === "from_checkpoint") {
    const checkpoint = await findCheckpointBySha(ctx.db, task, req.checkpointSha!);
    checkpointId = checkpoint.id;
    cut = await cutConversation(ctx, task, countOf(await conversationAtCheckpoint(ctx, task, checkpoint)));
    changes.baseSha = checkpoint.commitSha;
  }
  task = await saveTask(ctx.db, cut?.task ?? task, changes);
  await recordHistoryEvent(ctx.db, {
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    eventType: "resume",
    eventSubtype: `task_${req.mode}`,
    phase: await phaseOf(ctx, task),
    eventData: {
      mode: req.mode,
      checkpointId,
      checkpointSha: req.checkpointSha,
      conversationRewindId: cut?.rewindId,
      hiddenCount: cut?.hiddenCount ?? 0,
      actor: actorOf(ctx.principal),
    },
  });
  await startOnDaemon(ctx.db, ctx.relay, task, { targetDaemonId: req.targetDaemonId, includeConversation: req.mode !== "clean_restart" });
  return toTask((await getTaskRecord(ctx.db, task.ownerId, task.id)) ?? task);
}
