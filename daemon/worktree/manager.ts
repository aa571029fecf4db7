import { randomUUID } from "node:crypto";
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { PreserveMode } from "../../core/models.js";
import type { GitDiffInfo, PreservedState } from "../../core/protocol.js";
import { diffCommits } from "./diff.js";
import {
  AgentRunningError,
  BranchExistsError,
  ForeignChangesError,
  GitError,
  NotACommitError,
  SafetyRefMissingError,
  UnknownTaskError,
  ValidationError,
  WorktreeError,
  WorktreeExistsError,
} from "./errors.js";
import { DAEMON_IDENTITY, git, gitOut, type GitRunOptions } from "./git.js";
import { assertBranchName, assertMakimaRef, assertSha, assertTaskId, toRepoPath } from "./validate.js";

/**
 * The git side of the daemon: one worktree per task, checkpoint diffs, and
 * rewinds that can always be undone.
 *
 * Refs this module writes (all in the task's repository, shared by its
 * linked worktrees, and named after the task so tasks never collide):
 * - `refs/makima/safety/<taskId>/<stamp>`: the worktree exactly as it was
 *   before a rewind (or an undo); see `saveSafetyRef`.
 * - `refs/makima/stash/<taskId>/<stamp>`: a stable name for a stash made by a
 *   rewind (`stash@{n}` shifts as stashes come and go).
 * - `refs/makima/task-state/<taskId>`: the worktree as the task last left it,
 *   used to tell the task's own changes from anyone else's.
 */

export const SAFETY_REF_PREFIX = "refs/makima/safety";
export const STASH_REF_PREFIX = "refs/makima/stash";
export const TASK_STATE_REF_PREFIX = "refs/makima/task-state";
export const PRESERVED_BRANCH_PREFIX = "makima/preserved";
export const TASK_BRANCH_PREFIX = "makima/task";

export type AgentRunningCheck = (taskId: string) => boolean | Promise<boolean>;

export interface WorktreeManagerOptions {
  /** Directory holding one worktree per task, `<root>/<taskId>`. */
  root: string;
  /** Whether the task's agent is running; destructive operations are refused while it is. */
  isAgentRunning?: AgentRunningCheck;
  /**
   * Where rewinds keep their journal (one file per rewind under way), so that
   * a daemon killed mid-rewind completes or rolls it back when it starts again
   * (`recoverRewinds`). Without it, nothing is journaled.
   */
  journalDir?: string;
  /** Called as a rewind passes each step (after the journal records it). */
  onRewindStep?: (taskId: string, step: RewindStep) => void | Promise<void>;
}

/**
 * The steps of a rewind, as its journal records them: the safety ref is
 * saved, the work preserved (branch or stash), the worktree reset, done. A
 * rewind found at `saved` or `preserved` is completed; one `rolling_back`
 * (a failure after the safety ref) is put back from its safety ref.
 */
export type RewindStep = "saved" | "preserved" | "done" | "rolling_back";

export interface RewindJournal {
  requestId: string;
  taskId: string;
  target: string;
  safetyRef: string;
  step: RewindStep;
  preservedAs?: PreservedState;
  message?: string;
  error?: string;
}

/** What a rewind found in the journal came to, for the daemon to report under its request id. */
export interface RecoveredRewind {
  journal: RewindJournal;
  outcome: { success: true; message: string; safetyRef: string; preservedAs?: PreservedState } | { success: false; error: string };
}

export interface CreateWorktreeOptions {
  /** A repository (or one of its worktrees) to take the commit from. */
  sourceRepo?: string;
  /** The task whose repository the new worktree comes from (fork, resume). */
  sourceTaskId?: string;
  commitSha: string;
  /** New branch for the worktree; default `makima/task/<first 8 of taskId>`. */
  branchName?: string;
}

export interface CreatedWorktree {
  taskId: string;
  path: string;
  branchName: string;
  /** Full SHA of the commit checked out. */
  commitSha: string;
}

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

export interface StashOutcome {
  /** Stable ref to the stash commit (`git stash apply <reference>` works). */
  reference: string;
  /** Its place in `git stash list` when it was made. */
  stashRef: string;
  commitSha: string;
}

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

export interface TaskStateFingerprint {
  ref: string;
  headSha: string | null;
  /** Dirty paths (against HEAD) → blob SHA of their content, null when deleted. */
  files: Record<string, string | null>;
}

/** The full state of a worktree, captured without touching it. */
interface Snapshot {
  headSha: string | null;
  /** Full ref HEAD points to (`refs/heads/x`), null when detached. */
  headRef: string | null;
  headTree: string;
  /** HEAD + staged + unstaged + untracked (not ignored) files. */
  tree: string;
  /** The index as a tree; null when it cannot be one (unmerged entries). */
  indexTree: string | null;
}

interface SafetyMeta {
  taskId: string;
  headSha: string | null;
  headRef: string | null;
  indexTree: string | null;
  taskState: string | null;
}

export class WorktreeManager {
  readonly root: string;
  private readonly isAgentRunning: AgentRunningCheck | undefined;
  private readonly journalDir: string | undefined;
  private readonly onRewindStep: WorktreeManagerOptions["onRewindStep"];
  private readonly paths = new Map<string, string>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(options: WorktreeManagerOptions) {
    this.root = path.resolve(options.root);
    this.isAgentRunning = options.isAgentRunning;
    this.journalDir = options.journalDir;
    this.onRewindStep = options.onRewindStep;
  }

  // ------------------------------------------------------------ worktrees

  /**
   * A new worktree `<root>/<taskId>` on a new branch at `commitSha`, linked to
   * the source repository (same objects and refs, so the new task's commits
   * are visible from the source).
   */
  async createWorktree(taskId: string, options: CreateWorktreeOptions): Promise<CreatedWorktree> {
    assertTaskId(taskId);
    assertSha(options.commitSha);
    if ((options.sourceRepo === undefined) === (options.sourceTaskId === undefined)) {
      throw new ValidationError("source", options, "give exactly one of sourceRepo or sourceTaskId");
    }
    return this.locked(taskId, async () => {
      const dest = path.join(this.root, taskId);
      if (this.paths.has(taskId)) throw new WorktreeExistsError(this.paths.get(taskId)!);
      if (await exists(dest)) throw new WorktreeExistsError(dest);

      let source: string;
      if (options.sourceTaskId !== undefined) {
        assertTaskId(options.sourceTaskId);
        source = await this.dirFor(options.sourceTaskId);
      } else {
        source = path.resolve(options.sourceRepo!);
        try {
          await git(["rev-parse", "--git-dir"], { cwd: source });
        } catch {
          throw new ValidationError("source repository", options.sourceRepo, "is not a git repository");
        }
      }
      const commit = await verifyCommit(source, options.commitSha);
      const branchName = options.branchName ?? `${TASK_BRANCH_PREFIX}/${taskId.slice(0, 8)}`;
      await assertBranchName(branchName, source);
      if (await refExists(source, `refs/heads/${branchName}`)) throw new BranchExistsError(branchName);

      await mkdir(this.root, { recursive: true });
      await git(["worktree", "add", "--quiet", "-b", branchName, dest, commit], { cwd: source });
      const real = await realpath(dest);
      this.paths.set(taskId, real);
      // The fresh checkout is the task's starting point.
      await this.writeTaskState(real, taskId, await snapshot(real));
      return { taskId, path: real, branchName, commitSha: commit };
    });
  }

  /** Adopt a worktree that already exists (anywhere) for `taskId`. */
  async registerExisting(taskId: string, worktreePath: string): Promise<string> {
    assertTaskId(taskId);
    let real: string;
    try {
      real = await realpath(path.resolve(worktreePath));
    } catch {
      throw new ValidationError("worktree path", worktreePath, "does not exist");
    }
    let top: string;
    try {
      top = await realpath(await gitOut(["rev-parse", "--show-toplevel"], { cwd: real }));
    } catch {
      throw new ValidationError("worktree path", worktreePath, "is not a git worktree");
    }
    if (top !== real) {
      throw new ValidationError("worktree path", worktreePath, `is not the top of a git worktree (that is ${top})`);
    }
    this.paths.set(taskId, real);
    return real;
  }

  /** The task's worktree directory. */
  async worktreePath(taskId: string): Promise<string> {
    assertTaskId(taskId);
    return this.dirFor(taskId);
  }

  // ------------------------------------------------------------ reads

  /**
   * The changes of `toSha` against `fromSha`, or against its first parent
   * (the empty tree for a root commit) when `fromSha` is undefined.
   */
  async getDiff(taskId: string, fromSha: string | undefined, toSha: string): Promise<GitDiffInfo> {
    assertTaskId(taskId);
    if (fromSha !== undefined) assertSha(fromSha, "previous commit SHA");
    assertSha(toSha);
    const dir = await this.dirFor(taskId);
    const to = await verifyCommit(dir, toSha);
    let from: string;
    if (fromSha !== undefined) from = await verifyCommit(dir, fromSha);
    else from = (await revParse(dir, `${to}^1`)) ?? (await emptyTree(dir));
    return diffCommits(dir, from, to);
  }

  /** Safety refs of the task, newest first. */
  async listSafetyRefs(taskId: string): Promise<string[]> {
    assertTaskId(taskId);
    const dir = await this.dirFor(taskId);
    const out = await gitOut(["for-each-ref", "--sort=-refname", "--format=%(refname)", `${SAFETY_REF_PREFIX}/${taskId}/`], {
      cwd: dir,
    });
    return out ? out.split("\n") : [];
  }

  // ------------------------------------------------------------ task state

  /**
   * Record the worktree as the task leaves it (call at the end of each agent
   * run). At a rewind, a dirty file whose content differs from this record
   * was changed by someone else. Stored as a snapshot commit under
   * `refs/makima/task-state/<taskId>`, so it survives daemon restarts.
   */
  async markTaskState(taskId: string): Promise<TaskStateFingerprint> {
    assertTaskId(taskId);
    return this.locked(taskId, async () => {
      const dir = await this.dirFor(taskId);
      const snap = await snapshot(dir);
      const ref = await this.writeTaskState(dir, taskId, snap);
      const files: Record<string, string | null> = {};
      for (const change of await diffTrees(dir, snap.headTree, snap.tree)) {
        files[change.path] = change.deleted ? null : change.blob;
      }
      return { ref, headSha: snap.headSha, files };
    });
  }

  // ------------------------------------------------------------ changes

  /** A new branch at a commit of the task's repository; the worktree is not touched. */
  async createBranch(taskId: string, branchName: string, commitSha: string): Promise<{ branchName: string; commitSha: string }> {
    assertTaskId(taskId);
    assertSha(commitSha);
    const dir = await this.dirFor(taskId);
    await assertBranchName(branchName, dir);
    const commit = await verifyCommit(dir, commitSha);
    if (await refExists(dir, `refs/heads/${branchName}`)) throw new BranchExistsError(branchName);
    await git(["branch", "--no-track", "--", branchName, commit], { cwd: dir });
    return { branchName, commitSha: commit };
  }

  /**
   * Save the worktree's exact state (HEAD commit and branch, staged, unstaged
   * and untracked files; not ignored ones) under
   * `refs/makima/safety/<taskId>/<stamp>` without changing the worktree or
   * the index. Returns the ref name.
   */
  async saveSafetyRef(taskId: string): Promise<string> {
    assertTaskId(taskId);
    return this.locked(taskId, async () => {
      const dir = await this.dirFor(taskId);
      return this.writeSafetyRef(dir, taskId, await snapshot(dir), "saved on request");
    });
  }

  /** Stash staged, unstaged and untracked changes; null when there is nothing to stash. */
  async stashChanges(taskId: string, message?: string): Promise<StashOutcome | null> {
    assertTaskId(taskId);
    return this.locked(taskId, async () => {
      await this.refuseIfRunning(taskId);
      const dir = await this.dirFor(taskId);
      return this.stash(dir, taskId, message ?? `makima: changes of task ${taskId}`);
    });
  }

  /** `git reset --hard` + `git clean -fd` to a commit: a `discard` rewind (safety ref and foreign-change check included). */
  async resetToCommit(taskId: string, commitSha: string, options: { force?: boolean } = {}): Promise<RewindOutcome> {
    return this.rewind(taskId, { checkpointSha: commitSha, preserveMode: "discard", force: options.force });
  }

  /**
   * Move the worktree back to a checkpoint commit. Order: refuse if the agent
   * runs or the SHA is not a commit; refuse changes the task did not make
   * unless `force`; save the safety ref; preserve (branch or stash); then
   * `git reset --hard` and `git clean -fd` (ignored files stay).
   */
  async rewind(taskId: string, options: RewindOptions): Promise<RewindOutcome> {
    assertTaskId(taskId);
    assertSha(options.checkpointSha, "checkpoint SHA");
    if (options.safetyRef !== undefined) assertMakimaRef(options.safetyRef, "safety", taskId);
    const mode = options.preserveMode;
    if (mode !== "discard" && mode !== "create_branch" && mode !== "stash") {
      throw new ValidationError("preserve mode", mode, "expected discard, create_branch or stash");
    }
    return this.locked(taskId, async () => {
      await this.refuseIfRunning(taskId);
      const dir = await this.dirFor(taskId);
      const target = await verifyCommit(dir, options.checkpointSha);
      // Everything that can refuse runs before anything is written.
      if (mode === "create_branch" && options.branchName !== undefined) {
        await assertBranchName(options.branchName, dir);
        if (await refExists(dir, `refs/heads/${options.branchName}`)) throw new BranchExistsError(options.branchName);
      }
      const taskPaths: string[] = [];
      for (const p of options.taskPaths ?? []) taskPaths.push(await toRepoPath(dir, p));

      const snap = await snapshot(dir);
      const foreign = await this.foreignChanges(dir, taskId, snap, taskPaths);
      if (foreign.length > 0 && !options.force) throw new ForeignChangesError(taskId, foreign);
      if (options.safetyRef !== undefined && (await refExists(dir, options.safetyRef))) {
        throw new ValidationError("safety ref", options.safetyRef, "already exists (a rewind was saved under it)");
      }

      const short = target.slice(0, 12);
      const safetyRef = await this.writeSafetyRef(dir, taskId, snap, `before rewind to ${short}`, options.safetyRef);
      const journal: RewindJournal | undefined = options.requestId ? { requestId: options.requestId, taskId, target, safetyRef, step: "saved" } : undefined;
      await this.record(journal);
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
          const stashed = dirty ? await this.stash(dir, taskId, `makima: before rewinding task ${taskId} to ${short}`) : null;
          if (stashed) {
            preservedAs = { type: "stash", reference: stashed.reference };
            preservedNote = `; uncommitted changes stashed as ${stashed.reference} (${stashed.stashRef})`;
          } else preservedNote = "; no uncommitted changes to stash";
        }
        const forced = foreign.length > 0 ? `; overwrote changes the task did not make: ${foreign.join(", ")}` : "";
        const message = `Rewound to ${short}${preservedNote}${forced}; previous state saved as ${safetyRef}`;
        await this.record(journal && { ...journal, step: "preserved", ...(preservedAs ? { preservedAs } : {}), message });

        await this.resetTo(dir, taskId, target);
        await this.record(journal && { ...journal, step: "done", ...(preservedAs ? { preservedAs } : {}), message });
        return {
          ...(preservedAs ? { preservedAs } : {}),
          safetyRef,
          headSha: target,
          overwrittenForeignChanges: foreign,
          message,
        };
      } catch (error) {
        // Half a rewind is no rewind: back to the safety ref, journaled so that a crash meanwhile still gets there.
        await this.record(journal && { ...journal, step: "rolling_back", error: (error as Error).message });
        await this.restore(dir, taskId, safetyRef);
        await this.forgetRewind(journal);
        throw error;
      }
    });
  }

  /** `git reset --hard` and `git clean -fd` to a commit; the result is the task's state from now on. */
  private async resetTo(dir: string, taskId: string, target: string): Promise<void> {
    await git(["reset", "--quiet", "--hard", target, "--"], { cwd: dir });
    await git(["clean", "-f", "-d", "--quiet"], { cwd: dir });
    await this.writeTaskState(dir, taskId, await snapshot(dir));
  }

  /** Writes a rewind's journal entry (replacing the previous one in one rename), then tells `onRewindStep`. */
  private async record(journal: RewindJournal | undefined): Promise<void> {
    if (!journal || !this.journalDir) return;
    await mkdir(this.journalDir, { recursive: true });
    const file = this.journalFile(journal);
    await writeFile(`${file}.tmp`, JSON.stringify(journal), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    await this.onRewindStep?.(journal.taskId, journal.step);
  }

  private journalFile(journal: Pick<RewindJournal, "taskId" | "requestId">): string {
    return path.join(this.journalDir!, `rewind-${journal.taskId}-${journal.requestId}.json`);
  }

  /** The rewind has been reported: its journal entry goes. */
  async forgetRewind(journal: Pick<RewindJournal, "taskId" | "requestId"> | undefined): Promise<void> {
    if (!journal || !this.journalDir) return;
    await rm(this.journalFile(journal), { force: true });
  }

  /**
   * Rewinds a previous run of the daemon left in its journal: completed (the
   * safety ref was saved, so moving on is safe), or put back from the safety
   * ref when it was rolling back. Each comes with its outcome, to report
   * under the command's request id; `forgetRewind` once reported.
   */
  async recoverRewinds(): Promise<RecoveredRewind[]> {
    if (!this.journalDir) return [];
    const names = await readdir(this.journalDir).catch(() => [] as string[]);
    const recovered: RecoveredRewind[] = [];
    for (const name of names.filter((n) => /^rewind-.*\.json$/.test(n))) {
      let journal: RewindJournal;
      try {
        journal = JSON.parse(await readFile(path.join(this.journalDir, name), "utf8")) as RewindJournal;
        assertTaskId(journal.taskId);
        assertSha(journal.target, "rewind target");
        assertMakimaRef(journal.safetyRef, "safety", journal.taskId);
      } catch {
        continue;
      }
      const outcome = await this.locked(journal.taskId, async (): Promise<RecoveredRewind["outcome"]> => {
        const dir = await this.dirFor(journal.taskId);
        if (journal.step === "rolling_back") {
          await this.restore(dir, journal.taskId, journal.safetyRef);
          return { success: false, error: `the rewind failed (${journal.error ?? "daemon stopped"}) and was rolled back to ${journal.safetyRef}` };
        }
        if (journal.step !== "done") await this.resetTo(dir, journal.taskId, journal.target);
        const message = `${journal.message ?? `Rewound to ${journal.target.slice(0, 12)}; previous state saved as ${journal.safetyRef}`} (completed after the daemon restarted)`;
        return { success: true, message, safetyRef: journal.safetyRef, ...(journal.preservedAs ? { preservedAs: journal.preservedAs } : {}) };
      }).catch((error: Error): RecoveredRewind["outcome"] => ({ success: false, error: `the interrupted rewind could not be finished: ${error.message}` }));
      recovered.push({ journal, outcome });
    }
    return recovered;
  }

  /**
   * Put the worktree back exactly as it was when `safetyRef` was saved: same
   * branch at the same commit (or detached HEAD), same tracked, modified and
   * untracked file contents, and the same staged/unstaged split. The index
   * comes back exactly when it could be saved as a tree; when it held
   * unmerged entries (a conflict), every change comes back unstaged instead
   * (`indexRestored: false`). The state being replaced gets its own safety
   * ref first.
   */
  async undoRewind(taskId: string, safetyRef: string): Promise<UndoOutcome> {
    assertTaskId(taskId);
    assertMakimaRef(safetyRef, "safety", taskId);
    return this.locked(taskId, async () => {
      await this.refuseIfRunning(taskId);
      return this.restore(await this.dirFor(taskId), taskId, safetyRef);
    });
  }

  /** The worktree back to a safety ref (see undoRewind); the caller holds the task's lock. */
  private async restore(dir: string, taskId: string, safetyRef: string): Promise<UndoOutcome> {
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

    const undoSafety = await this.writeSafetyRef(dir, taskId, await snapshot(dir), `before undoing ${safetyRef}`);

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

  // ------------------------------------------------------------ internals

  /** Operations on one task run one at a time. */
  private async locked<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(taskId) ?? Promise.resolve();
    let release!: () => void;
    const mine = previous.then(() => new Promise<void>((r) => (release = r)));
    this.queues.set(taskId, mine);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.queues.get(taskId) === mine) this.queues.delete(taskId);
    }
  }

  private async refuseIfRunning(taskId: string): Promise<void> {
    if (this.isAgentRunning && (await this.isAgentRunning(taskId))) throw new AgentRunningError(taskId);
  }

  private async dirFor(taskId: string): Promise<string> {
    const known = this.paths.get(taskId);
    if (known) return known;
    const candidate = path.join(this.root, taskId);
    if (!(await exists(candidate))) throw new UnknownTaskError(taskId);
    try {
      const real = await realpath(candidate);
      const top = await realpath(await gitOut(["rev-parse", "--show-toplevel"], { cwd: real }));
      if (top !== real) throw new UnknownTaskError(taskId);
      this.paths.set(taskId, real);
      return real;
    } catch (e) {
      if (e instanceof UnknownTaskError) throw e;
      throw new UnknownTaskError(taskId);
    }
  }

  /**
   * Dirty paths (against HEAD) whose content is not what the task left:
   * neither equal to the task-state record nor under a path the agent
   * reported. With no record at all, every dirty path counts as foreign.
   */
  private async foreignChanges(dir: string, taskId: string, snap: Snapshot, taskPaths: string[]): Promise<string[]> {
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

  private async writeTaskState(dir: string, taskId: string, snap: Snapshot): Promise<string> {
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

  /**
   * The snapshot as a commit: tree = full worktree state; parents = HEAD,
   * a commit of the index tree, and the task-state commit of the time, so
   * everything an undo needs stays reachable (and safe from gc) through the
   * ref. The message records what parents cannot say (which is which, the
   * branch).
   */
  private async writeSafetyRef(dir: string, taskId: string, snap: Snapshot, reason: string, name?: string): Promise<string> {
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

  private async stash(dir: string, taskId: string, message: string): Promise<StashOutcome | null> {
    const before = await revParse(dir, "refs/stash");
    await git(["stash", "push", "--include-untracked", "--quiet", "-m", message], { cwd: dir });
    const after = await revParse(dir, "refs/stash");
    if (!after || after === before) return null;
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const reference = `${STASH_REF_PREFIX}/${taskId}/${stamp}-${randomUUID().slice(0, 8)}`;
    await git(["update-ref", "-m", "makima: stash", reference, after, ""], { cwd: dir });
    return { reference, stashRef: "stash@{0}", commitSha: after };
  }
}

// ------------------------------------------------------------ git helpers

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Full SHA of `rev`, or null when it does not resolve. */
async function revParse(cwd: string, rev: string): Promise<string | null> {
  const { stdout, exitCode } = await git(["rev-parse", "--quiet", "--verify", "--end-of-options", rev], {
    cwd,
    okExitCodes: [0, 1, 128],
  });
  return exitCode === 0 ? stdout.trim() : null;
}

async function refExists(cwd: string, ref: string): Promise<boolean> {
  return (await revParse(cwd, ref)) !== null;
}

/** Full SHA of a commit the repository holds, or NotACommitError. */
async function verifyCommit(cwd: string, sha: string): Promise<string> {
  const full = await revParse(cwd, `${sha}^{commit}`);
  if (!full) throw new NotACommitError(sha, cwd);
  return full;
}

async function emptyTree(cwd: string): Promise<string> {
  return gitOut(["hash-object", "-w", "-t", "tree", "--stdin"], { cwd, input: "" });
}

async function commitTree(
  cwd: string,
  tree: string,
  parents: string[],
  message: string,
  identity: Record<string, string>,
): Promise<string> {
  const args = ["commit-tree", "--no-gpg-sign", tree];
  for (const p of parents) args.push("-p", p);
  return gitOut(args, { cwd, env: identity, input: message });
}

/** The user's configured identity when there is one (their work, their name), else the daemon's. */
async function userIdentity(cwd: string): Promise<Record<string, string>> {
  const opts: GitRunOptions = { cwd, okExitCodes: [0, 1] };
  const name = (await git(["config", "--get", "user.name"], opts)).stdout.trim();
  const email = (await git(["config", "--get", "user.email"], opts)).stdout.trim();
  return name && email ? {} : DAEMON_IDENTITY;
}

interface TreeChange {
  path: string;
  blob: string;
  deleted: boolean;
}

/** Paths that differ between two trees, with the blob on the `b` side. */
async function diffTrees(cwd: string, a: string, b: string): Promise<TreeChange[]> {
  if (a === b) return [];
  const out = (await git(["diff-tree", "-r", "-z", "--no-renames", "--full-index", a, b], { cwd })).stdout;
  const tokens = out.split("\0");
  const changes: TreeChange[] = [];
  for (let i = 0; i + 1 < tokens.length; i += 2) {
    // ":<mode a> <mode b> <sha a> <sha b> <status>" then the path
    const fields = tokens[i]!.slice(1).split(" ");
    changes.push({ path: tokens[i + 1]!, blob: fields[3] ?? "", deleted: fields[4] === "D" });
  }
  return changes;
}

/**
 * Capture the worktree without changing it or its index: the index is
 * copied to a temporary file, written as a tree (the staged state), then
 * `git add -A` on the copy adds unstaged and untracked files (ignored ones
 * stay out, tracked ones stay in even if they match .gitignore).
 */
async function snapshot(dir: string): Promise<Snapshot> {
  const headSha = await revParse(dir, "HEAD^{commit}");
  const headRefOut = await git(["symbolic-ref", "--quiet", "HEAD"], { cwd: dir, okExitCodes: [0, 1] });
  const headRef = headRefOut.exitCode === 0 ? headRefOut.stdout.trim() : null;
  const headTree = headSha ? (await revParse(dir, `${headSha}^{tree}`))! : await emptyTree(dir);

  const tmp = await mkdtemp(path.join(os.tmpdir(), "makima-index-"));
  try {
    const tmpIndex = path.join(tmp, "index");
    const realIndex = path.resolve(dir, await gitOut(["rev-parse", "--git-path", "index"], { cwd: dir }));
    const env = { GIT_INDEX_FILE: tmpIndex };
    if (await exists(realIndex)) await copyFile(realIndex, tmpIndex);
    else if (headSha) await git(["read-tree", headSha], { cwd: dir, env });
    let indexTree: string | null;
    try {
      indexTree = await gitOut(["write-tree"], { cwd: dir, env });
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
      indexTree = null; // unmerged entries
    }
    await git(["add", "--all"], { cwd: dir, env });
    const tree = await gitOut(["write-tree"], { cwd: dir, env });
    return { headSha, headRef, headTree, tree, indexTree };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `makima/preserved/<taskId>-<n>`: the whole task id, since tasks created the same millisecond share a UUIDv7's first half. */
async function nextPreservedBranch(cwd: string, taskId: string): Promise<string> {
  const out = await gitOut(["for-each-ref", "--format=%(refname:lstrip=2)", `refs/heads/${PRESERVED_BRANCH_PREFIX}/`], { cwd });
  const prefix = `${PRESERVED_BRANCH_PREFIX}/${taskId}-`;
  let n = 0;
  for (const name of out.split("\n")) {
    if (!name.startsWith(prefix)) continue;
    const k = Number(name.slice(prefix.length));
    if (Number.isInteger(k) && k > n) n = k;
  }
  return `${prefix}${n + 1}`;
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
