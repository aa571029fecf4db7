import type { PreserveMode } from "../../core/models.js";
import type { GitDiffInfo, PreservedState } from "../../core/protocol.js";
import { diffCommits } from "./diff.js";
import { BranchExistsError, ForeignChangesError, ValidationError } from "./errors.js";
import { git } from "./git.js";
import type { RecoveredRewind, RewindJournal, RewindJournalDir } from "./journal.js";
import { commitTree, diffTrees, refExists, snapshot, userIdentity, verifyCommit } from "./plumbing.js";
import { nextPreservedBranch, stash } from "./preserve.js";
import { restoreSafetyRef, writeSafetyRef } from "./safety.js";
import { foreignChanges, writeTaskState } from "./task-state.js";
import { assertBranchName, assertMakimaRef, assertSha, assertTaskId, toRepoPath } from "./validate.js";

/**
 * A rewind: the worktree moved back to a checkpoint commit, its work saved
 * first (safety ref, then a branch or stash), each step journaled so that a
 * rewind cut short is completed or rolled back.
 */

export interface RewindOptions {
  checkpointSha: string;
  preserveMode: PreserveMode;
  /** For `create_branch`; default `makima/preserved/<taskId>-<n>`. */
  branchName?: string;
  /** Overwrite changes the task did not make (they stay in the safety ref). */
  force?: boolean;
  /** Paths (files or directories) the agent reports having touched: their changes are the task's own. */
  taskPaths?: string[];
  /** The command's request id: the rewind is journaled under it (see `journalDir`). */
  requestId?: string;
  /** The name to save the safety ref under (a ref under `refs/makima/safety/<taskId>/`); default: one the daemon picks. */
  safetyRef?: string;
}

export interface RewindOutcome {
  preservedAs?: PreservedState;
  /** The worktree as it was just before the rewind; give it to `undoRewind`. */
  safetyRef: string;
  message: string;
  /** Full SHA now checked out. */
  headSha: string;
  /** Changes the task did not make that `force` overwrote (kept in the safety ref). */
  overwrittenForeignChanges: string[];
}

/** Refuses a rewind whose arguments are malformed, before anything is locked or read. */
export function assertRewindOptions(taskId: string, options: RewindOptions): void {
  assertTaskId(taskId);
  assertSha(options.checkpointSha, "checkpoint SHA");
  if (options.safetyRef !== undefined) assertMakimaRef(options.safetyRef, "safety", taskId);
  const mode = options.preserveMode;
  if (mode !== "discard" && mode !== "create_branch" && mode !== "stash") {
    throw new ValidationError("preserve mode", mode, "expected discard, create_branch or stash");
  }
}

/**
 * Moves the worktree at `dir` back to a checkpoint commit. Order: refuse if
 * the SHA is not a commit; refuse changes the task did not make unless
 * `force`; save the safety ref; preserve (branch or stash); then
 * `git reset --hard` and `git clean -fd` (ignored files stay). The caller
 * holds the task's lock and has checked that its agent is not running.
 */
export async function rewindWorktree(dir: string, taskId: string, options: RewindOptions, journals: RewindJournalDir): Promise<RewindOutcome> {
  const mode = options.preserveMode;
  const target = await verifyCommit(dir, options.checkpointSha);
  // Everything that can refuse runs before anything is written.
  if (mode === "create_branch" && options.branchName !== undefined) {
    await assertBranchName(options.branchName, dir);
    if (await refExists(dir, `refs/heads/${options.branchName}`)) throw new BranchExistsError(options.branchName);
  }
  const taskPaths: string[] = [];
  for (const p of options.taskPaths ?? []) taskPaths.push(await toRepoPath(dir, p));

  const snap = await snapshot(dir);
  const foreign = await foreignChanges(dir, taskId, snap, taskPaths);
  if (foreign.length > 0 && !options.force) throw new ForeignChangesError(taskId, foreign);
  if (options.safetyRef !== undefined && (await refExists(dir, options.safetyRef))) {
    throw new ValidationError("safety ref", options.safetyRef, "already exists (a rewind was saved under it)");
  }

  const short = target.slice(0, 12);
  const safetyRef = await writeSafetyRef(dir, taskId, snap, `before rewind to ${short}`, options.safetyRef);
  const journal: RewindJournal | undefined = options.requestId ? { requestId: options.requestId, taskId, target, safetyRef, step: "saved" } : undefined;
  await journals.record(journal);
  try {
    const dirty = snap.tree !== snap.headTree || (snap.indexTree !== null && snap.indexTree !== snap.headTree);
    let preservedAs: PreservedState | undefined;
    let preservedNote = "";

    if (mode === "create_branch") {
      const name = options.branchName ?? (await nextPreservedBranch(dir, taskId));
      let commit = snap.headSha;
      if (dirty) {
        // The branch carries the uncommitted work as one commit on top of HEAD.
        const message = `makima: work of task ${taskId} preserved before rewinding to ${short}\n\nUncommitted, staged and untracked files at the time of the rewind.\n`;
        commit = await commitTree(dir, snap.tree, snap.headSha ? [snap.headSha] : [], message, await userIdentity(dir));
      }
      if (commit) {
        await git(["branch", "--no-track", "--", name, commit], { cwd: dir });
        preservedAs = { type: "branch", reference: name };
        preservedNote = `; previous work preserved on branch ${name}`;
      } else preservedNote = "; nothing to preserve on a branch (no commit, no changes)";
    } else if (mode === "stash") {
      const stashed = dirty ? await stash(dir, taskId, `makima: before rewinding task ${taskId} to ${short}`) : null;
      if (stashed) {
        preservedAs = { type: "stash", reference: stashed.reference };
        preservedNote = `; uncommitted changes stashed as ${stashed.reference} (${stashed.stashRef})`;
      } else preservedNote = "; no uncommitted changes to stash";
    }
    const forced = foreign.length > 0 ? `; overwrote changes the task did not make: ${foreign.join(", ")}` : "";
    const message = `Rewound to ${short}${preservedNote}${forced}; previous state saved as ${safetyRef}`;
    await journals.record(journal && { ...journal, step: "preserved", ...(preservedAs ? { preservedAs } : {}), message });

    await resetTo(dir, taskId, target);
    await journals.record(journal && { ...journal, step: "done", ...(preservedAs ? { preservedAs } : {}), message });
    return {
      ...(preservedAs ? { preservedAs } : {}),
      safetyRef,
      headSha: target,
      overwrittenForeignChanges: foreign,
      message,
    };
  } catch (error) {
    // Half a rewind is no rewind: back to the safety ref, journaled so that a crash meanwhile still gets there.
    await journals.record(journal && { ...journal, step: "rolling_back", error: (error as Error).message });
    await restoreSafetyRef(dir, taskId, safetyRef);
    await journals.forget(journal);
    throw error;
  }
}

/** `git reset --hard` and `git clean -fd` to a commit; the result is the task's state from now on. */
async function resetTo(dir: string, taskId: string, target: string): Promise<void> {
  await git(["reset", "--quiet", "--hard", target, "--"], { cwd: dir });
  await git(["clean", "-f", "-d", "--quiet"], { cwd: dir });
  await writeTaskState(dir, taskId, await snapshot(dir));
}

/**
 * Finishes a rewind found in the journal: completed when the safety ref was
 * saved (moving on is safe), or put back from the safety ref when it was
 * rolling back. The caller holds the task's lock.
 */
export async function recoverRewind(dir: string, journal: RewindJournal): Promise<RecoveredRewind["outcome"]> {
  if (journal.step === "rolling_back") {
    await restoreSafetyRef(dir, journal.taskId, journal.safetyRef);
    return { success: false, error: `the rewind failed (${journal.error ?? "daemon stopped"}) and was rolled back to ${journal.safetyRef}` };
  }
  if (journal.step !== "done") await resetTo(dir, journal.taskId, journal.target);
  const message = `${journal.message ?? `Rewound to ${journal.target.slice(0, 12)}; previous state saved as ${journal.safetyRef}`} (completed after the daemon restarted)`;
  return { success: true, message, safetyRef: journal.safetyRef, ...(journal.preservedAs ? { preservedAs: journal.preservedAs } : {}) };
}

/**
 * What `rewindWorktree` to `checkpointSha` would do, nothing changed (the
 * worktree, its index and refs stay as they are; the capture writes only
 * git objects): the diff from the worktree as it is now (uncommitted and
 * untracked files included, ignored ones not) to the commit, each file that
 * holds uncommitted work marked `setAside` and each change the task did not
 * make marked `foreign`. The caller holds the task's lock.
 */
export async function previewRewindWorktree(dir: string, taskId: string, checkpointSha: string): Promise<GitDiffInfo> {
  assertTaskId(taskId);
  assertSha(checkpointSha, "checkpoint SHA");
  const target = await verifyCommit(dir, checkpointSha);
  const snap = await snapshot(dir);
  const [diff, uncommitted, foreign] = await Promise.all([
    diffCommits(dir, snap.tree, target),
    diffTrees(dir, snap.headTree, snap.tree),
    foreignChanges(dir, taskId, snap, []),
  ]);
  const setAside = new Set(uncommitted.map((c) => c.path));
  const notOurs = new Set(foreign);
  const files = diff.files.map((f) => ({
    ...f,
    ...(setAside.has(f.path) || (f.oldPath !== undefined && setAside.has(f.oldPath)) ? { setAside: true } : {}),
    ...(notOurs.has(f.path) ? { foreign: true } : {}),
  }));
  return { files, stats: diff.stats };
}
