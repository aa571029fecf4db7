import { badRequest } from "./errors.js";

/**
 * A server-side check of a branch name exactly as `git check-ref-format
 * --branch` judges it, so a bad name is a clear 400 before any daemon is
 * asked (the daemon checks again with git itself). Stricter in three ways
 * that git's own answer would hide: a full ref (`refs/…`) is refused rather
 * than nested under refs/heads/, `@` (git's HEAD shorthand) is refused, and
 * so is a string that is not well-formed Unicode (a lone surrogate would
 * reach git as U+FFFD, another name).
 */
export function branchNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 250) return "must be 1 to 250 characters";
  if (!isWellFormed(name)) return "must be well-formed Unicode (no lone surrogates)";
  if (name.startsWith("-")) return "must not start with '-'";
  if (name === "HEAD" || name === "@") return "must not be HEAD or @";
  if (name.startsWith("refs/")) return "must be a branch name, not a full ref (leave out refs/heads/)";
  if (name.startsWith("/") || name.endsWith("/") || name.includes("//")) return "must not start or end with '/' or contain '//'";
  if (name.includes("..")) return "must not contain '..'";
  if (name.includes("@{")) return "must not contain '@{'";
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\";
  if (name.endsWith(".")) return "must not end with '.'";
  for (const part of name.split("/")) {
    if (part.startsWith(".")) return "no path component may start with '.'";
    if (part.endsWith(".lock")) return "no path component may end with '.lock'";
  }
  return undefined;
}

function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

export function assertBranchName(name: string, path = "branchName"): void {
  const problem = branchNameProblem(name);
  if (problem) throw badRequest(`branch name "${name}" is not valid: it ${problem}`, path);
}
