/**
 * The README's walkthrough, run as it stands: its shell block, with `makima`
 * on the PATH, in a real git repository, against the local stack. What it
 * leaves behind is then read back through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startCliStack, runProcess, BIN, type CliStack } from "./support/cli.js";

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "Walk", GIT_AUTHOR_EMAIL: "walk@example.com", GIT_COMMITTER_NAME: "Walk", GIT_COMMITTER_EMAIL: "walk@example.com" };

/** The shell block right after `<!-- walkthrough -->` in the README. */
function walkthroughBlock(): string {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const match = /<!-- walkthrough -->\n```sh\n([\s\S]*?)\n```/.exec(readme);
  if (!match?.[1]) throw new Error("the README has no walkthrough block");
  return match[1];
}

let s: CliStack;

beforeAll(async () => {
  s = await startCliStack();
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

describe("the README's walkthrough", () => {
  it("runs with the CLI alone and leaves the story it tells", async () => {
    const repo = join(s.cwd, "project");
    mkdirSync(repo);
    const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8", env: { ...process.env, ...GIT_ENV } }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "router.ts"), "export const routes = [];\n");
    git("add", "-A");
    git("commit", "-q", "-m", "router");
    const head = git("rev-parse", "HEAD");

    const bin = join(s.cwd, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "makima"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, "makima"), 0o755);

    const script = `set -euo pipefail\n${walkthroughBlock()}\nprintf 'CONTRACT=%s\\nTASK=%s\\n' "$CONTRACT" "$TASK"\n`;
    const run = await runProcess("bash", ["-c", script], { ...s.env, ...GIT_ENV, PATH: `${bin}:${process.env.PATH}` }, { cwd: repo, timeoutMs: 240_000 });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);

    const ids = Object.fromEntries(run.stdout.split("\n").filter((l) => /^(CONTRACT|TASK)=/.test(l)).map((l) => l.split("=") as [string, string]));
    const taskId = ids.TASK!;
    const contractId = ids.CONTRACT!;
    expect(run.stdout).toContain(`Appended 2 messages to task ${taskId}: 2 in its conversation.`);
    expect(run.stdout).toContain(`Checkpoint 1 of task ${taskId}: ${head.slice(0, 7)} on main "router"`);
    expect(run.stdout).toContain(`Task ${taskId}: conversation rewound, 2 messages kept, 1 hidden`);
    expect(run.stdout).toContain(`Task ${taskId}: conversation restored`);
    expect(run.stdout).toContain(`is interrupted.`);

    const task = await s.api("GET", `/api/v1/mesh/tasks/${taskId}`);
    expect(task.body).toMatchObject({ contractId, name: "login form", messageCount: 3 });
    const conversation = await s.api("GET", `/api/v1/mesh/tasks/${taskId}/conversation`);
    expect(conversation.body.messages.map((m: { id: string }) => m.id)).toEqual(["m1", "m2", "m3"]);
    const checkpoints = await s.api("GET", `/api/v1/mesh/tasks/${taskId}/checkpoints`);
    expect(checkpoints.body.items).toMatchObject([{ checkpointNumber: 1, commitSha: head, branchName: "main", message: "router" }]);
    const forks = await s.api("GET", `/api/v1/mesh/tasks/${taskId}/forks`);
    expect(forks.body.items).toMatchObject([{ name: "login, take two", forkedFromTaskId: taskId, messageCount: 2 }]);
    const history = await s.api("GET", `/api/v1/contracts/${contractId}/history?limit=200`);
    const kinds = history.body.items.map((e: { eventType: string; eventSubtype?: string }) => `${e.eventType}/${e.eventSubtype}`);
    expect(kinds).toEqual(expect.arrayContaining(["phase/contract_created", "task/created", "chat/messages", "rewind/conversation", "rewind/conversation_restored", "task/interrupted"]));
  }, 300_000);
});

describe("the story's commands refuse bad input before sending it", () => {
  it("names the line of a message that is not JSON or not a message (exit 2), and sends nothing", async () => {
    const taskId = (await s.run(["task", "create", "--no-contract", "--name", "t", "--plan", "p", "--format", "id"])).stdout.trim();
    const notJson = await s.run(["task", "append", taskId], { input: '{"role":"user","content":"a"}\n{role: user}\n' });
    expect(notJson).toMatchObject({ code: 2, stderr: expect.stringContaining("stdin line 2 is not JSON") });
    const unknown = await s.run(["task", "append", taskId], { input: '\n{"role":"user","content":"a","colour":"red"}\n' });
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining("stdin line 2:") });
    expect(unknown.stderr).toContain("colour");
    expect((await s.api("GET", `/api/v1/mesh/tasks/${taskId}`)).body.messageCount).toBe(0);
    const sha = await s.run(["checkpoint", "create", taskId, "--commit", "HEAD", "--branch", "main", "--message", "m"]);
    expect(sha).toMatchObject({ code: 2, stderr: expect.stringContaining('--commit "HEAD" is not a commit SHA') });
  }, 120_000);
});
