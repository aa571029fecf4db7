import { badRequest } from "./errors.js";

/**
 * A server-side check of git's ref-name rules (git check-ref-format), so a
 * bad branch name is a clear 400 before any daemon is asked. The daemon
 * checks again with git itself.
 */
export function branchNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 250) return "must be 1 to 250 characters";
  if (name.startsWith("-")) return "must not start with '-'";
  if (name.startsWith("/") || name.endsWith("/") || name.includes("//")) return "must not start or end with '/' or contain '//'";
  if (name.includes("..")) return "must not contain '..'";
  if (name.includes("@{") || name === "@") return "must not contain '@{' or be '@'";
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\";
  if (name.endsWith(".") || name.endsWith(".lock")) return "must not end with '.' or '.lock'";
  if (name.split("/").some((part) => part.startsWith("."))) return "no path component may start with '.'";
  return undefined;
}

export function assertBranchName(name: string, path = "branchName"): void {
  const problem = branchNameProblem(name);
  if (problem) throw badRequest(`branch name "${name}" is not valid: it ${problem}`, path);
}
