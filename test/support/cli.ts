import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalStack, type LocalStack, type LocalStackOptions } from "../../stacks/local/stack.js";
import { createApiKey, createOwner } from "../../core/store/owners.js";

/**
 * The local stack in this process (in memory, free ports) with an owner and
 * its keys, plus the `makima` CLI run as a real child process against it.
 */

export const BIN = fileURLToPath(new URL("../../daemon/cli/bin.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Added to (or, with undefined values, removed from) the child's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

export interface CliStack {
  stack: LocalStack;
  ownerId: string;
  apiKey: string;
  daemonKey: string;
  /** A working directory with no .makima/local.json above it. */
  cwd: string;
  /** XDG_CONFIG_HOME of every run: empty, so no user config of the machine's is read. */
  configHome: string;
  api(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }>;
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  /** What `run` puts in the environment: the stack's URL and the owner's key. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Runs `node daemon/cli/bin.js …` asynchronously: the API answering it lives in
 * this same process, so a synchronous spawn would deadlock.
 */
/** The CLI's config folder in tests unless a test names one: nothing in it, so no user's profile leaks in. */
export const EMPTY_CONFIG_HOME = join(tmpdir(), "makima-cli-no-config");

export function runCli(args: string[], env: Record<string, string | undefined>, options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], env, options);
}

/** Any program (e.g. `script`, to give the CLI a terminal) with the CLI's clean environment. */
export function runProcess(file: string, args: string[], env: Record<string, string | undefined>, options: RunOptions = {}): Promise<CliResult> {
  const childEnv: Record<string, string> = {};
  // A clean environment: nothing of the developer's MAKIMA_* or colour settings leaks in.
  for (const name of ["PATH", "HOME", "TMPDIR", "SYSTEMROOT"]) if (process.env[name]) childEnv[name] = process.env[name]!;
  Object.assign(childEnv, { TZ: "UTC", NO_COLOR: "1", XDG_CONFIG_HOME: EMPTY_CONFIG_HOME });
  for (const [k, v] of Object.entries({ ...env, ...options.env })) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: childEnv, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

export async function startCliStack(options: LocalStackOptions = {}): Promise<CliStack> {
  const stack = await startLocalStack(options);
  const { db } = stack.runtime;
  const owner = await createOwner(db, "cli-test");
  const apiKey = (await createApiKey(db, owner.id, { kind: "api", name: "cli test" })).key;
  const daemonKey = (await createApiKey(db, owner.id, { kind: "daemon", name: "cli test" })).key;
  const cwd = mkdtempSync(join(tmpdir(), "makima-cli-"));

  async function api(method: string, path: string, body?: unknown, key = apiKey) {
    const res = await fetch(stack.apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  return {
    stack,
    ownerId: owner.id,
    apiKey,
    daemonKey,
    cwd,
    configHome: EMPTY_CONFIG_HOME,
    api,
    env: { MAKIMA_API_URL: stack.apiUrl, MAKIMA_API_KEY: apiKey },
    run: (args, runOptions = {}) => runCli(args, { MAKIMA_API_URL: stack.apiUrl, MAKIMA_API_KEY: apiKey }, { cwd, ...runOptions }),
    async stop() {
      await stack.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** `makima daemon --root <root>` run as a user runs it, against the stack. */
export interface CliDaemon {
  process: ChildProcess;
  /** Everything it printed so far (for a test's message when it times out). */
  output(): string;
  /** Killed, if it still runs. */
  stop(): Promise<void>;
}

export function startCliDaemon(s: CliStack, root: string): CliDaemon {
  const child = spawn(process.execPath, [BIN, "daemon", "--root", root], {
    cwd: s.cwd,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, NO_COLOR: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", MAKIMA_WS_URL: s.stack.wsUrl, MAKIMA_DAEMON_KEY: s.daemonKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  return {
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = new Promise((r) => child.once("close", r));
      child.kill("SIGKILL");
      await closed;
    },
  };
}
