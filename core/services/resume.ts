import type { ContinueTaskRequest, ConversationRewind, ConversationSegment, ResumeSupervisorRequest, TaskCheckpoint, TaskRecord } from "../models.js";
import { actorOf } from "../auth.js";
import * as checkpoints from "../store/checkpoints.js";
import * as segments from "../store/segments.js";
import * as conversationRewinds from "../store/conversationRewinds.js";
import * as historyPages from "../store/historyPages.js";
import * as tasks from "../store/tasks.js";
import { conflict } from "../errors.js";
import { ownedSupervisor, ownedTask, type ServiceContext } from "./context.js";
import { assertNotRunning } from "./tasks.js";
import { eventWrites, phaseOf } from "./taskEvents.js";
import { conversationAtCheckpoint } from "./fork.js";
import { assertDaemonOnline, startFields, startOnDaemon } from "./spawn.js";

/** When the contract entered its current phase (its latest phase change, or its creation). */
async function phaseStartedAt(ctx: ServiceContext, contractId: string): Promise<Date | undefined> {
  let cursor: string | undefined;
  do {
    // Status changes share the `phase` type; the phase itself changes only on these two.
    const page = await historyPages.contractHistory(ctx.db, contractId, { eventTypes: ["phase"], limit: 20, cursor });
    const entered = page.items.find((e) => e.eventSubtype === "changed" || e.eventSubtype === "contract_created");
    if (entered) return new Date(entered.createdAt);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return undefined;
}

/** Where a resumed task starts again: what conversation it shows, and at which checkpoint's commit. */
interface RestartPoint {
  /** The first N visible messages, or exactly the conversation a checkpoint saw; the rest is hidden (recoverable). Undefined keeps everything. */
  keep?: number | ConversationSegment[];
  checkpoint?: TaskCheckpoint;
}

/**
 * Resumes a task in place: hides what it said after the restart point (a
 * conversation rewind, so nothing is deleted), sets it back to `pending`
 * with any extra context, records who did it, and starts it on a daemon
 * when one is online (else the first daemon to connect starts it).
 */
async function resumeInPlace(
  ctx: ServiceContext,
  task: TaskRecord,
  point: RestartPoint,
  how: { subtype: string; mode: string; additionalContext?: string; targetDaemonId?: string },
) {
  assertNotRunning(task, "resuming it");
  if (how.targetDaemonId && task.daemonId && how.targetDaemonId !== task.daemonId) {
    throw conflict("worktree_elsewhere", `task ${task.id} works in a worktree on daemon ${task.daemonId}; it resumes there, not on ${how.targetDaemonId}`);
  }
  if (task.status === "pending" && task.startingOperationId && task.startingSince && Date.parse(task.startingSince) > ctx.db.clock().getTime() - ctx.relay.timeoutMs) {
    throw conflict("task_starting", `task ${task.id} is being started on a daemon (operation ${task.startingOperationId}); wait for it to start or fail`);
  }
  await assertDaemonOnline(ctx.db, task.ownerId, how.targetDaemonId);
  const actor = actorOf(ctx.principal);
  // Both always given: a resume without context or checkpoint clears what an earlier one left. A fresh budget of start attempts.
  const changes = {
    status: "pending" as const,
    resumeContext: how.additionalContext,
    restartAtCheckpointId: point.checkpoint?.id,
    startAttempts: undefined,
    lastStartError: undefined,
    ...(point.checkpoint ? { baseSha: point.checkpoint.commitSha } : {}),
    ...(how.targetDaemonId ? { daemonId: how.targetDaemonId } : {}),
  };
  const phase = await phaseOf(ctx, task);
  const event = (rewind?: ConversationRewind) =>
    eventWrites(ctx.db, {
      ownerId: task.ownerId,
      contractId: task.contractId,
      taskId: task.id,
      phase,
      eventType: "resume",
      eventSubtype: how.subtype,
      eventData: {
        mode: how.mode,
        checkpointId: point.checkpoint?.id,
        commitSha: point.checkpoint?.commitSha,
        conversationRewindId: rewind?.id,
        hiddenCount: rewind?.hiddenCount ?? 0,
        additionalContext: how.additionalContext !== undefined,
        actor,
      },
    });
  // The cut (if any), the task's new state and the resume's history event: one transaction.
  if (point.keep !== undefined && !(await showsAlready(ctx, task, point.keep))) {
    ({ task } = await conversationRewinds.rewindConversation(ctx.db, task, point.keep, actor, { alsoChange: changes, alsoWrite: event }));
  } else {
    task = await tasks.saveTaskWith(ctx.db, task, changes, event());
  }
  const started = await startOnDaemon(ctx.db, ctx.relay, task, {
    includeConversation: !(point.keep === 0 || (Array.isArray(point.keep) && point.keep.length === 0)),
  });
  return { task, ...started };
}

/** Whether the task's conversation is already what a restart point keeps (then there is nothing to hide). */
async function showsAlready(ctx: ServiceContext, task: TaskRecord, keep: number | ConversationSegment[]): Promise<boolean> {
  const closed = await segments.closeSegments(ctx.db, task);
  return typeof keep === "number" ? keep >= segments.countOf(closed) : JSON.stringify(closed) === JSON.stringify(keep);
}

/** A checkpoint's commit, and the conversation exactly as its snapshot saw it (whatever was rewound or added since). */
async function restartAtCheckpoint(ctx: ServiceContext, task: TaskRecord, checkpoint: TaskCheckpoint): Promise<RestartPoint> {
  return { checkpoint, keep: (await conversationAtCheckpoint(ctx, task, checkpoint)).segments };
}

/**
 * Resumes an interrupted supervisor: `continue` keeps its conversation,
 * `restart_phase` hides what it said since the current phase began,
 * `from_checkpoint` goes back to a checkpoint's conversation and commit.
 */
export async function resumeSupervisor(ctx: ServiceContext, contractId: string, req: ResumeSupervisorRequest) {
  const { contract, supervisor } = await ownedSupervisor(ctx, contractId);
  let point: RestartPoint = {};
  if (req.resumeMode === "restart_phase") {
    const since = await phaseStartedAt(ctx, contract.id);
    point = { keep: since ? await segments.countUpTo(ctx.db, await segments.closeSegments(ctx.db, supervisor), since) : 0 };
  } else if (req.resumeMode === "from_checkpoint") {
    point = await restartAtCheckpoint(ctx, supervisor, await checkpoints.getCheckpoint(ctx.db, supervisor, req.checkpointId!));
  }
  const resumed = await resumeInPlace(ctx, supervisor, point, {
    subtype: `supervisor_${req.resumeMode}`,
    mode: req.resumeMode,
    additionalContext: req.additionalContext,
    targetDaemonId: req.targetDaemonId,
  });
  return {
    contractId: contract.id,
    supervisorTaskId: supervisor.id,
    resumeMode: req.resumeMode,
    ...startFields(resumed),
  };
}

/**
 * Continues an interrupted task in place: `with_context` keeps its
 * conversation (plus any extra context), `clean_restart` starts it with none
 * (hidden, recoverable), `from_checkpoint` goes back to the checkpoint at a
 * commit: its conversation and its code.
 */
export async function continueTask(ctx: ServiceContext, taskId: string, req: ContinueTaskRequest) {
  const task = await ownedTask(ctx, taskId);
  let point: RestartPoint = {};
  if (req.mode === "clean_restart") point = { keep: 0 };
  else if (req.mode === "from_checkpoint") point = await restartAtCheckpoint(ctx, task, await checkpoints.findCheckpointBySha(ctx.db, task, req.checkpointSha!));
  const resumed = await resumeInPlace(ctx, task, point, {
    subtype: `task_${req.mode}`,
    mode: req.mode,
    additionalContext: req.additionalContext,
    targetDaemonId: req.targetDaemonId,
  });
  const { task: resumedTask, ...started } = resumed;
  return { ...tasks.toTask((await tasks.getTaskRecord(ctx.db, task.ownerId, task.id)) ?? resumedTask), ...started };
}
