import type { ConversationSegment, ForkTaskRequest, ResumeFromCheckpointRequest, TaskCheckpoint, TaskRecord } from "../models.js";
import { badRequest, conflict, DomainError, notFound } from "../errors.js";
import { actorOf } from "../auth.js";
import { isUuid, newId } from "../ids.js";
import { keys } from "../keys.js";
import { assertBranchName } from "../gitRefs.js";
import * as checkpoints from "../store/checkpoints.js";
import * as segments from "../store/segments.js";
import * as snapshots from "../store/snapshots.js";
import * as tasks from "../store/tasks.js";
import * as paging from "../store/paging.js";
import { ownedTask, type ServiceContext } from "./context.js";
import { eventWrites, phaseOf } from "./taskEvents.js";
import { assertDaemonOnline, startFields, startOnDaemon } from "./spawn.js";

/**
 * The conversation as it was at a checkpoint: its snapshot's segments
 * (`exact`), or, when retention (or the TTL backstop) removed the snapshot,
 * the current conversation's first messages up to the count the checkpoint
 * recorded — an approximation, said as such.
 */
export async function conversationAtCheckpoint(
  ctx: ServiceContext,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
): Promise<{ segments: ConversationSegment[]; exact: boolean }> {
  if (checkpoint.conversationSnapshotId) {
    const snapshot = await snapshots.getSnapshot(ctx.db, task, checkpoint.conversationSnapshotId).catch((error: unknown) => {
      if (error instanceof DomainError && error.status === 404) return undefined;
      throw error;
    });
    if (snapshot) return { segments: snapshot.segments, exact: true };
  }
  const closed = await segments.closeSegments(ctx.db, task);
  const count = checkpoint.messageCount ?? (await segments.countUpTo(ctx.db, closed, new Date(checkpoint.createdAt)));
  return { segments: segments.clipSegments(closed, count), exact: false };
}

/** A checkpoint named by id or by number (the CLI speaks numbers). */
async function checkpointNamed(ctx: ServiceContext, task: TaskRecord, value: string): Promise<TaskCheckpoint> {
  if (isUuid(value)) return checkpoints.getCheckpoint(ctx.db, task, value);
  if (/^\d+$/.test(value)) {
    const checkpoint = await checkpoints.getCheckpointByNumber(ctx.db, task, Number(value));
    if (checkpoint) return checkpoint;
    throw notFound(`checkpoint ${value}`);
  }
  throw badRequest("forkFromValue must be a checkpoint id or number", "forkFromValue");
}

interface ForkPoint {
  type: ForkTaskRequest["forkFromType"];
  value: string;
  checkpoint?: TaskCheckpoint;
  messageId?: string;
  segments: ConversationSegment[];
  /** False when the checkpoint's snapshot is gone and the conversation is approximated from its message count. */
  exact?: boolean;
}

async function resolveForkPoint(ctx: ServiceContext, task: TaskRecord, req: ForkTaskRequest): Promise<ForkPoint> {
  const closed = await segments.closeSegments(ctx.db, task);
  if (req.forkFromType === "checkpoint") {
    const checkpoint = await checkpointNamed(ctx, task, req.forkFromValue);
    const { segments: visible, exact } = await conversationAtCheckpoint(ctx, task, checkpoint);
    return { type: req.forkFromType, value: req.forkFromValue, checkpoint, segments: visible, exact };
  }
  if (req.forkFromType === "message_id") {
    const position = await segments.positionOfMessage(ctx.db, closed, req.forkFromValue);
    if (position === undefined) throw badRequest(`message ${req.forkFromValue} is not in the task's visible conversation`, "forkFromValue");
    const visible = segments.clipSegments(closed, position);
    // The code of the latest checkpoint taken on that very conversation (not on a line a rewind abandoned).
    const checkpoint = await checkpoints.checkpointOnConversation(ctx.db, task, visible);
    return { type: req.forkFromType, value: req.forkFromValue, messageId: req.forkFromValue, checkpoint, segments: visible };
  }
  const at = new Date(req.forkFromValue);
  if (Number.isNaN(at.getTime())) throw badRequest("forkFromValue must be an ISO 8601 time for a timestamp fork", "forkFromValue");
  if (at.getTime() > ctx.db.clock().getTime()) {
    throw badRequest(`${req.forkFromValue} is past the end of the task's conversation`, "forkFromValue");
  }
  const count = await segments.countUpTo(ctx.db, closed, at);
  return { type: req.forkFromType, value: req.forkFromValue, checkpoint: await checkpoints.latestCheckpointAtOrBefore(ctx.db, task, at), segments: segments.clipSegments(closed, count) };
}

const short = (id: string) => id.replace(/-/g, "").slice(-8);

/** A message id fit for a branch name: its letters and digits, the last 12 (a UUID's random tail), never ending on a separator. */
const messageTail = (id: string) => id.replace(/[^A-Za-z0-9]/g, "").slice(-12) || "x";

/**
 * The branch a fork works on unless one is given: named after the parent,
 * the point and the fork itself, so forking the same point twice gives two
 * branches.
 */
export function forkBranchName(
  parent: Pick<TaskRecord, "id">,
  point: Pick<ForkPoint, "type" | "checkpoint" | "messageId" | "value">,
  forkId: string,
): string {
  const where =
    point.type === "checkpoint"
      ? `cp${point.checkpoint!.checkpointNumber}`
      : point.type === "message_id"
        ? `msg-${messageTail(point.messageId!)}`
        : `t${Date.parse(point.value)}`;
  return `makima/fork/${short(parent.id)}-${where}-${short(forkId)}`;
}

/** How many of a task's latest forks a branch name is checked against. */
const FORK_BRANCH_SEARCH = 100;

/**
 * Refuses a branch name the parent or one of its latest forks already works
 * on; an older fork's branch is refused by the daemon when it starts the fork.
 */
async function assertBranchFree(ctx: ServiceContext, parent: TaskRecord, branchName: string): Promise<void> {
  const taken =
    parent.branchName === branchName ||
    (await paging.queryFirst(ctx.db, {
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :p",
      FilterExpression: "branchName = :b",
      ExpressionAttributeValues: { ":p": keys.taskForks(parent.id), ":b": branchName },
      ScanIndexForward: false,
    }, FORK_BRANCH_SEARCH)) !== undefined;
  if (taken) throw conflict("branch_exists", `branch ${branchName} is already used by task ${parent.id} or one of its forks; choose another --branch-name`);
}

/**
 * Forks a task at a checkpoint, time or message: a new pending task that
 * shares the parent's conversation up to that point by reference, on a
 * branch at the point's commit, created with its history events (on both
 * tasks) in one transaction; then started on a daemon when one is online.
 * A start that fails leaves the fork waiting for a daemon, not an orphan.
 */
export async function forkTask(ctx: ServiceContext, taskId: string, req: ForkTaskRequest) {
  const parent = await ownedTask(ctx, taskId);
  if (req.branchName) assertBranchName(req.branchName);
  await assertDaemonOnline(ctx.db, parent.ownerId, req.targetDaemonId);
  const point = await resolveForkPoint(ctx, parent, req);
  const includeConversation = req.includeConversation ?? true;
  const childId = newId();
  const branchName = req.createBranch === false ? undefined : (req.branchName ?? forkBranchName(parent, point, childId));
  if (req.branchName) await assertBranchFree(ctx, parent, req.branchName);
  const forkPoint = {
    type: point.type,
    value: point.value,
    ...(point.checkpoint ? { checkpointId: point.checkpoint.id } : {}),
    messageCount: segments.countOf(point.segments),
    ...(point.exact === false ? { conversationApproximate: true as const } : {}),
  };
  const phase = await phaseOf(ctx, parent);
  const actor = actorOf(ctx.principal);
  const child = await tasks.createTask(
    ctx.db,
    parent.ownerId,
    {
      id: childId,
      name: req.newTaskName,
      plan: req.newTaskPlan,
      contractId: parent.contractId,
      branchName,
      baseSha: point.checkpoint?.commitSha ?? parent.baseSha,
      forkedFromTaskId: parent.id,
      forkedAtCheckpointId: point.checkpoint?.id,
      forkedAtMessageId: point.messageId,
      inheritedSegments: includeConversation ? point.segments : [],
      daemonId: req.targetDaemonId,
    },
    (created) => [
      ...eventWrites(ctx.db, {
        ownerId: created.ownerId,
        contractId: created.contractId,
        taskId: created.id,
        phase,
        eventType: "fork",
        eventSubtype: "created",
        eventData: { sourceTaskId: parent.id, forkPoint, branchName, includeConversation, actor },
      }),
      ...eventWrites(ctx.db, {
        ownerId: parent.ownerId,
        contractId: parent.contractId,
        taskId: parent.id,
        phase,
        eventType: "fork",
        eventSubtype: "forked",
        eventData: { forkTaskId: created.id, forkPoint, branchName, actor },
      }, 1),
    ],
  );
  const started = await startOnDaemon(ctx.db, ctx.relay, child, { sourceTaskId: parent.id, includeConversation });
  const current = (await tasks.getTaskRecord(ctx.db, parent.ownerId, child.id)) ?? child;
  return { task: tasks.toTask(current), sourceTaskId: parent.id, forkPoint, branchName, ...startFields(started) };
}

/** A new task that starts from a checkpoint's commit (and, if asked, its conversation). */
export async function resumeFromCheckpoint(ctx: ServiceContext, taskId: string, checkpointId: string, req: ResumeFromCheckpointRequest) {
  const source = await ownedTask(ctx, taskId);
  const checkpoint = await checkpoints.getCheckpoint(ctx.db, source, checkpointId);
  await assertDaemonOnline(ctx.db, source.ownerId, req.targetDaemonId);
  const includeConversation = req.includeConversation ?? false;
  const branchName = `makima/resume/${short(source.id)}-cp${checkpoint.checkpointNumber}-${Date.now().toString(36)}${short(newId()).slice(-4)}`;
  const phase = await phaseOf(ctx, source);
  const newTaskId = newId();
  const eventData = {
    sourceTaskId: source.id,
    newTaskId: newTaskId,
    checkpointId: checkpoint.id,
    checkpointNumber: checkpoint.checkpointNumber,
    commitSha: checkpoint.commitSha,
    includeConversation,
    actor: actorOf(ctx.principal),
  };
  const created = await tasks.createTask(
    ctx.db,
    source.ownerId,
    {
      id: newTaskId,
      name: req.taskName ?? `${source.name} (from checkpoint ${checkpoint.checkpointNumber})`,
      plan: req.plan,
      contractId: source.contractId,
      branchName,
      baseSha: checkpoint.commitSha,
      forkedFromTaskId: source.id,
      forkedAtCheckpointId: checkpoint.id,
      inheritedSegments: includeConversation ? (await conversationAtCheckpoint(ctx, source, checkpoint)).segments : [],
      daemonId: req.targetDaemonId,
    },
    (t) => [
      ...eventWrites(ctx.db, { ownerId: t.ownerId, contractId: t.contractId, taskId: t.id, phase, eventType: "resume", eventSubtype: "from_checkpoint", eventData }),
      ...eventWrites(ctx.db, { ownerId: source.ownerId, contractId: source.contractId, taskId: source.id, phase, eventType: "resume", eventSubtype: "resumed_elsewhere", eventData }, 1),
    ],
  );
  const started = await startOnDaemon(ctx.db, ctx.relay, created, { sourceTaskId: source.id, includeConversation });
  const task = (await tasks.getTaskRecord(ctx.db, source.ownerId, created.id)) ?? created;
  return { task: tasks.toTask(task), sourceTaskId: source.id, checkpointId: checkpoint.id, ...startFields(started) };
}
