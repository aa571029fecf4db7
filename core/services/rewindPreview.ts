import type { RewindTaskRequest } from "../models.js";
import type { CheckpointDiff } from "../responses.js";
import { blobKeys } from "../blobs.js";
import { newId } from "../ids.js";
import { outcomeOf, type RelayOutcome } from "../relay.js";
import { ownedTask, type ServiceContext } from "./context.js";
import { checkpointFor } from "./rewind.js";

/**
 * A code rewind's dry run: the task's daemon reports what a rewind to the
 * checkpoint would do to the worktree — the diff from the worktree as it is
 * (uncommitted and untracked files included) to the checkpoint, each file
 * holding uncommitted work marked `setAside`, each change the task did not
 * make marked `foreign` — and changes nothing. Nothing is recorded: no
 * rewind, no history event. A running task may be previewed.
 */
export async function previewRewind(ctx: ServiceContext, taskId: string, req: Pick<RewindTaskRequest, "checkpointId" | "checkpointSha">): Promise<RelayOutcome<CheckpointDiff>> {
  const task = await ownedTask(ctx, taskId);
  const checkpoint = await checkpointFor(ctx, task, req);
  const operationId = newId();
  const transferKey = blobKeys.transfer(task.ownerId, `preview-${operationId}`);
  const op = await ctx.relay.dispatch(
    task.ownerId,
    { type: "previewRewind", taskId: task.id, checkpointSha: checkpoint.commitSha, uploadUrl: await ctx.db.blobs.presignPut(transferKey) },
    {
      operationId,
      preferDaemonId: task.daemonId,
      context: { taskId: task.id, checkpointId: checkpoint.id, commitSha: checkpoint.commitSha, previousSha: null, transferKey },
    },
  );
  return outcomeOf<CheckpointDiff>(ctx.db, op);
}
