import type { OperationRecord, Phase, TaskRecord } from "../../models.js";
import type { DaemonReply } from "../../protocol.js";
import * as checkpoints from "../../store/checkpoints.js";
import * as tasks from "../../store/tasks.js";
import type { ServiceContext } from "../context.js";
import { setTaskStatus } from "../tasks.js";
import { recordCodeRewind } from "./codeRewindReplies.js";
import { withFreshTask } from "../freshTask.js";
import { str } from "./replyOperation.js";
import { startAwaitingTasks } from "../spawn.js";
import { log } from "../../log.js";

/** A `taskSpawned`: the task running (unless it already reported otherwise), and a checkpoint's code rewind recorded. */
export async function spawnCompleted(
  ctx: ServiceContext,
  op: OperationRecord,
  reply: Extract<DaemonReply, { type: "taskSpawned" }>,
  task: TaskRecord,
  phase: Phase | undefined,
): Promise<unknown> {
  const { db } = ctx;
  await tasks.startSucceeded(db, task.id);
  // Messages are handled concurrently: the agent may already have reported it finished.
  const started = await withFreshTask(db, task.ownerId, task.id, (current) =>
    setTaskStatus(ctx, current, current.status === "pending" || current.status === "failed" ? "running" : current.status, { daemonId: op.daemonId }),
  );
  // A resume from a checkpoint moved the worktree back first: record it, so it can be undone.
  if ((reply.safetyRef || typeof op.context?.codeRewindId === "string") && op.context?.checkpointId) {
    const checkpoint = await checkpoints.getCheckpoint(db, task, str(op, "checkpointId"));
    await recordCodeRewind(db, task, checkpoint, phase, {
      id: typeof op.context?.codeRewindId === "string" ? op.context.codeRewindId : undefined,
      operationId: op.id,
      preserveMode: "create_branch",
      preservedAs: reply.preservedAs,
      safetyRef: reply.safetyRef,
      actor: str(op, "actor") || "resume",
    });
    await tasks.clearRestartPoint(db, task.id);
  }
  // The daemon can start tasks: the next one waiting for it (not tried yet) goes out.
  if (op.daemonId) {
    await startAwaitingTasks(db, ctx.relay, task.ownerId, op.daemonId, { limit: 1, untriedOnly: true }).catch((error: unknown) => log.warn("next awaiting task not started", { daemonId: op.daemonId }, error));
  }
  return { task: tasks.toTask(started), branchName: reply.branchName, commitSha: reply.commitSha };
}
