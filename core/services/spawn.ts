import type { TaskRecord } from "../models.js";
import { blobKeys } from "../blobs.js";
import { newId } from "../ids.js";
import { DomainError } from "../errors.js";
import { readWholeConversation } from "../store/conversation.js";
import { listConnections } from "../store/connections.js";
import { clearAwaitingDaemon, getTaskRecord, listAwaitingDaemon, markAwaitingDaemon } from "../store/tasks.js";
import type { Db } from "../store/db.js";
import type { Relay } from "../relay.js";
import { MAX_INLINE_PAYLOAD_BYTES } from "../protocol.js";

/** Refuses a request naming a daemon that is not online, before the request changes anything. */
export async function assertDaemonOnline(db: Db, ownerId: string, daemonId: string | undefined): Promise<void> {
  if (!daemonId) return;
  if (!(await listConnections(db, ownerId)).some((c) => c.daemonId === daemonId)) {
    throw new DomainError(503, "no_daemon", `daemon ${daemonId} is not online`);
  }
}

/**
 * Starts a pending task (resumed or forked) on one of its owner's daemons.
 * With none online the task stays `pending` and is marked as waiting; the
 * first daemon that says hello starts it. Never waits for the agent itself.
 */
export async function startOnDaemon(
  db: Db,
  relay: Relay,
  task: TaskRecord,
  options: { targetDaemonId?: string; sourceTaskId?: string; includeConversation?: boolean } = {},
): Promise<{ operationId?: string; daemonId?: string }> {
  const online = (await listConnections(db, task.ownerId)).filter(
    (c) => !options.targetDaemonId || c.daemonId === options.targetDaemonId,
  );
  if (online.length === 0) {
    if (options.targetDaemonId) throw new DomainError(503, "no_daemon", `daemon ${options.targetDaemonId} is not online`);
    await markAwaitingDaemon(db, task);
    return {};
  }
  // The repository a fork or resume starts from lives on the daemon that ran the source task.
  const sourceTaskId = options.sourceTaskId ?? task.forkedFromTaskId;
  const source = sourceTaskId ? await getTaskRecord(db, task.ownerId, sourceTaskId) : undefined;
  const operationId = newId();
  let conversationUrl: string | undefined;
  if (options.includeConversation ?? true) {
    const messages = await readWholeConversation(db, task.segments);
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
  try {
    const op = await relay.dispatch(
      task.ownerId,
      {
        type: "spawnTask",
        taskId: task.id,
        name: task.name,
        ...brief,
        sourceTaskId,
        commitSha: task.baseSha,
        resetToCommit: task.restartAtCheckpointId ? true : undefined,
        branchName: task.branchName,
        conversationUrl,
      },
      {
        targetDaemonId: options.targetDaemonId,
        preferDaemonId: task.daemonId ?? source?.daemonId,
        wait: false,
        operationId,
        context: { taskId: task.id, ...(task.restartAtCheckpointId ? { checkpointId: task.restartAtCheckpointId } : {}) },
      },
    );
    await clearAwaitingDaemon(db, task.id);
    return { operationId: op.id, daemonId: op.daemonId };
  } catch (error) {
    // Every connection was stale: the task waits for the next daemon.
    if (error instanceof DomainError && error.status === 503 && !options.targetDaemonId) {
      await markAwaitingDaemon(db, task);
      return {};
    }
    throw error;
  }
}

/** Starts the tasks that were waiting for a daemon, now that `daemonId` is online. */
export async function startAwaitingTasks(db: Db, relay: Relay, ownerId: string, daemonId: string): Promise<number> {
  let started = 0;
  for (const task of await listAwaitingDaemon(db, ownerId)) {
    if (task.status !== "pending") {
      await clearAwaitingDaemon(db, task.id);
      continue;
    }
    try {
      await startOnDaemon(db, relay, task, { targetDaemonId: daemonId });
      started++;
    } catch (error) {
      // One task that cannot start must not keep the others (or the daemon's hello) from going through.
      console.warn(JSON.stringify({ level: "warn", message: "awaiting task not started", taskId: task.id, error: (error as Error).message }));
    }
  }
  return started;
}
