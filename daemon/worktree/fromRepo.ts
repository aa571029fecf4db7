import { mkdir, realpath } from "node:fs/promises";
import { git } from "./git.js";
import { refExists, snapshot, verifyCommit } from "./plumbing.js";
import { TASK_BRANCH_PREFIX } from "./refs.js";
import { writeTaskState } from "./task-state.js";
import { assertBranchName } from "./validate.js";

/**
 * A task's worktree as a `git worktree add` of the user's repository
 * (`makima daemon --repo`): on the task's branch (`makima/task/<its id>`
 * unless named), made at `commit` if the branch is new, or the
 * branch as it is if the repository already has it. Its starting state is
 * recorded as the task's own (task-state.ts). Resolves to its real path.
 */
export async function worktreeFromRepo(repo: string, root: string, taskId: string, dest: string, commit: string, branch?: string): Promise<string> {
  const sha = await verifyCommit(repo, commit);
  // The whole id: in a shared repository, the first 8 characters of UUIDv7s made the same minute are alike.
  const branchName = branch ?? `${TASK_BRANCH_PREFIX}/${taskId}`;
  await assertBranchName(branchName, repo);
  await mkdir(root, { recursive: true });
  const args = (await refExists(repo, `refs/heads/${branchName}`)) ? [dest, branchName] : ["-b", branchName, dest, sha];
  await git(["worktree", "add", "--quiet", ...args], { cwd: repo });
  const real = await realpath(dest);
  await writeTaskState(real, taskId, await snapshot(real));
  return real;
}
