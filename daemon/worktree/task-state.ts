import { DAEMON_IDENTITY, git } from "./git.js";
import { commitTree, diffTrees, revParse, type Snapshot } from "./plumbing.js";
import { TASK_STATE_REF_PREFIX } from "./refs.js";

/**
 * The task-state record: the worktree as the task last left it, kept as a
 * snapshot commit under `refs/makima/task-state/<taskId>`, and what it tells
 * apart (the task's own changes from anyone else's).
 */

export interface TaskStateFingerprint {
  ref: string;
  headSha: string | null;
  /** Dirty paths (against HEAD) → blob SHA of their content, null when deleted. */
  files: Record<string, string | null>;
}

/**
 * Dirty paths (against HEAD) whose content is not what the task left:
 * neither equal to the task-state record nor under a path the agent
 * reported. With no record at all, every dirty path counts as foreign.
 */
export async function foreignChanges(dir: string, taskId: string, snap: Snapshot, taskPaths: string[]): Promise<string[]> {
  const dirty = await diffTrees(dir, snap.headTree, snap.tree);
  if (dirty.length === 0) return [];
  const state = await revParse(dir, `${TASK_STATE_REF_PREFIX}/${taskId}^{tree}`);
  // The record is a full snapshot, so a path differs from it whether it was
  // modified, added or deleted since.
  const sinceMark = state ? new Set((await diffTrees(dir, state, snap.tree)).map((c) => c.path)) : null;
  const reported = (p: string) => taskPaths.some((t) => t === "" || p === t || p.startsWith(`${t}/`));
  return dirty
    .map((c) => c.path)
    .filter((p) => (sinceMark === null || sinceMark.has(p)) && !reported(p))
    .sort();
}

export async function writeTaskState(dir: string, taskId: string, snap: Snapshot): Promise<string> {
  const ref = `${TASK_STATE_REF_PREFIX}/${taskId}`;
  const commit = await commitTree(
    dir,
    snap.tree,
    snap.headSha ? [snap.headSha] : [],
    `makima task state of ${taskId}\n`,
    DAEMON_IDENTITY,
  );
  await git(["update-ref", "-m", "makima: task state", ref, commit], { cwd: dir });
  return ref;
}
