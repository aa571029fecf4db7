import type { ConversationSegment, ForkTaskRequest, ResumeFromCheckpointRequest, TaskCheckpoint, TaskRecord } from "../models.js";
import { badRequest, notFound } from "../errors.js";
import { actorOf } from "../auth.js";
import { isUuid } from "../ids.js";
import { assertBranchName } from "../gitRefs.js";
import { checkpointAtMessageCount, getCheckpoint, getCheckpointByNumber, latestCheckpointWhere } from "../store/checkpoints.js";
import { clipSegments, closeSegments, countOf, countUpTo, positionOfMessage } from "../store/conversation.js";
import { getSnapshot } from "../store/snapshots.js";
import { createTask, toTask } from "../store/tasks.js";
import { ownedTask, type ServiceContext } from "./context.js";
import { phaseOf, recordTaskEvent } from "./tasks.js";
import { assertDaemonOnline, startOnDaemon } from "./spawn.js";

/**
 * The conversation as it was at a checkpoint: its snapshot's segments, or,
 * when retention removed the snapshot, an approximation from the current one.
 */
export async function conversationAtCheckpoint(ctx: ServiceContext, task: TaskRecord, checkpoint: TaskCheckpoint): Promise<ConversationSegment[]> {
  if (checkpoint.conversationSnapshotId) {
    const snapshot = await getSnapshot(ctx.db, task, checkpoint.conversationSnapshotId).catch(() => undefined);
    if (snapshot) return snapshot.segments;
  }
  // Retention removed the snapshot: the conversation's first messages up to the count the checkpoint recorded.
  const closed = await closeSegments(ctx.db, task);
  const count = checkpoint.messageCount ?? (await countUpTo(ctx.db, closed, new Date(checkpoint.createdAt)));
  return clipSegments(closed, count);
}

/** A checkpoint named by id or by number (the CLI speaks numbers). */
async function checkpointNamed(ctx: ServiceContext, task: TaskRecord, value: string): Promise<TaskCheckpoint> {
  if (isUuid(value)) return getCheckpoint(ctx.db, task, value);
  if (/^\d+$/.test(value)) {
    const checkpoint = await getCheckpointByNumber(ctx.db, task, Number(value));
    if (checkpoint) return checkpoint;
    throw notFound(`checkpoint ${value}`);
  }
  throw badRequest("forkFromValue must be a checkpoint id or number", "forkFromValue");
}

/** The latest checkpoint at or before a time, if any: the code a time-based fork starts from. */
const checkpointAtOrBefore = (ctx: ServiceContext, task: TaskRecord, at: Date) =>
  latestCheckpointWhere(ctx.db, task, (c) => Date.parse(c.createdAt) <= at.getTime());

interface ForkPoint {
  type: ForkTaskRequest["forkFromType"];
  value: string;
  checkpoint?: TaskCheckpoint;
  messageId?: string;
  segments: ConversationSegment[];
}

async function resolveForkPoint(ctx: ServiceContext, task: TaskRecord, req: ForkTaskRequest): Promise<ForkPoint> {
  const closed = await closeSegments(ctx.db, task);
  if (req.forkFromType === "checkpoint") {
    const checkpoint = await checkpointNamed(ctx, task, req.forkFromValue);
    return { type: req.forkFromType, value: req.forkFromValue, checkpoint, segments: await conversationAtCheckpoint(ctx, task, checkpoint) };
  }
  if (req.forkFromType === "message_id") {
    const position = await positionOfMessage(ctx.db, closed, req.forkFromValue);
    if (position === undefined) throw badRequest(`message ${req.forkFromValue} is not in the task's visible conversation`, "forkFromValue");
    const checkpoint = await checkpointAtMessageCount(ctx.db, task, position);
    return { type: req.forkFromType, value: req.forkFromValue, messageId: req.forkFromValue, checkpoint, segments: clipSegments(closed, position) };
  }
  const at = new Date(req.forkFromValue);
  if (Number.isNaN(at.getTime())) throw badRequest("forkFromValue must be an ISO 8601 time for a timestamp fork", "forkFromValue");
  if (at.getTime() > ctx.db.clock().getTime()) {
    throw badRequest(`${req.forkFromValue} is past the end of the task's conversation`, "forkFromValue");
  }
  const count = await countUpTo(ctx.db, closed, at);
  return { type: req.forkFromType, value: req.forkFromValue, checkpoint: await checkpointAtOrBefore(ctx, task, at), segments: clipSegments(closed, count) };
}

const short = (id: string) => id.replace(/-/g, "").slice(-8);

/** A message id fit for a branch name: its letters and digits, the last 12 (a UUID's random tail), never ending on a separator. */
const messageTail = (id: string) => id.replace(/[^A-Za-z0-9]/g, "").slice(-12) || "x";

/** The branch a fork works on unless one is given: named after the parent and the point. */
export function forkBranchName(parent: Pick<TaskRecord, "id">, point: Pick<ForkPoint, "type" | "checkpoint" | "messageId" | "value">): string {
  const where =
    point.type === "checkpoint"
      ? `cp${point.checkpoint!.checkpointNumber}`
      : point.type === "message_id"
        ? `msg-${messageTail(point.messageId!)}`
        : `t${Date.parse(point.value)}`;
  return `makima/fork/${short(parent.id)}-${where}`;
}

/**
 * Forks a task at a checkpoint, time or message: a new pending task that
 * shares the parent's conversation up to that point by reference, on a
 * branch at the point's commit; started on a daemon when one is online.
 */
export async function forkTask(ctx: ServiceContext, taskId: string, req: ForkTaskRequest) {
  const parent = await ownedTask(ctx, taskId);
  if (req.branchName) assertBranchName(req.branchName);
  await assertDaemonOnline(ctx.db, parent.ownerId, req.targetDaemonId);
  const point = await resolveForkPoint(ctx, parent, req);
  const includeConversation = req.includeConversation ?? true;
  const branchName = req.createBranch === false ? undefined : (req.branchName ?? forkBranchName(parent, point));
  const child = await createTask(ctx.db, parent.ownerId, {
    name: req.newTaskName,
    plan: req.newTaskPlan,
    contractId: parent.contractId,
    branchName,
    baseSha: point.checkpoint?.commitSha ?? parent.baseSha,
    forkedFromTaskId: parent.id,
    forkedAtCheckpointId: point.checkpoint?.id,
    forkedAtMessageId: point.messageId,
    inheritedSegments: includeConversation ? point.segments : [],
  });
  const forkPoint = {
    type: point.type,
    value: point.value,
    ...(point.checkpoint ? { checkpointId: point.checkpoint.id } : {}),
    messageCount: countOf(point.segments),
  };
  const phase = await phaseOf(ctx, parent);
  const actor = actorOf(ctx.principal);
  await recordTaskEvent(ctx.db, child, {
    eventType: "fork",
    eventSubtype: "created",
    phase,
    eventData: { sourceTaskId: parent.id, forkPoint, branchName, includeConversation, actor },
  });
  await recordTaskEvent(ctx.db, parent, {
    eventType: "fork",
    eventSubtype: "forked",
    phase,
    eventData: { forkTaskId: child.id, forkPoint, branchName, actor },
  });
  const started = await startOnDaemon(ctx.db, ctx.relay, child, {
    targetDaemonId: req.targetDaemonId,
    sourceTaskId: parent.id,
    includeConversation,
  });
  return { task: toTask(child), sourceTaskId: parent.id, forkPoint, branchName, ...started };
}

/** A new task that starts from a checkpoint's commit (and, if asked, its conversation). */
export async function resumeFromCheckpoint(ctx: ServiceContext, taskId: string, checkpointId: string, req: ResumeFromCheckpointRequest) {
  const source = await ownedTask(ctx, taskId);
  const checkpoint = await getCheckpoint(ctx.db, source, checkpointId);
  await assertDaemonOnline(ctx.db, source.ownerId, req.targetDaemonId);
  const includeConversation = req.includeConversation ?? false;
  const branchName = `makima/resume/${short(source.id)}-cp${checkpoint.checkpointNumber}-${Date.now().toString(36)}`;
  const task = await createTask(ctx.db, source.ownerId, {
    name: req.taskName ?? `${source.name} (from checkpoint ${checkpoint.checkpointNumber})`,
    plan: req.plan,
    contractId: source.contractId,
    branchName,
    baseSha: checkpoint.commitSha,
    forkedFromTaskId: source.id,
    forkedAtCheckpointId: checkpoint.id,
    inheritedSegments: includeConversation ? await conversationAtCheckpoint(ctx, source, checkpoint) : [],
  });
  const phase = await phaseOf(ctx, source);
  const eventData = {
    sourceTaskId: source.id,
    newTaskId: task.id,
    checkpointId: checkpoint.id,
    checkpointNumber: checkpoint.checkpointNumber,
    commitSha: checkpoint.commitSha,
    includeConversation,
    actor: actorOf(ctx.principal),
  };
  await recordTaskEvent(ctx.db, task, { eventType: "resume", eventSubtype: "from_checkpoint", phase, eventData });
  await recordTaskEvent(ctx.db, source, { eventType: "resume", eventSubtype: "resumed_elsewhere", phase, eventData });
  const started = await startOnDaemon(ctx.db, ctx.relay, task, {
    targetDaemonId: req.targetDaemonId,
    sourceTaskId: source.id,
    includeConversation,
  });
  return { task: toTask(task), sourceTaskId: source.id, checkpointId: checkpoint.id, ...started };
}
