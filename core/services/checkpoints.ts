import type { DiffStats, FileDiffInfo } from "../protocol.js";
import type { ConversationSnapshot, CreateCheckpointRequest, Phase, SnapshotRecord, TaskCheckpoint, TaskRecord } from "../models.js";
import { blobKeys } from "../blobs.js";
import { newId } from "../ids.js";
import { actorOf } from "../auth.js";
import { outcomeOf, type RelayOutcome } from "../relay.js";
import * as checkpoints from "../store/checkpoints.js";
import * as snapshots from "../store/snapshots.js";
import * as conversationLog from "../store/conversationLog.js";
import type { ReportPosition } from "../store/reportOrder.js";
import type { NewHistoryEvent } from "../store/history.js";
import { ownedTask, type ServiceContext } from "./context.js";
import { phaseOf } from "./taskEvents.js";
import { assertBranchName } from "../gitRefs.js";

export async function createCheckpoint(ctx: ServiceContext, taskId: string, input: CreateCheckpointRequest) {
  return checkpointTask(ctx, await ownedTask(ctx, taskId), input);
}

/** A checkpoint of a task already read (a daemon report's, applied once and in order when numbered). */
export async function checkpointTask(ctx: ServiceContext, task: TaskRecord, input: CreateCheckpointRequest, report?: ReportPosition) {
  const phase = await phaseOf(ctx, task);
  // The checkpoint and its history event are one transaction; its snapshot and pointers are hints written just before (store/checkpoints.ts).
  const { checkpoint, snapshot } = await checkpoints.createCheckpointWithSnapshot(ctx.db, task, input, report, (checkpoint, snapshot) =>
    checkpointCreatedEvent(task, phase, checkpoint, snapshot),
  );
  return { checkpoint, snapshot: snapshots.toSnapshot(snapshot) };
}

/** What the history says of a new checkpoint (`checkpoint`/`created`). */
export function checkpointCreatedEvent(
  task: TaskRecord,
  phase: Phase | undefined,
  checkpoint: TaskCheckpoint,
  snapshot: Pick<SnapshotRecord, "id" | "messageCount">,
): NewHistoryEvent {
  return {
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    phase,
    eventType: "checkpoint",
    eventSubtype: "created",
    eventData: {
      checkpointId: checkpoint.id,
      checkpointNumber: checkpoint.checkpointNumber,
      commitSha: checkpoint.commitSha,
      message: checkpoint.message,
      snapshotId: snapshot.id,
      messageCount: snapshot.messageCount,
    },
  };
}

export async function checkpointsOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string) {
  return checkpoints.listCheckpoints(ctx.db, await ownedTask(ctx, taskId), limit, cursor);
}

/**
 * A manual snapshot of the conversation. With `captureState`, the task's
 * daemon first sends its compacted state (through S3 when large), which the
 * snapshot keeps: the one thing the log cannot reproduce.
 */
export async function createManualSnapshot(
  ctx: ServiceContext,
  taskId: string,
  input: { metadata?: Record<string, unknown>; captureState?: boolean } = {},
): Promise<RelayOutcome<ConversationSnapshot>> {
  const task = await ownedTask(ctx, taskId);
  if (!input.captureState) {
    return { pending: false, result: snapshots.toSnapshot(await snapshots.createSnapshot(ctx.db, task, { snapshotType: "manual", metadata: input.metadata })) };
  }
  const operationId = newId();
  const transferKey = blobKeys.transfer(task.ownerId, `state-${operationId}`);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    { type: "createConversationSnapshot", taskId: task.id, uploadUrl: await ctx.db.blobs.presignPut(transferKey) },
    { operationId, preferDaemonId: task.daemonId, context: { taskId: task.id, transferKey, metadata: input.metadata ?? null } },
  );
  return outcomeOf<ConversationSnapshot>(ctx.db, op);
}

export async function snapshotsOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string) {
  const page = await snapshots.listSnapshots(ctx.db, await ownedTask(ctx, taskId), limit, cursor);
  return { items: page.items.map(snapshots.toSnapshot), nextCursor: page.nextCursor };
}

/** A snapshot with the conversation it names (a page of it: `limit`, `cursor`). */
export async function snapshotWithConversation(ctx: ServiceContext, taskId: string, snapshotId: string, limit: number, cursor?: string) {
  const task = await ownedTask(ctx, taskId);
  const snapshot = await snapshots.getSnapshot(ctx.db, task, snapshotId);
  const page = await conversationLog.readConversation(ctx.db, snapshot.segments, { scope: `snapshot:${snapshot.id}`, cursor, limit });
  const state = snapshot.stateBlobKey ? await ctx.db.blobs.getJson(snapshot.stateBlobKey) : undefined;
  return {
    ...snapshots.toSnapshot(snapshot),
    conversationState: { messages: page.items, nextCursor: page.nextCursor, ...(state !== undefined ? { state } : {}) },
  };
}

export async function pinSnapshot(ctx: ServiceContext, taskId: string, snapshotId: string, pinned: boolean) {
  const task = await ownedTask(ctx, taskId);
  return snapshots.toSnapshot(await snapshots.setPinned(ctx.db, task, snapshotId, pinned));
}

export interface CheckpointDiff {
  taskId: string;
  checkpointId: string;
  commitSha: string;
  previousSha: string | null;
  files: FileDiffInfo[];
  stats: DiffStats;
}

/**
 * The diff comes from the task's daemon; a large one arrives through a
 * presigned S3 upload. Compared with the previous checkpoint, or with
 * `against`: a checkpoint of another of the owner's tasks (a fork and its
 * source share a repository), to compare two lines of work.
 */
export async function checkpointDiff(
  ctx: ServiceContext,
  taskId: string,
  checkpointId: string,
  against?: { taskId: string; checkpointId: string },
): Promise<RelayOutcome<CheckpointDiff>> {
  const task = await ownedTask(ctx, taskId);
  const info = await checkpoints.getCheckpointInfo(ctx.db, task, checkpointId);
  const { checkpoint } = info;
  const previous = against ? await checkpoints.getCheckpoint(ctx.db, await ownedTask(ctx, against.taskId), against.checkpointId) : info.previous;
  const operationId = newId();
  const transferKey = blobKeys.transfer(task.ownerId, `diff-${operationId}`);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    {
      type: "getCheckpointDiff",
      taskId: task.id,
      checkpointSha: checkpoint.commitSha,
      previousSha: previous?.commitSha,
      uploadUrl: await ctx.db.blobs.presignPut(transferKey),
    },
    {
      operationId,
      preferDaemonId: task.daemonId,
      context: {
        taskId: task.id,
        checkpointId: checkpoint.id,
        commitSha: checkpoint.commitSha,
        previousSha: previous?.commitSha ?? null,
        transferKey,
      },
    },
  );
  return outcomeOf<CheckpointDiff>(ctx.db, op);
}

/** Creates a branch at a checkpoint's commit in the task's repository, without starting anything. */
export async function branchFromCheckpoint(ctx: ServiceContext, taskId: string, checkpointId: string, branchName: string) {
  assertBranchName(branchName);
  const task = await ownedTask(ctx, taskId);
  const checkpoint = await checkpoints.getCheckpoint(ctx.db, task, checkpointId);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    { type: "createBranch", taskId: task.id, branchName, commitSha: checkpoint.commitSha },
    {
      preferDaemonId: task.daemonId,
      context: {
        taskId: task.id,
        checkpointId: checkpoint.id,
        checkpointNumber: checkpoint.checkpointNumber,
        actor: actorOf(ctx.principal),
      },
    },
  );
  return outcomeOf<{ branchName: string; commitSha: string }>(ctx.db, op);
}

export async function checkpointOf(ctx: ServiceContext, taskId: string, checkpointId: string): Promise<TaskCheckpoint> {
  const task = await ownedTask(ctx, taskId);
  return checkpoints.getCheckpoint(ctx.db, task, checkpointId);
}
