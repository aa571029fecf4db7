/**
 * Names of the refs and branches the daemon writes. Refs live in the task's
 * repository, shared by its linked worktrees, and are named after the task
 * so tasks never collide:
 * - `refs/makima/safety/<taskId>/<stamp>`: the worktree exactly as it was
 *   before a rewind (or an undo); see `writeSafetyRef`.
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
