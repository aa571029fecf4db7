import { mkdir, realpath } from "node:fs/promises";
import path from "node:path";
import type { GitDiffInfo } from "../../core/protocol.js";
import { diffCommits } from "./diff.js";
import { AgentRunningError, BranchExistsError, UnknownTaskError, ValidationError, WorktreeExistsError } from "./errors.js";
import { git, gitOut } from "./git.js";
import { RewindJournalDir, type RecoveredRewind, type RewindJournal, type RewindStep } from "./journal.js";
import { diffTrees, emptyTree, exists, refExists, revParse, snapshot, verifyCommit } from "./plumbing.js";
import { stash, type StashOutcome } from "./preserve.js";
import { SAFETY_REF_PREFIX, TASK_BRANCH_PREFIX } from "./refs.js";
import { assertRewindOptions, previewRewindWorktree, recoverRewind, rewindWorktree, type RewindOptions, type RewindOutcome } from "./rewind.js";
import { restoreSafetyRef, writeSafetyRef, type UndoOutcome } from "./safety.js";
import { writeTaskState, type TaskStateFingerprint } from "./task-state.js";
import { worktreeFromRepo } from "./fromRepo.js";
import { assertBranchName, assertMakimaRef, assertSha, assertTaskId } from "./validate.js";

/**
 * The git side of the daemon: one worktree per task, checkpoint diffs, and
 * rewinds that can always be undone. Each operation on a task runs under the
 * task's lock; the refs it writes are named in `refs.ts`, the rewind itself
 * is in `rewind.ts`, its journal in `journal.ts`, safety refs in `safety.ts`.
 */

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
  /** The user's repository (`--repo`): worktrees are `git worktree add`s of it; an unknown task gets one at its HEAD when first needed. */
  repo?: string;
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

export class WorktreeManager {
  readonly root: string;
  /** The user's repository, when the daemon works in one (`--repo`). */
  readonly repo: string | undefined;
  private readonly isAgentRunning: AgentRunningCheck | undefined;
  private readonly journal: RewindJournalDir;
  private readonly paths = new Map<string, string>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(options: WorktreeManagerOptions) {
    this.root = path.resolve(options.root);
    this.repo = options.repo === undefined ? undefined : path.resolve(options.repo);
    this.isAgentRunning = options.isAgentRunning;
    this.journal = new RewindJournalDir(options.journalDir, options.onRewindStep);
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
      // In the user's repository (--repo) the whole id: first 8 characters of UUIDv7s made the same minute are alike.
      const branchName = options.branchName ?? `${TASK_BRANCH_PREFIX}/${this.repo ? taskId : taskId.slice(0, 8)}`;
      await assertBranchName(branchName, source);
      if (await refExists(source, `refs/heads/${branchName}`)) throw new BranchExistsError(branchName);

      await mkdir(this.root, { recursive: true });
      await git(["worktree", "add", "--quiet", "-b", branchName, dest, commit], { cwd: source });
      const real = await realpath(dest);
      this.paths.set(taskId, real);
      // The fresh checkout is the task's starting point.
      await writeTaskState(real, taskId, await snapshot(real));
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

  /** The task's worktree directory; with --repo, made for a task not known yet unless `adopt` is false. */
  async worktreePath(taskId: string, options: { adopt?: boolean } = {}): Promise<string> {
    assertTaskId(taskId);
    return this.dirFor(taskId, options.adopt ?? true);
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
      const ref = await writeTaskState(dir, taskId, snap);
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
      return writeSafetyRef(dir, taskId, await snapshot(dir), "saved on request");
    });
  }

  /** Stash staged, unstaged and untracked changes; null when there is nothing to stash. */
  async stashChanges(taskId: string, message?: string): Promise<StashOutcome | null> {
    assertTaskId(taskId);
    return this.locked(taskId, async () => {
      await this.refuseIfRunning(taskId);
      const dir = await this.dirFor(taskId);
      return stash(dir, taskId, message ?? `makima: changes of task ${taskId}`);
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
    assertRewindOptions(taskId, options);
    return this.locked(taskId, async () => {
      await this.refuseIfRunning(taskId);
      return rewindWorktree(await this.dirFor(taskId), taskId, options, this.journal);
    });
  }

  /** What a rewind to `checkpointSha` would change, nothing changed (under the task's lock, so no rewind runs meanwhile). */
  async previewRewind(taskId: string, checkpointSha: string): Promise<GitDiffInfo> {
    assertTaskId(taskId);
    return this.locked(taskId, async () => previewRewindWorktree(await this.dirFor(taskId), taskId, checkpointSha));
  }

  /** The rewind has been reported: its journal entry goes. */
  async forgetRewind(journal: Pick<RewindJournal, "taskId" | "requestId"> | undefined): Promise<void> {
    await this.journal.forget(journal);
  }

  /**
   * Rewinds a previous run of the daemon left in its journal: completed (the
   * safety ref was saved, so moving on is safe), or put back from the safety
   * ref when it was rolling back. Each comes with its outcome, to report
   * under the command's request id; `forgetRewind` once reported.
   */
  async recoverRewinds(): Promise<RecoveredRewind[]> {
    const recovered: RecoveredRewind[] = [];
    for await (const journal of this.journal.entries()) {
      const outcome = await this.locked(journal.taskId, async (): Promise<RecoveredRewind["outcome"]> =>
        recoverRewind(await this.dirFor(journal.taskId), journal),
      ).catch((error: Error): RecoveredRewind["outcome"] => ({ success: false, error: `the interrupted rewind could not be finished: ${error.message}` }));
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
      return restoreSafetyRef(await this.dirFor(taskId), taskId, safetyRef);
    });
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

  private async dirFor(taskId: string, adopt = true): Promise<string> {
    const known = this.paths.get(taskId);
    if (known) return known;
    const candidate = path.join(this.root, taskId);
    if (!(await exists(candidate))) {
      if (!this.repo || !adopt) throw new UnknownTaskError(taskId);
      // No lock taken here: callers may hold the task's.
      const real = await worktreeFromRepo(this.repo, this.root, taskId, candidate, "HEAD");
      this.paths.set(taskId, real);
      return real;
      throw new UnknownTaskError(taskId);
    }
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
}
