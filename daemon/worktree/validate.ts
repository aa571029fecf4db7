import { lstat, realpath } from "node:fs/promises";
import path from "node:path";
import { GitError, ValidationError } from "./errors.js";
import { git } from "./git.js";

/**
 * Everything the server or an agent tells the daemon is checked here before
 * it reaches git or the file system.
 */

const SHA = /^[0-9a-f]{7,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lowercase hex object name, 7 to 64 digits (abbreviated, SHA-1 or SHA-256). */
export function assertSha(sha: unknown, field = "commit SHA"): asserts sha is string {
  if (typeof sha !== "string" || !SHA.test(sha)) {
    throw new ValidationError(field, sha, "expected 7 to 64 lowercase hex digits");
  }
}

/** Task ids are lowercase UUIDs; they name directories and refs. */
export function assertTaskId(taskId: unknown): asserts taskId is string {
  if (typeof taskId !== "string" || !UUID.test(taskId)) {
    throw new ValidationError("task id", taskId, "expected a lowercase UUID");
  }
}

/**
 * A name `git branch <name>` accepts as a new branch, as judged by
 * `git check-ref-format --branch`.
 */
export async function assertBranchName(name: unknown, cwd: string): Promise<string> {
  if (typeof name !== "string" || name.length === 0) {
    throw new ValidationError("branch name", name, "expected a non-empty string");
  }
  if (name.length > 250) throw new ValidationError("branch name", name, "longer than 250 characters");
  // Would be read as an option by git commands that take the name later.
  if (name.startsWith("-")) throw new ValidationError("branch name", name, "must not start with '-'");
  // check-ref-format --branch lets "@" through, but git reads it as HEAD.
  if (name === "@") throw new ValidationError("branch name", name, "'@' means HEAD");
  let out: string;
  try {
    out = (await git(["check-ref-format", "--branch", name], { cwd })).stdout.replace(/\n$/, "");
  } catch (e) {
    if (e instanceof GitError && e.exitCode !== null) {
      throw new ValidationError("branch name", name, "not a valid git branch name (git check-ref-format)");
    }
    throw e;
  }
  // --branch expands "@{-1}"-style names to another branch; only take the name as given.
  if (out !== name) throw new ValidationError("branch name", name, `git reads it as ${JSON.stringify(out)}`);
  return name;
}

/** A ref under `refs/makima/<kind>/<taskId>/`, as this module creates them. */
export function assertMakimaRef(ref: unknown, kind: "safety" | "stash", taskId: string): asserts ref is string {
  const prefix = `refs/makima/${kind}/${taskId}/`;
  if (typeof ref !== "string" || !ref.startsWith(prefix)) {
    throw new ValidationError(`${kind} ref`, ref, `expected a ref under ${prefix}`);
  }
  const leaf = ref.slice(prefix.length);
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(leaf) || leaf.includes("..") || leaf.endsWith(".lock")) {
    throw new ValidationError(`${kind} ref`, ref, "malformed ref name");
  }
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

/**
 * The absolute path of `p` (relative to `root`, or absolute) if it stays
 * inside `root`: no `..` segment, no `.git` segment, no absolute path
 * elsewhere, and no existing symlink on the way that leads out of `root`.
 * Paths that do not exist yet are allowed (their existing ancestors are
 * checked).
 */
export async function resolveInside(root: string, p: unknown): Promise<string> {
  if (typeof p !== "string" || p.length === 0) throw new ValidationError("path", p, "expected a non-empty string");
  if (p.includes("\0")) throw new ValidationError("path", p, "contains a NUL byte");
  // Backslashes count as separators too: they are on Windows, and refusing
  // "..\\" everywhere costs nothing.
  const segments = p.split(/[\\/]+/);
  if (segments.includes("..")) throw new ValidationError("path", p, "must not contain '..'");
  if (segments.some((s) => s.toLowerCase() === ".git")) {
    throw new ValidationError("path", p, "must not point into .git");
  }
  const absRoot = path.resolve(root);
  const abs = path.isAbsolute(p) ? path.resolve(p) : path.resolve(absRoot, p);
  if (!isInside(absRoot, abs)) throw new ValidationError("path", p, `is outside the worktree ${absRoot}`);

  // Walk down from the root: every component that exists must resolve
  // (through any symlink) to a place inside the real root.
  const realRoot = await realpath(absRoot);
  let current = absRoot;
  for (const part of path.relative(absRoot, abs).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    try {
      await lstat(current);
    } catch {
      break; // not there yet: nothing below it can be a symlink
    }
    let real: string;
    try {
      real = await realpath(current);
    } catch {
      throw new ValidationError("path", p, `${path.relative(absRoot, current)} is a dangling symlink`);
    }
    if (!isInside(realRoot, real)) {
      throw new ValidationError("path", p, `${path.relative(absRoot, current)} is a symlink leading out of the worktree`);
    }
  }
  return abs;
}

/** `p` as a repository path (relative, forward slashes) after `resolveInside`. */
export async function toRepoPath(root: string, p: unknown): Promise<string> {
  const abs = await resolveInside(root, p);
  return path.relative(path.resolve(root), abs).split(path.sep).join("/");
}
