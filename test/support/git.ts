import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Real git in temporary directories, for the daemon tests. The user's own
 * git configuration must not change the results (default branch, signing,
 * hooks path…).
 */
process.env.GIT_CONFIG_GLOBAL = "/dev/null";
process.env.GIT_CONFIG_NOSYSTEM = "1";

const temps: string[] = [];

export function tempDir(prefix = "makima-test-"): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
}

/** git for the test's own setup and inspection. */
export function g(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "latin1", maxBuffer: 64 * 1024 * 1024 }).replace(/\n$/, "");
}

/** git that may fail: its exit code and output. */
export function gTry(cwd: string, ...args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: g(cwd, ...args) };
  } catch (error) {
    return { code: (error as { status?: number }).status ?? 1, out: String((error as { stdout?: string }).stdout ?? "") };
  }
}

export function initRepo(dir: string, branch = "main"): string {
  mkdirSync(dir, { recursive: true });
  g(dir, "init", "-q", "-b", branch);
  g(dir, "config", "user.name", "Test User");
  g(dir, "config", "user.email", "test@example.com");
  g(dir, "config", "commit.gpgsign", "false");
  return dir;
}

export function write(dir: string, rel: string, content: string | Buffer): void {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
}

export function commitAll(dir: string, message: string): string {
  g(dir, "add", "-A");
  g(dir, "commit", "-q", "-m", message);
  return g(dir, "rev-parse", "HEAD");
}

/** Every file under dir except .git, byte-exact (latin1), symlinks as their target. */
export function listFiles(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (r === ".git") continue;
    const abs = path.join(dir, r);
    if (entry.isSymbolicLink()) out[r] = `symlink -> ${readlinkSync(abs)}`;
    else if (entry.isDirectory()) Object.assign(out, listFiles(dir, r));
    else out[r] = readFileSync(abs, "latin1");
  }
  return out;
}

/** What an undo must bring back: HEAD, branch, files, the staged/unstaged/untracked/ignored split, index entries. */
export function captureState(dir: string) {
  let branch: string | null;
  try {
    branch = execFileSync("git", ["symbolic-ref", "-q", "HEAD"], { cwd: dir, encoding: "utf8" }).trim();
  } catch {
    branch = null;
  }
  return {
    head: g(dir, "rev-parse", "HEAD"),
    branch,
    files: listFiles(dir),
    status: g(dir, "status", "--porcelain=v1", "--untracked-files=all", "--ignored").split("\n").filter(Boolean).sort(),
    index: g(dir, "ls-files", "--stage"),
  };
}
