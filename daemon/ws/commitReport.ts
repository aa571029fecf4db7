import { git, gitOut } from "../worktree/git.js";

const MAX_CHECKPOINT_MESSAGE = 10_000;
const MAX_FILES_LISTED = 500;

/** The commit HEAD names in `cwd`, or null when there is none. */
export async function head(cwd: string): Promise<string | null> {
  const { stdout, exitCode } = await git(["rev-parse", "--quiet", "--verify", "HEAD^{commit}"], { cwd, okExitCodes: [0, 1, 128] });
  return exitCode === 0 ? stdout.trim() : null;
}

/** A commit as a `checkpointCreated` report: message, branch, changed files and line counts. */
export async function checkpointOf(cwd: string, taskId: string, sha: string, fallbackBranch: string) {
  // Three reads of the repository, at once: a commit's report waits on them, and the messages after it too.
  const [shown, branch, numstat] = await Promise.all([
    gitOut(["show", "-s", "--format=%B", sha, "--"], { cwd }),
    git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd, okExitCodes: [0, 1] }),
    gitOut(["diff-tree", "--root", "--no-commit-id", "-r", "--numstat", "--no-renames", "-z", sha], { cwd }),
  ]);
  const message = shown.trim() || "(no commit message)";
  const files: string[] = [];
  let added = 0;
  let removed = 0;
  for (const record of numstat.split("\0")) {
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(record);
    if (!m) continue;
    added += m[1] === "-" ? 0 : Number(m[1]);
    removed += m[2] === "-" ? 0 : Number(m[2]);
    if (files.length < MAX_FILES_LISTED) files.push(m[3]!);
  }
  return {
    type: "checkpointCreated" as const,
    taskId,
    commitSha: sha,
    branchName: (branch.exitCode === 0 ? branch.stdout.trim() : "") || fallbackBranch,
    message: message.slice(0, MAX_CHECKPOINT_MESSAGE),
    filesChanged: files,
    linesAdded: added,
    linesRemoved: removed,
  };
}
