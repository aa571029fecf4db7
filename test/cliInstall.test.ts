/**
 * The CLI as a user meets it: installed as docs/cli.md says into a scratch
 * npm prefix, run from a scratch git repository outside this one with no
 * MAKIMA_* variables (settings come from the `local` profile `npm start`
 * registers), against the local stack and a daemon started with --repo on
 * that repository: fork, diff and rewind work on the project's own commits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startCliStack, runProcess, type CliStack, type CliResult } from "./support/cli.js";
import { waitFor } from "./support/relay.js";
import { registerLocalProfile } from "../stacks/local/startSupport.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

let s: CliStack;
let scratch: string;
let home: string;
let repo: string;
let prefix: string;
let daemon: ChildProcess | undefined;
let daemonLog = "";

/** Only what any shell has: PATH (with the prefix's bin) and HOME. */
function userEnv(): Record<string, string | undefined> {
  return { PATH: `${join(prefix, "bin")}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: home, TZ: undefined, NO_COLOR: undefined, XDG_CONFIG_HOME: undefined };
}

function makima(args: string[], input?: string): Promise<CliResult> {
  return runProcess(join(prefix, "bin", "makima"), args, userEnv(), { cwd: repo, input, timeoutMs: 120_000 });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await makima(args, input);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
  return r.stdout;
}

const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8", env: { PATH: process.env.PATH, HOME: home } }).trim();

/** waitFor, with the daemon's log when it times out. */
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 90_000) =>
  waitFor(check, ms, what).catch((error: Error) => {
    throw new Error(`${error.message}; daemon log:\n${daemonLog}`);
  });

beforeAll(async () => {
  // `npm install` in the clone builds the CLI (its prepare script; here the tests' global setup did, once,
  // since a rebuild would pull dist/cli from under the other test files' runs); then `npm install -g .` puts it on the PATH.
  scratch = mkdtempSync(join(tmpdir(), "makima-install-"));
  home = join(scratch, "home");
  prefix = join(scratch, "prefix");
  repo = join(scratch, "project");
  mkdirSync(home);
  writeFileSync(join(home, ".gitconfig"), "[user]\n\tname = You\n\temail = you@example.com\n[init]\n\tdefaultBranch = main\n");
  execFileSync("npm", ["install", "-g", ROOT, "--prefix", prefix, "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: scratch, env: { ...process.env, HOME: home } });
  s = await startCliStack();
  // What `npm start` does for the CLI: the stack as the `local` profile of the user's config.
  registerLocalProfile({ apiUrl: s.stack.apiUrl, apiKey: s.apiKey, wsUrl: s.stack.wsUrl, daemonKey: s.daemonKey }, join(home, ".config", "makima", "config.json"));
  mkdirSync(repo);
  git("init", "-q");
  writeFileSync(join(repo, "router.ts"), "export const routes = [];\n");
  git("add", "-A");
  git("commit", "-q", "-m", "router");
  writeFileSync(join(repo, "login.ts"), "export const login = () => {};\n");
  git("add", "-A");
  git("commit", "-q", "-m", "login");
}, 240_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    daemon.kill("SIGINT");
    await until("the daemon to stop", () => daemon!.exitCode !== null, 20_000).catch(() => daemon!.kill("SIGKILL"));
  }
  await s?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("makima installed into a prefix, used from your own repository", () => {
  it("tells the story: checkpoints of your commits, their diff, a fork and a rewind, with no variables", async () => {
    expect(await ok(["--version"])).toMatch(/^\d+\.\d+\.\d+\n$/);
    daemon = spawn(join(prefix, "bin", "makima"), ["daemon", "--repo", repo], { cwd: repo, env: userEnv() as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (d: Buffer) => (daemonLog += d.toString()));
    daemon.stderr!.on("data", (d: Buffer) => (daemonLog += d.toString()));
    await until("the daemon to connect", () => daemonLog.includes("connected to"));
    expect(daemonLog).toContain(`Tasks work in worktrees of ${repo}`);

    const contractId = (await ok(["contract", "create", "--name", "login page", "--format", "id"])).trim();
    await ok(["config", "set", "contract", contractId]);
    const taskId = (await ok(["task", "create", "--name", "build login", "--plan", "add a login page", "--format", "id"])).trim();
    const short = taskId.slice(-8);
    await ok(["task", "append", short], '{"role":"user","content":"Add a login page."}\n{"role":"assistant","content":"Done: /login added."}\n');
    const [first, second] = [git("rev-parse", "HEAD~1"), git("rev-parse", "HEAD")];
    await ok(["checkpoint", "create", short, "--commit", first!, "--branch", "main", "--message", "router"]);
    await ok(["checkpoint", "create", short, "--commit", second!, "--branch", "main", "--message", "login page"]);

    expect(await ok(["task", "list"])).toContain(short);
    expect(await ok(["checkpoint", "list", short, "--json", "checkpointNumber,commitSha"])).toBe(
      JSON.stringify([{ checkpointNumber: 1, commitSha: first }, { checkpointNumber: 2, commitSha: second }], null, 2) + "\n",
    );
    const diff = await ok(["checkpoint", "diff", short, "2"]);
    expect(diff).toContain("login.ts");
    expect(diff).toContain("+export const login = () => {};");

    const fork = await ok(["task", "fork", short, "--checkpoint", "1", "--name", "login, another way", "--plan", "use OAuth"]);
    expect(fork).toMatch(/started on daemon/);
    const forkId = /into task (\S+)/.exec(fork)![1]!;
    const worktrees = git("worktree", "list", "--porcelain");
    const forkTree = new RegExp(`worktree (\\S+/${forkId})\\n`).exec(worktrees)?.[1];
    expect(forkTree).toBeDefined();
    expect(execFileSync("git", ["rev-parse", "HEAD"], { cwd: forkTree!, encoding: "utf8" }).trim()).toBe(first);

    const rewind = await ok(["task", "rewind", short, "--checkpoint", "1"]);
    expect(rewind).toContain("checkpoint 1");
    const taskTree = new RegExp(`worktree (\\S+/${taskId})\\n`).exec(git("worktree", "list", "--porcelain"))?.[1];
    expect(execFileSync("git", ["rev-parse", "HEAD"], { cwd: taskTree!, encoding: "utf8" }).trim()).toBe(first);
    expect(git("branch", "--list", "makima/preserved/*")).toContain(taskId);
    await ok(["task", "restore", short]);
    expect(execFileSync("git", ["rev-parse", "HEAD"], { cwd: taskTree!, encoding: "utf8" }).trim()).toBe(second);

    const timeline = await ok(["timeline", "--since", "1d", "--event-types", "fork,rewind", "--json", "eventType,eventSubtype"]);
    expect(JSON.parse(timeline)).toEqual(expect.arrayContaining([{ eventType: "fork", eventSubtype: "created" }, { eventType: "rewind", eventSubtype: "code" }]));
    // The names of earlier versions still work.
    expect(await ok(["supervisor", "checkpoint-list", taskId])).toContain("login page");
  }, 600_000);
});
