import { CodeRewind, type OperationRecord, type TaskRecord } from "../models.js";
import * as codeRewinds from "../store/codeRewinds.js";
import * as checkpoints from "../store/checkpoints.js";
import { blobKeys } from "../blobs.js";
import { newId } from "../ids.js";
import { DomainError } from "../errors.js";
import * as conversationLog from "../store/conversationLog.js";
import * as connections from "../store/connections.js";
import * as operations from "../store/operations.js";
import * as table from "../store/table.js";
import * as tasks from "../store/tasks.js";
import type { Db } from "../store/db.js";
import type { Relay } from "../relay.js";
import { MAX_INLINE_PAYLOAD_BYTES } from "../protocol.js";
import { aboutTask, eventWrites, phaseOf } from "./taskEvents.js";
import { log } from "../log.js";

/** How many times a daemon is asked to start a task before it is marked failed. */
const MAX_START_ATTEMPTS = 3;

/**
 * How many waiting tasks a daemon's hello hands out; those no daemon was
 * asked to start yet go out one by one after that, each when the daemon
 * reports a start done, and one whose start failed waits for the next hello.
 * Each start reads its whole conversation, so a page is what one message's
 * handler can afford.
 */
export const AWAITING_PAGE = 5;

/**
 * Where a start stands once the request is answered: `starting` (a daemon
 * was sent `spawnTask`: follow `operationId`), `waiting` (no daemon that may
 * start it is online: the first to say hello does), or `failed`.
 */
export interface StartOutcome {
  start: "starting" | "waiting" | "failed";
  operationId?: string;
  daemonId?: string;
  error?: { code: string; message: string };
}

/** A start's outcome as the API answers it. */
export function startFields(outcome: StartOutcome) {
  return {
    start: outcome.start,
    ...(outcome.operationId ? { operationId: outcome.operationId } : {}),
    ...(outcome.daemonId ? { daemonId: outcome.daemonId } : {}),
    ...(outcome.error ? { startError: outcome.error } : {}),
  };
}

/** Refuses a request naming a daemon that is not online, before the request changes anything. */
export async function assertDaemonOnline(db: Db, ownerId: string, daemonId: string | undefined): Promise<void> {
  if (!daemonId) return;
  if (!(await connections.listConnections(db, ownerId)).some((c) => c.daemonId === daemonId)) {
    throw new DomainError(503, "no_daemon", `daemon ${daemonId} is not online`);
  }
}

/**
 * Starts a pending task (resumed or forked) on one of its owner's daemons:
 * the one holding its worktree when it has one (`task.daemonId`), else any,
 * the source task's first. The start is claimed by a conditional write, so
 * it is sent once however many requests or hellos race. A start that cannot
 * be sent puts the task back to wait (with the reason); nothing here throws
 * once the task exists. Never waits for the agent itself.
 */
export async function startOnDaemon(
  db: Db,
  relay: Relay,
  task: TaskRecord,
  options: { onDaemonId?: string; sourceTaskId?: string; includeConversation?: boolean } = {},
): Promise<StartOutcome> {
  // Waiting until a daemon reports it started: a start that fails or goes unanswered finds it again.
  await tasks.markAwaitingDaemon(db, task);
  const bound = task.daemonId;
  if (bound && options.onDaemonId && bound !== options.onDaemonId) return { start: "waiting" };
  const online = (await connections.listConnections(db, task.ownerId)).filter(
    (c) => (!bound || c.daemonId === bound) && (!options.onDaemonId || c.daemonId === options.onDaemonId),
  );
  if (online.length === 0) return { start: "waiting" };
  task = await expireStaleStart(db, relay, task);
  const operationId = newId();
  const claimed = await tasks.claimStart(db, task, operationId, staleBefore(db, relay));
  if (!claimed) {
    const current = await tasks.getTaskRecord(db, task.ownerId, task.id);
    if (current?.status === "failed") return { start: "failed", ...(current.lastStartError ? { error: current.lastStartError } : {}) };
    return { start: "starting", ...(current?.startingOperationId ? { operationId: current.startingOperationId } : {}) };
  }
  try {
    const op = await dispatchSpawn(db, relay, claimed, operationId, {
      targetDaemonId: bound ?? options.onDaemonId,
      sourceTaskId: options.sourceTaskId ?? task.forkedFromTaskId,
      includeConversation: options.includeConversation ?? true,
    });
    return { start: "starting", operationId: op.id, daemonId: op.daemonId };
  } catch (error) {
    const reason =
      error instanceof DomainError
        ? { code: error.code, message: error.message }
        : { code: "start_failed", message: `the start could not be sent: ${(error as Error).message}` };
    return startFailed(db, claimed, operationId, reason);
  }
}

const staleBefore = (db: Db, relay: Relay) => new Date(db.clock().getTime() - relay.timeoutMs);

async function dispatchSpawn(
  db: Db,
  relay: Relay,
  task: TaskRecord,
  operationId: string,
  options: { targetDaemonId?: string; sourceTaskId?: string; includeConversation: boolean },
): Promise<OperationRecord> {
  // The repository a fork or resume starts from lives on the daemon that ran the source task.
  const source = options.sourceTaskId ? await tasks.getTaskRecord(db, task.ownerId, options.sourceTaskId) : undefined;
  let conversationUrl: string | undefined;
  if (options.includeConversation) {
    const messages = await conversationLog.readWholeConversation(db, task.segments);
    if (messages.length > 0) {
      const key = blobKeys.transfer(task.ownerId, `conversation-${operationId}`);
      await db.blobs.putJson(key, { messages });
      conversationUrl = await db.blobs.presignGet(key, 3600);
    }
  }
  // A long plan or context goes through S3 too: the command itself must stay under a WebSocket message's size.
  let brief: { plan: string; additionalContext?: string; briefUrl?: string } = { plan: task.plan, additionalContext: task.resumeContext };
  if (Buffer.byteLength(JSON.stringify(brief)) > MAX_INLINE_PAYLOAD_BYTES / 2) {
    const key = blobKeys.transfer(task.ownerId, `brief-${operationId}`);
    await db.blobs.putJson(key, { plan: task.plan, additionalContext: task.resumeContext });
    brief = { plan: "", briefUrl: await db.blobs.presignGet(key, 3600) };
  }
  // A resume from a checkpoint moves the worktree back first: that rewind is recorded before the command goes.
  const rewind = task.restartAtCheckpointId ? await recordResumeRewind(db, relay, task, operationId) : undefined;
  try {
    return await relay.dispatch(
      task.ownerId,
      {
        type: "spawnTask",
        taskId: task.id,
        name: task.name,
        ...brief,
        sourceTaskId: options.sourceTaskId,
        commitSha: task.baseSha,
        resetToCommit: task.restartAtCheckpointId ? true : undefined,
        safetyRef: rewind?.safetyRef,
        branchName: task.branchName,
        conversationUrl,
      },
      {
        targetDaemonId: options.targetDaemonId,
        preferDaemonId: source?.daemonId,
        wait: false,
        operationId,
        context: {
          taskId: task.id,
          ...(task.restartAtCheckpointId ? { checkpointId: task.restartAtCheckpointId } : {}),
          ...(rewind ? { codeRewindId: rewind.id } : {}),
        },
      },
    );
  } catch (error) {
    // Nothing was sent: no rewind happened.
    if (rewind) await codeRewinds.deleteDispatchedCodeRewind(db, task.id, rewind.id);
    throw error;
  }
}

/** The code rewind a resume from a checkpoint makes, recorded `dispatched` with the safety ref the daemon is told to save. */
async function recordResumeRewind(db: Db, relay: Relay, task: TaskRecord, operationId: string): Promise<CodeRewind> {
  const checkpoint = await checkpoints.getCheckpoint(db, task, task.restartAtCheckpointId!);
  const id = newId();
  const now = db.clock();
  const rewind = CodeRewind.parse({
    id,
    taskId: task.id,
    ownerId: task.ownerId,
    checkpointId: checkpoint.id,
    commitSha: checkpoint.commitSha,
    preserveMode: "create_branch",
    safetyRef: codeRewinds.safetyRefFor(task.id, id),
    actor: "resume",
    createdAt: now.toISOString(),
    status: "dispatched",
    operationId,
    deadline: new Date(now.getTime() + relay.timeoutMs).toISOString(),
  });
  await codeRewinds.putDispatchedCodeRewind(db, rewind);
  return rewind;
}

/**
 * A start that did not happen (refused, failed, unanswered, unsendable): the
 * task waits for a daemon again, with the reason in its `lastStartError` and
 * a `task`/`start_failed` history event written with it; after the last
 * attempt it is `failed` instead. Only the operation holding the start can
 * end it, so a late or repeated report changes nothing.
 */
async function startFailed(
  db: Db,
  task: TaskRecord,
  operationId: string,
  reason: { code: string; message: string },
): Promise<StartOutcome> {
  const attempt = Math.max(1, task.startAttempts ?? 1);
  const final = attempt >= MAX_START_ATTEMPTS;
  const phase = await phaseOf({ db }, task);
  const about = aboutTask(task, phase);
  try {
    await db.table.transact([
      tasks.startFailedUpdate(db, task, operationId, { ...reason, attempt }, final),
      ...eventWrites(db, {
        ...about,
        eventType: "task",
        eventSubtype: "start_failed",
        eventData: { operationId, attempt, maxAttempts: MAX_START_ATTEMPTS, ...reason, then: final ? "failed" : "waiting" },
      }),
      ...(final
        ? eventWrites(db, { ...about, eventType: "task", eventSubtype: "failed", eventData: { from: "pending", to: "failed", actor: "daemon-start" } }, 1)
        : []),
    ]);
  } catch (error) {
    // Another report already ended this start (or a newer one holds it).
    if (!table.cancellationReasons(error)?.includes("ConditionalCheckFailed")) throw error;
  }
  return { start: final ? "failed" : "waiting", error: reason };
}

/** The start an operation carried, ended: called whenever a `spawnTask` operation fails or times out. */
export async function spawnOperationFailed(db: Db, op: OperationRecord, reason: { code: string; message: string }): Promise<void> {
  if (op.commandType !== "spawnTask" || typeof op.context?.taskId !== "string") return;
  const task = await tasks.getTaskRecord(db, op.ownerId, op.context.taskId);
  if (task?.startingOperationId === op.id) await startFailed(db, task, op.id, reason);
}

/** A start its daemon never answered, past the daemon's time: its operation times out and the task waits again. */
export async function expireStaleStart(db: Db, relay: Relay, task: TaskRecord): Promise<TaskRecord> {
  if (!task.startingOperationId || !task.startingSince || Date.parse(task.startingSince) >= staleBefore(db, relay).getTime()) return task;
  const reason = { code: "daemon_timeout", message: `the daemon did not report the task started within ${relay.timeoutMs} ms` };
  await operations.settleOperation(db, { id: task.startingOperationId, ownerId: task.ownerId }, { status: "timed_out", error: reason });
  await startFailed(db, task, task.startingOperationId, reason);
  return (await tasks.getTaskRecord(db, task.ownerId, task.id)) ?? task;
}

/**
 * Starts tasks that were waiting for a daemon on `daemonId`, now online: one
 * bounded page of them (those it may start; see listAwaitingDaemon), each
 * claimed once. A start still under way (its daemon has time left to
 * answer) is passed over.
 */
export async function startAwaitingTasks(
  db: Db,
  relay: Relay,
  ownerId: string,
  daemonId: string,
  page: { limit: number; untriedOnly?: boolean } = { limit: AWAITING_PAGE },
): Promise<number> {
  let started = 0;
  const waiting = await tasks.listAwaitingDaemon(db, ownerId, daemonId, page);
  for (const task of waiting) {
    if (task.status !== "pending") {
      await tasks.clearAwaitingDaemon(db, task.id);
      continue;
    }
    if (task.startingSince && Date.parse(task.startingSince) >= staleBefore(db, relay).getTime()) continue;
    try {
      const outcome = await startOnDaemon(db, relay, task, { onDaemonId: daemonId });
      if (outcome.start === "starting" && outcome.daemonId === daemonId) started++;
    } catch (error) {
      // One task that cannot start must not keep the others (or the daemon's hello) from going through.
      log.warn("awaiting task not started", { taskId: task.id }, error);
    }
  }
  return started;
}
