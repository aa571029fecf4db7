import { spawn } from "node:child_process";
import { GitError } from "./errors.js";

/**
 * Runs git with an argument vector (never a shell string), so nothing the
 * server or an agent sends can be interpreted by a shell.
 */

/** Big enough for multi-megabyte diffs; a runaway output still gets cut off. */
const DEFAULT_MAX_BUFFER = 256 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

/** Who the daemon's own commits are by: snapshots only it reads, and the first commit of a task that starts from nothing. */
export const DAEMON_IDENTITY = {
  GIT_AUTHOR_NAME: "Makima daemon",
  GIT_AUTHOR_EMAIL: "daemon@makima.invalid",
  GIT_COMMITTER_NAME: "Makima daemon",
  GIT_COMMITTER_EMAIL: "daemon@makima.invalid",
};

/**
 * Variables that would point git at another repository, index or object
 * store than the `cwd` we pass (e.g. when the daemon is started from a git
 * hook); they are dropped unless a call sets them on purpose.
 */
const REDIRECTING_ENV = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_COMMON_DIR",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_NAMESPACE",
  "GIT_PREFIX",
  "GIT_CEILING_DIRECTORIES",
];

export interface GitRunOptions {
  cwd: string;
  /** Extra variables, on top of the daemon's environment. */
  env?: Record<string, string>;
  /** Written to git's stdin; without it stdin is closed. */
  input?: string | Buffer;
  /** Exit codes that are not failures (default: only 0). */
  okExitCodes?: readonly number[];
  maxBuffer?: number;
  timeoutMs?: number;
}

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function git(args: readonly string[], options: GitRunOptions): Promise<GitResult> {
  const maxBuffer = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const okExitCodes = options.okExitCodes ?? [0];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REDIRECTING_ENV) delete env[name];
  Object.assign(env, options.env ?? {}, { GIT_TERMINAL_PROMPT: "0" });

  return new Promise((resolve, reject) => {
    const child = spawn("git", [...args], {
      cwd: options.cwd,
      env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      windowsHide: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let failure: string | undefined;
    let settled = false;

    const stop = (why: string) => {
      if (failure === undefined) failure = why;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => stop(`timed out after ${timeoutMs} ms`), timeoutMs);

    child.stdout!.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxBuffer) stop(`output exceeded ${maxBuffer} bytes`);
      else out.push(chunk);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      // stderr is only for error messages: keep the first 64 KB.
      if (errBytes < 64 * 1024) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new GitError(`git ${args[0] ?? ""} could not start: ${e.message}`, args, options.cwd, null, "", ""));
    });
    child.on("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (failure !== undefined || code === null || !okExitCodes.includes(code)) {
        const why = failure ?? (code === null ? `killed by ${signal}` : `exit code ${code}`);
        const detail = stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" / ")}` : "";
        reject(new GitError(`git ${args[0] ?? ""} failed (${why})${detail}`, args, options.cwd, code, stderr, stdout));
        return;
      }
      resolve({ stdout, stderr, exitCode: code });
    });
    if (options.input !== undefined) {
      // A git that exits before reading all input would raise EPIPE here.
      child.stdin!.on("error", () => {});
      child.stdin!.end(options.input);
    }
  });
}

/** stdout of a successful git command, without its trailing newline. */
export async function gitOut(args: readonly string[], options: GitRunOptions): Promise<string> {
  const { stdout } = await git(args, options);
  return stdout.replace(/\n$/, "");
}
