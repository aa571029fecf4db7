import { copyFile, lstat, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { GitError, NotACommitError } from "./errors.js";
import { DAEMON_IDENTITY, git, gitOut, type GitRunOptions } from "./git.js";

/**
 * Git plumbing the worktree operations are built from: resolving revisions,
 * writing commits, comparing trees, and capturing a worktree's full state
 * without touching it.
 */

/** The full state of a worktree, captured without touching it. */
export interface Snapshot {
  headSha: string | null;
  /** Full ref HEAD points to (`refs/heads/x`), null when detached. */
  headRef: string | null;
  headTree: string;
  /** HEAD + staged + unstaged + untracked (not ignored) files. */
  tree: string;
  /** The index as a tree; null when it cannot be one (unmerged entries). */
  indexTree: string | null;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Full SHA of `rev`, or null when it does not resolve. */
export async function revParse(cwd: string, rev: string): Promise<string | null> {
  const { stdout, exitCode } = await git(["rev-parse", "--quiet", "--verify", "--end-of-options", rev], {
    cwd,
    okExitCodes: [0, 1, 128],
  });
  return exitCode === 0 ? stdout.trim() : null;
}

export async function refExists(cwd: string, ref: string): Promise<boolean> {
  return (await revParse(cwd, ref)) !== null;
}

/** Full SHA of a commit the repository holds, or NotACommitError. */
export async function verifyCommit(cwd: string, sha: string): Promise<string> {
  const full = await revParse(cwd, `${sha}^{commit}`);
  if (!full) throw new NotACommitError(sha, cwd);
  return full;
}

export async function emptyTree(cwd: string): Promise<string> {
  return gitOut(["hash-object", "-w", "-t", "tree", "--stdin"], { cwd, input: "" });
}

export async function commitTree(
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
export async function userIdentity(cwd: string): Promise<Record<string, string>> {
  const opts: GitRunOptions = { cwd, okExitCodes: [0, 1] };
  const name = (await git(["config", "--get", "user.name"], opts)).stdout.trim();
  const email = (await git(["config", "--get", "user.email"], opts)).stdout.trim();
  return name && email ? {} : DAEMON_IDENTITY;
}

export interface TreeChange {
  path: string;
  blob: string;
  deleted: boolean;
}

/** Paths that differ between two trees, with the blob on the `b` side. */
export async function diffTrees(cwd: string, a: string, b: string): Promise<TreeChange[]> {
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
export async function snapshot(dir: string): Promise<Snapshot> {
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
