/**
 * Typed failures of the worktree module. `code` is stable and meant for the
 * daemon's `error`/reply messages; `message` names the offending value.
 */
export class WorktreeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A git command that failed; `stderr` is git's own explanation. */
export class GitError extends WorktreeError {
  constructor(
    message: string,
    readonly args: readonly string[],
    readonly cwd: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super("git_failed", message);
  }
}

/** An input (SHA, branch name, path, task id, ref) that is refused before git sees it. */
export class ValidationError extends WorktreeError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super("invalid_input", `Invalid ${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

export class NotACommitError extends WorktreeError {
  constructor(
    readonly sha: string,
    readonly repo: string,
  ) {
    super("not_a_commit", `${sha} is not a commit in the repository at ${repo}`);
  }
}

export class UnknownTaskError extends WorktreeError {
  constructor(readonly taskId: string) {
    super("unknown_task", `No worktree for task ${taskId}`);
  }
}

export class AgentRunningError extends WorktreeError {
  constructor(readonly taskId: string) {
    super("agent_running", `The agent of task ${taskId} is running; stop it before changing its worktree`);
  }
}

/** The worktree holds changes the task did not make; `force` overwrites them (they stay in the safety ref). */
export class ForeignChangesError extends WorktreeError {
  constructor(
    readonly taskId: string,
    readonly paths: string[],
  ) {
    super(
      "foreign_changes",
      `The worktree of task ${taskId} has changes the task did not make: ${paths.join(", ")}; use force to overwrite them (they are kept under the safety ref)`,
    );
  }
}

export class BranchExistsError extends WorktreeError {
  constructor(readonly branchName: string) {
    super("branch_exists", `Branch ${JSON.stringify(branchName)} already exists`);
  }
}

export class WorktreeExistsError extends WorktreeError {
  constructor(readonly path: string) {
    super("worktree_exists", `${path} already exists`);
  }
}

/** The safety ref an undo names is not in the repository: the rewind never saved it (it did not get that far), or it was deleted. */
export class SafetyRefMissingError extends WorktreeError {
  constructor(readonly safetyRef: string) {
    super("safety_ref_missing", `${safetyRef} does not exist in the repository: the rewind that was to save it did not get that far, or it was deleted`);
  }
}
