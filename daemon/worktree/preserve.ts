import { randomUUID } from "node:crypto";
import { git, gitOut } from "./git.js";
import { revParse } from "./plumbing.js";
import { PRESERVED_BRANCH_PREFIX, STASH_REF_PREFIX } from "./refs.js";

/** Where a rewind keeps the work it replaces: a stash under a stable ref, or a numbered preserved branch. */

export interface StashOutcome {
  /** Stable ref to the stash commit (`git stash apply <reference>` works). */
  reference: string;
  /** Its place in `git stash list` when it was made. */
  stashRef: string;
  commitSha: string;
}

export async function stash(dir: string, taskId: string, message: string): Promise<StashOutcome | null> {
  const before = await revParse(dir, "refs/stash");
  await git(["stash", "push", "--include-untracked", "--quiet", "-m", message], { cwd: dir });
  const after = await revParse(dir, "refs/stash");
  if (!after || after === before) return null;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const reference = `${STASH_REF_PREFIX}/${taskId}/${stamp}-${randomUUID().slice(0, 8)}`;
  await git(["update-ref", "-m", "makima: stash", reference, after, ""], { cwd: dir });
  return { reference, stashRef: "stash@{0}", commitSha: after };
}

/** `makima/preserved/<taskId>-<n>`: the whole task id, since tasks created the same millisecond share a UUIDv7's first half. */
export async function nextPreservedBranch(cwd: string, taskId: string): Promise<string> {
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
