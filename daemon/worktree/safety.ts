import { randomUUID } from "node:crypto";
import { SafetyRefMissingError, ValidationError, WorktreeError } from "./errors.js";
import { DAEMON_IDENTITY, git, gitOut } from "./git.js";
import { commitTree, revParse, snapshot, type Snapshot } from "./plumbing.js";
import { SAFETY_REF_PREFIX, TASK_STATE_REF_PREFIX } from "./refs.js";
import { assertBranchName } from "./validate.js";

/**
 * Safety refs: the worktree's exact state saved as a commit under
 * `refs/makima/safety/<taskId>/<stamp>` before anything destructive, and the
 * worktree put back from one.
 */

export interface UndoOutcome {
  restoredFrom: string;
  headSha: string;
  /** Branch checked out again, or null when HEAD was detached. */
  branch: string | null;
  /** The state the undo replaced, so the undo can be undone too. */
  safetyRef: string;
  /** True when the exact staged/unstaged split came back; false: every change is unstaged. */
  indexRestored: boolean;
}

interface SafetyMeta {
  taskId: string;
  headSha: string | null;
  headRef: string | null;
  indexTree: string | null;
  taskState: string | null;
}

/**
 * The snapshot as a commit: tree = full worktree state; parents = HEAD,
 * a commit of the index tree, and the task-state commit of the time, so
 * everything an undo needs stays reachable (and safe from gc) through the
 * ref. The message records what parents cannot say (which is which, the
 * branch).
 */
export async function writeSafetyRef(dir: string, taskId: string, snap: Snapshot, reason: string, name?: string): Promise<string> {
  const taskState = await revParse(dir, `${TASK_STATE_REF_PREFIX}/${taskId}^{commit}`);
  const indexCommit = snap.indexTree
    ? await commitTree(dir, snap.indexTree, snap.headSha ? [snap.headSha] : [], `makima index of ${taskId}\n`, DAEMON_IDENTITY)
    : null;
  const parents = [snap.headSha, indexCommit, taskState].filter((p): p is string => p !== null);
  const message =
    `makima safety snapshot of task ${taskId} (${reason})\n\n` +
    `Makima-Task: ${taskId}\n` +
    `Makima-Head: ${snap.headSha ?? "none"}\n` +
    `Makima-Branch: ${snap.headRef ?? "detached"}\n` +
    `Makima-Index-Tree: ${snap.indexTree ?? "none"}\n` +
    `Makima-Task-State: ${taskState ?? "none"}\n`;
  const commit = await commitTree(dir, snap.tree, [...new Set(parents)], message, DAEMON_IDENTITY);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const ref = name ?? `${SAFETY_REF_PREFIX}/${taskId}/${stamp}-${randomUUID().slice(0, 8)}`;
  // Empty old value: create only, never overwrite.
  await git(["update-ref", "-m", `makima: ${reason}`, ref, commit, ""], { cwd: dir });
  return ref;
}

/** The worktree back to a safety ref (see undoRewind); the caller holds the task's lock. */
export async function restoreSafetyRef(dir: string, taskId: string, safetyRef: string): Promise<UndoOutcome> {
  const commit = await revParse(dir, `${safetyRef}^{commit}`);
  if (!commit) throw new SafetyRefMissingError(safetyRef);
  const meta = parseSafetyMessage(await gitOut(["cat-file", "commit", commit], { cwd: dir }));
  if (!meta || meta.taskId !== taskId) {
    throw new ValidationError("safety ref", safetyRef, `is not a safety snapshot of task ${taskId}`);
  }
  if (meta.headSha === null) {
    throw new WorktreeError("unsupported", `${safetyRef} was taken before the first commit; it cannot be checked out again`);
  }
  let branch: string | null = null;
  if (meta.headRef !== null) {
    if (!meta.headRef.startsWith("refs/heads/")) {
      throw new ValidationError("safety ref", safetyRef, `records HEAD on ${meta.headRef}, not a branch`);
    }
    branch = await assertBranchName(meta.headRef.slice("refs/heads/".length), dir);
  }
  const tree = (await revParse(dir, `${commit}^{tree}`))!;

  const undoSafety = await writeSafetyRef(dir, taskId, await snapshot(dir), `before undoing ${safetyRef}`);

  // 1. the branch (moved back to the recorded commit) or a detached HEAD,
  if (branch !== null) await git(["checkout", "--quiet", "--force", "-B", branch, meta.headSha, "--"], { cwd: dir });
  else await git(["checkout", "--quiet", "--force", "--detach", meta.headSha, "--"], { cwd: dir });
  // 2. no untracked file that was not there,
  await git(["clean", "-f", "-d", "--quiet"], { cwd: dir });
  // 3. every file as it was (index + worktree = the full snapshot; files
  //    not in it are removed),
  await git(["read-tree", "--reset", "-u", tree], { cwd: dir });
  // 4. then the index alone: what was staged is staged again, files that
  //    were untracked drop out of the index and are untracked again.
  const indexRestored = meta.indexTree !== null;
  if (meta.indexTree !== null) await git(["read-tree", meta.indexTree], { cwd: dir });
  else await git(["reset", "--quiet"], { cwd: dir });
  // Fresh stat data, so the next `git status` does not rehash everything.
  await git(["update-index", "-q", "--refresh"], { cwd: dir, okExitCodes: [0, 1] });

  const stateRef = `${TASK_STATE_REF_PREFIX}/${taskId}`;
  if (meta.taskState !== null) await git(["update-ref", stateRef, meta.taskState], { cwd: dir });
  else await git(["update-ref", "-d", stateRef], { cwd: dir });

  return { restoredFrom: safetyRef, headSha: meta.headSha, branch, safetyRef: undoSafety, indexRestored };
}

function parseSafetyMessage(commitText: string): SafetyMeta | null {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}: (.+)$`, "m").exec(commitText);
    return m ? m[1]!.trim() : null;
  };
  const taskId = field("Makima-Task");
  const head = field("Makima-Head");
  const branch = field("Makima-Branch");
  const index = field("Makima-Index-Tree");
  const state = field("Makima-Task-State");
  if (!taskId || !head || !branch || !index || !state) return null;
  const sha = (v: string) => (v === "none" ? null : /^[0-9a-f]{40,64}$/.test(v) ? v : undefined);
  const headSha = sha(head);
  const indexTree = sha(index);
  const taskState = sha(state);
  if (headSha === undefined || indexTree === undefined || taskState === undefined) return null;
  return { taskId, headSha, headRef: branch === "detached" ? null : branch, indexTree, taskState };
}
