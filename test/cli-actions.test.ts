/**
 * The `makima` CLI's commands that change things (resume, rewind, fork,
 * keys, daemon), each run as a real process against the local stack in this
 * process. First a stand-in daemon on the stack's WebSocket gateway answers
 * the relayed commands, exactly as told (failures, slowness); the relay
 * waits only 300 ms, so a slower answer makes the API reply 202 and the CLI
 * follow the operation to its end. Then the real daemon, started with
 * `makima daemon` on a real git repository, does the README's walkthrough.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCliDaemon, startCliStack, runProcess, BIN, type CliDaemon, type CliStack } from "./support/cli.js";
import { waitFor } from "./support/relay.js";
import { injectFaults, throttled } from "./support/faults.js";
import { startFakeDaemon, type FakeDaemon, type Reply } from "./support/fakeDaemon.js";
import type { DaemonCommand } from "../core/protocol.js";

let s: CliStack;
let daemon: FakeDaemon;
let contractId: string;
let supervisorId: string;
let taskId: string;
let checkpoints: any[];
let supervisorCheckpoint: any;

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
const lines = (text: string) => text.replace(/\n$/, "").split("\n");
const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const HAS_DAEMON = existsSync(new URL("../daemon/daemon.ts", import.meta.url));
// The user's own git configuration must not change what the daemon does.
const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const g = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, ...GIT_ENV } }).trim();

/** `script` (util-linux) runs the CLI on a pseudo-terminal, the way a person would. */
const HAS_SCRIPT = process.platform === "linux" && existsSync("/usr/bin/script");

const DIFF = {
  files: [
    { path: "src/login.ts", action: "added", additions: 2, deletions: 0, hunks: [{ header: "@@ -0,0 +1,2 @@", lines: ["+export const login = () => {", "+};"] }] },
    {
      path: "src/router.ts",
      action: "modified",
      additions: 1,
      deletions: 1,
      hunks: [{ header: "@@ -1,2 +1,2 @@", lines: [" import { login } from './login';", "-export const routes = [];", "+export const routes = [login];"] }],
    },
  ],
  stats: { filesChanged: 2, insertions: 3, deletions: 1 },
};

/** How the stand-in daemon answers, per command type; tests swap entries. */
let answers: Partial<Record<DaemonCommand["type"], (c: any) => { reply?: Reply; delayMs?: number } | undefined>>;

function defaultAnswers(): typeof answers {
  return {
    getCheckpointDiff: (c) => ({ reply: { type: "checkpointDiffResult", taskId: c.taskId, success: true, diff: DIFF } }),
    rewindToCheckpoint: (c) => ({
      reply: {
        type: "rewindResult",
        taskId: c.taskId,
        success: true,
        message: "rewound",
        preservedAs:
          c.preserveMode === "create_branch"
            ? { type: "branch", reference: c.branchName ?? "makima/preserved/abcd1234-1" }
            : c.preserveMode === "stash"
              ? { type: "stash", reference: "refs/makima/stash/x/1" }
              : undefined,
        safetyRef: `refs/makima/safety/${c.taskId}/1`,
      },
    }),
    undoRewind: (c) => ({ reply: { type: "undoRewindResult", taskId: c.taskId, success: true, restoredFrom: c.safetyRef } }),
    // Spawned tasks are left pending: a running task refuses rewinds.
    spawnTask: () => undefined,
  };
}

const received = (type: DaemonCommand["type"]) => daemon.commands.filter((c) => c.type === type) as any[];

beforeAll(async () => {
  s = await startCliStack({ config: { relayWaitMs: 300, relayTimeoutMs: 20_000 } });
  answers = defaultAnswers();
  daemon = await startFakeDaemon(s.stack.wsUrl, s.daemonKey, (command) => answers[command.type]?.(command));
  for (let i = 0; i < 50 && (await s.api("GET", "/api/v1/daemons")).body.items.length === 0; i++) await new Promise((r) => setTimeout(r, 50));

  contractId = (await s.api("POST", "/api/v1/contracts", { name: "login page" })).body.id;
  supervisorId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "supervisor", plan: "supervise", contractId, isSupervisor: true })).body.id;
  taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "build login", plan: "build it", contractId })).body.id;
  await s.api("POST", `/api/v1/mesh/tasks/${taskId}/messages`, {
    messages: [1, 2, 3, 4].map((i) => ({ id: `m${i}`, role: i % 2 ? "user" : "assistant", content: `message ${i}`, timestamp: at(i) })),
  });
  for (const [sha, message] of [["a".repeat(40), "router read"], ["b".repeat(40), "login page"]]) {
    await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: sha, branchName: "makima/task/login", message });
  }
  checkpoints = (await s.api("GET", `/api/v1/mesh/tasks/${taskId}/checkpoints`)).body.items;

  // The supervisor's checkpoint comes first, its messages after it, so a
  // conversation rewind keeping any of them finds a checkpoint for the code.
  supervisorCheckpoint = (
    await s.api("POST", `/api/v1/mesh/tasks/${supervisorId}/checkpoints`, { commitSha: "c".repeat(40), branchName: "makima/task/sup", message: "plan written" })
  ).body.checkpoint;
  const t0 = Date.parse(supervisorCheckpoint.createdAt) + 1000;
  await s.api("POST", `/api/v1/mesh/tasks/${supervisorId}/messages`, {
    messages: [1, 2, 3, 4].map((i) => ({ id: `s${i}`, role: i % 2 ? "user" : "assistant", content: `supervisor ${i}`, timestamp: new Date(t0 + i * 1000).toISOString() })),
  });
}, 180_000);

afterAll(async () => {
  await daemon?.close();
  await s?.stop();
});

beforeEach(() => {
  answers = defaultAnswers();
});

describe("makima supervisor checkpoint-diff (with a daemon)", () => {
  const expected = () => [
    `checkpoint 2 bbbbbbb "login page" (compared with aaaaaaa)`,
    " src/login.ts  | 2 ++",
    " src/router.ts | 2 +-",
    " 2 files changed, 3 insertions(+), 1 deletion(-)",
    "",
    "diff --git a/src/login.ts b/src/login.ts",
    "new file",
    "--- /dev/null",
    "+++ b/src/login.ts",
    "@@ -0,0 +1,2 @@",
    "+export const login = () => {",
    "+};",
    "diff --git a/src/router.ts b/src/router.ts",
    "--- a/src/router.ts",
    "+++ b/src/router.ts",
    "@@ -1,2 +1,2 @@",
    " import { login } from './login';",
    "-export const routes = [];",
    "+export const routes = [login];",
  ];

  it("resolves the number to the checkpoint and prints the diff as git does", async () => {
    const r = await s.run(["supervisor", "checkpoint-diff", taskId, "2"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(expected());
    const asked = received("getCheckpointDiff").at(-1);
    expect(asked).toMatchObject({ taskId, checkpointSha: "b".repeat(40), previousSha: "a".repeat(40) });
  });

  it("prints only the summary with --format stat, and the API's answer with --format json", async () => {
    const stat = await s.run(["supervisor", "checkpoint-diff", taskId, "2", "--format", "stat"]);
    expect(lines(stat.stdout)).toEqual(expected().slice(0, 4));
    const json = JSON.parse((await s.run(["supervisor", "checkpoint-diff", taskId, "2", "--format", "json"])).stdout);
    expect(json).toEqual({ taskId, checkpointId: checkpoints[1].id, commitSha: "b".repeat(40), previousSha: "a".repeat(40), ...DIFF });
  });

  it("colours the diff like git when colours are on", async () => {
    const r = await s.run(["supervisor", "checkpoint-diff", taskId, "2"], { env: { NO_COLOR: undefined, FORCE_COLOR: "1" } });
    const out = lines(r.stdout);
    expect(out).toContain("\x1b[32m+export const routes = [login];\x1b[39m");
    expect(out).toContain("\x1b[31m-export const routes = [];\x1b[39m");
    expect(out).toContain("\x1b[36m@@ -1,2 +1,2 @@\x1b[39m");
    expect(out).toContain("\x1b[1mdiff --git a/src/router.ts b/src/router.ts\x1b[22m");
  });

  it("follows the operation when the daemon is slower than the API waits (202)", async () => {
    answers.getCheckpointDiff = (c) => ({ reply: { type: "checkpointDiffResult", taskId: c.taskId, success: true, diff: DIFF }, delayMs: 1200 });
    const raw = await fetch(`${s.stack.apiUrl}/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpoints[1].id}/diff`, { headers: { authorization: `Bearer ${s.apiKey}` } });
    expect(raw.status).toBe(202);
    await raw.text();
    const r = await s.run(["supervisor", "checkpoint-diff", taskId, "2"]);
    expect(r).toEqual({ code: 0, stdout: expected().join("\n") + "\n", stderr: "" });
  });

  it.skipIf(!HAS_SCRIPT)("spins on a terminal while it waits, then clears the spinner line", async () => {
    answers.getCheckpointDiff = (c) => ({ reply: { type: "checkpointDiffResult", taskId: c.taskId, success: true, diff: DIFF }, delayMs: 3000 });
    const command = `${process.execPath} ${BIN} supervisor checkpoint-diff ${taskId} 2 --format stat`;
    const r = await runProcess("/usr/bin/script", ["-qec", command, "/dev/null"], s.env, { cwd: s.cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\r\x1b[2K⠋ asking the daemon for the diff of checkpoint 2…");
    expect(r.stdout).toMatch(/\r\x1b\[2K⠙ (asking the daemon|waiting for the daemon \(operation [0-9a-f]{8}\))…/);
    // The last spinner frame is wiped before the answer is printed.
    const answer = r.stdout.slice(r.stdout.lastIndexOf("\r\x1b[2K") + "\r\x1b[2K".length).replace(/\r/g, "");
    expect(answer).toBe(expected().slice(0, 4).join("\n") + "\n");
  });

  it("adds each diff's stats to the checkpoint list with --with-diff", async () => {
    const json = JSON.parse((await s.run(["supervisor", "checkpoint-list", taskId, "--with-diff", "--format", "json"])).stdout);
    expect(json).toEqual({ taskId, items: checkpoints.map((c) => ({ ...c, diffStats: DIFF.stats })) });
  });

  it("reports the daemon's failure in one line, exit 1", async () => {
    answers.getCheckpointDiff = (c) => ({ reply: { type: "checkpointDiffResult", taskId: c.taskId, success: false, error: "fatal: bad object bbbbbbb" } });
    expect(await s.run(["supervisor", "checkpoint-diff", taskId, "2"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: the daemon failed: fatal: bad object bbbbbbb [502 daemon_error]\n",
    });
    answers.getCheckpointDiff = (c) => ({ reply: { type: "checkpointDiffResult", taskId: c.taskId, success: false, error: "fatal: bad object bbbbbbb" }, delayMs: 800 });
    expect(await s.run(["supervisor", "checkpoint-diff", taskId, "2"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: the daemon failed: fatal: bad object bbbbbbb [502 daemon_error]\n",
    });
  });
});

describe("makima supervisor task-rewind and undo-rewind", () => {
  it("keeps the work on a branch by default, says where and how to undo", async () => {
    const r = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      `Rewound task ${taskId} to checkpoint 1 (aaaaaaa "router read").`,
      "Work kept on branch makima/preserved/abcd1234-1 (git switch makima/preserved/abcd1234-1 to see it).",
      `Safety ref refs/makima/safety/${taskId}/1: \`makima task restore ${taskId}\` puts everything back.`,
    ]);
    expect(received("rewindToCheckpoint").at(-1)).toMatchObject({ taskId, checkpointSha: "a".repeat(40), preserveMode: "create_branch" });
  });

  it("passes --branch-name and prints the API's answer with --format json", async () => {
    const r = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "2", "--branch-name", "keep/this", "--format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      taskId,
      rewindId: expect.any(String),
      checkpoint: checkpoints[1],
      preservedAs: { type: "branch", reference: "keep/this" },
      safetyRef: `refs/makima/safety/${taskId}/1`,
    });
    expect(received("rewindToCheckpoint").at(-1)).toMatchObject({ branchName: "keep/this", checkpointSha: "b".repeat(40) });
  });

  it("keeps the work in a stash with --preserve stash", async () => {
    const r = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1", "--preserve", "stash"]);
    expect(lines(r.stdout)[1]).toBe("Work kept in stash refs/makima/stash/x/1 (git stash apply refs/makima/stash/x/1).");
  });

  it("asks before discarding work; without a terminal it needs --yes (exit 2, nothing sent)", async () => {
    const before = received("rewindToCheckpoint").length;
    const r = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1", "--preserve", "discard"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual([
      `Rewinding task ${taskId} to checkpoint 1 (aaaaaaa "router read").`,
      "The work after it is discarded from the worktree (no branch, no stash).",
      `Everything (commits, uncommitted and untracked files) is first saved under a safety ref: \`makima task restore ${taskId}\` brings it back until retention removes it.`,
      "makima: this discards work and there is no terminal to confirm on: pass --yes to go ahead",
    ]);
    expect(received("rewindToCheckpoint")).toHaveLength(before);

    const yes = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1", "--preserve", "discard", "--yes", "--format", "json"]);
    expect(yes.code).toBe(0);
    expect(JSON.parse(yes.stdout)).toEqual({ taskId, rewindId: expect.any(String), checkpoint: checkpoints[0], safetyRef: `refs/makima/safety/${taskId}/1` });
    expect(received("rewindToCheckpoint").at(-1)).toMatchObject({ preserveMode: "discard" });
  });

  it.skipIf(!HAS_SCRIPT)("asks on a terminal: no cancels, yes goes ahead", async () => {
    const inTerminal = async (answer: string) => {
      const command = `${process.execPath} ${BIN} supervisor task-rewind ${taskId} --checkpoint 1 --preserve discard`;
      const r = await runProcess("/usr/bin/script", ["-qec", command, "/dev/null"], s.env, { cwd: s.cwd, input: answer });
      // What a terminal shows, without its control sequences.
      return { code: r.code, screen: r.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r/g, "") };
    };
    const before = received("rewindToCheckpoint").length;
    const no = await inTerminal("n\n");
    expect(no.code).toBe(1);
    expect(no.screen).toContain("The work after it is discarded from the worktree (no branch, no stash).");
    expect(no.screen).toContain("Rewind? [y/N] n\n");
    expect(no.screen).toContain("makima: cancelled: nothing changed\n");
    expect(received("rewindToCheckpoint")).toHaveLength(before);

    const yes = await inTerminal("y\n");
    expect(yes.code).toBe(0);
    expect(yes.screen).toContain(`Rewound task ${taskId} to checkpoint 1 (aaaaaaa "router read").\nWork after the checkpoint was discarded from the worktree.\n`);
    expect(received("rewindToCheckpoint")).toHaveLength(before + 1);
  });

  it("refuses a running task with the server's reason (exit 1)", async () => {
    const running = (await s.api("POST", "/api/v1/mesh/tasks", { name: "busy", plan: "p" })).body.id;
    await s.api("POST", `/api/v1/mesh/tasks/${running}/checkpoints`, { commitSha: "d".repeat(40), branchName: "b", message: "m" });
    await s.api("PATCH", `/api/v1/mesh/tasks/${running}`, { status: "running" });
    expect(await s.run(["supervisor", "task-rewind", running, "--checkpoint", "1"])).toEqual({
      code: 1,
      stdout: "",
      stderr: `makima: task ${running} is running; interrupt it first (\`makima task interrupt ${running}\`) before rewinding it [409 task_running]\n`,
    });
  });

  it("tells how to force past changes the task did not make", async () => {
    answers.rewindToCheckpoint = (c) => ({ reply: { type: "rewindResult", taskId: c.taskId, success: false, message: "refused", foreignChanges: ["notes.txt"] } });
    expect(await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1"])).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "makima: the worktree has changes the task did not make (notes.txt); repeat with --force to rewind anyway (they are kept under the safety ref) [409 foreign_changes]\n",
    });
    answers = defaultAnswers();
    const forced = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1", "--force", "--yes"]);
    expect(forced.code).toBe(0);
    expect(received("rewindToCheckpoint").at(-1)).toMatchObject({ force: true });
  });

  it("undoes the latest rewind through the daemon", async () => {
    const r = await s.run(["supervisor", "undo-rewind", taskId]);
    expect(r).toEqual({
      code: 0,
      stdout: `Task ${taskId}: the worktree is back as it was before the rewind (from refs/makima/safety/${taskId}/1).\n`,
      stderr: "",
    });
    expect(received("undoRewind").at(-1)).toMatchObject({ taskId, safetyRef: `refs/makima/safety/${taskId}/1` });
  });
});

describe("makima supervisor rewind-conversation and restore-conversation", () => {
  it("hides the last messages and says how to bring them back", async () => {
    const r = await s.run(["supervisor", "rewind-conversation", "--contract", contractId, "--by-messages", "1"]);
    expect(r).toEqual({
      code: 0,
      stdout: "Supervisor conversation rewound: 3 messages kept, 1 hidden (`makima contract restore-conversation` brings them back).\n",
      stderr: "",
    });
    const restored = await s.run(["supervisor", "restore-conversation", "--format", "json"], { env: { MAKIMA_CONTRACT_ID: contractId } });
    expect(JSON.parse(restored.stdout)).toEqual({ taskId: supervisorId, rewindId: expect.any(String), messageCount: 4 });
  });

  it("rewinds to a message, and the code too, following the daemon to the end", async () => {
    answers.rewindToCheckpoint = (c) => ({ ...defaultAnswers().rewindToCheckpoint!(c), delayMs: 800 });
    const r = await s.run(["supervisor", "rewind-conversation", "--contract", contractId, "--to-message", "s2", "--rewind-code", "--format", "json"]);
    expect(r.stderr).toBe("");
    const json = JSON.parse(r.stdout);
    expect(json).toEqual({
      contractId,
      supervisorTaskId: supervisorId,
      rewindId: expect.any(String),
      messageCount: 2,
      hiddenCount: 2,
      codeRewind: {
        taskId: supervisorId,
        rewindId: expect.any(String),
        checkpoint: supervisorCheckpoint,
        preservedAs: { type: "branch", reference: "makima/preserved/abcd1234-1" },
        safetyRef: `refs/makima/safety/${supervisorId}/1`,
      },
    });
    const text = await s.run(["supervisor", "restore-conversation", "--contract", contractId]);
    expect(text.stdout).toBe(`Supervisor conversation restored (rewind ${json.rewindId} undone): 4 messages visible.\n`);
  });

  it("prints the code rewind's lines after the conversation's", async () => {
    const r = await s.run(["supervisor", "rewind-conversation", "--contract", contractId, "--by-messages", "3", "--rewind-code"]);
    expect(lines(r.stdout)).toEqual([
      "Supervisor conversation rewound: 1 messages kept, 3 hidden (`makima contract restore-conversation` brings them back).",
      `Rewound task ${supervisorId} to checkpoint 1 (ccccccc "plan written").`,
      "Work kept on branch makima/preserved/abcd1234-1 (git switch makima/preserved/abcd1234-1 to see it).",
      `Safety ref refs/makima/safety/${supervisorId}/1: \`makima task restore ${supervisorId}\` puts everything back.`,
    ]);
    await s.run(["supervisor", "restore-conversation", "--contract", contractId]);
  });

  it("needs exactly one rewind point (exit 2) and reports the server's refusal (exit 2 for a 400)", async () => {
    const one = "makima: give exactly one of --by-messages <n>, --to-message <id>, --to-time <time>\n";
    expect(await s.run(["supervisor", "rewind-conversation", "--contract", contractId])).toEqual({ code: 2, stdout: "", stderr: one });
    expect(await s.run(["supervisor", "rewind-conversation", "--contract", contractId, "--by-messages", "1", "--to-message", "s1"])).toEqual({
      code: 2,
      stdout: "",
      stderr: one,
    });
    expect(await s.run(["supervisor", "rewind-conversation", "--contract", contractId, "--by-messages", "99"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "makima: byMessageCount is 99 but the conversation has 4 messages [400 validation_failed]\n",
    });
  });
});

describe("makima supervisor resume, task-resume, task-resume-from, task-fork", () => {
  // The fake daemon leaves spawned tasks unanswered here: the CLI does not wait for a confirmation it will not get.
  const run = (args: string[]) => s.run(args, { env: { MAKIMA_START_WAIT_SECONDS: "0" } });

  it("resumes the supervisor on the online daemon, and says once the daemon started it", async () => {
    answers.spawnTask = (c) => ({ reply: { type: "taskSpawned", taskId: c.taskId, success: true, commitSha: "c".repeat(40) }, delayMs: 500 });
    const r = await s.run(["supervisor", "resume", "--contract", contractId, "--context", "the user wants OAuth too"]);
    answers.spawnTask = defaultAnswers().spawnTask;
    expect(r.code).toBe(0);
    const spawn = received("spawnTask").at(-1);
    expect(spawn).toMatchObject({ taskId: supervisorId, additionalContext: "the user wants OAuth too" });
    expect(r.stdout).toBe(
      `Supervisor ${supervisorId} of contract ${contractId} resumed (continue): started on daemon ${daemon.daemonId} (operation ${spawn.requestId}).\n`,
    );
    // Its agent was stopped again, for what follows.
    await s.api("PATCH", `/api/v1/mesh/tasks/${supervisorId}`, { status: "interrupted" });
  });

  it("resumes the supervisor from a checkpoint given by number", async () => {
    const r = await run(["supervisor", "resume", "--contract", contractId, "--mode", "from_checkpoint", "--checkpoint", "1", "--format", "json"]);
    expect(r.stderr).toBe("");
    const spawn = received("spawnTask").at(-1);
    expect(JSON.parse(r.stdout)).toEqual({
      contractId,
      supervisorTaskId: supervisorId,
      resumeMode: "from_checkpoint",
      daemonId: daemon.daemonId,
      operationId: spawn.requestId,
      start: "starting",
    });
    expect(spawn.commitSha).toBe("c".repeat(40));
    await run(["supervisor", "restore-conversation", "--contract", contractId]);
  });

  it("checks mode and checkpoint go together (exit 2)", async () => {
    expect((await run(["supervisor", "resume", "--contract", contractId, "--mode", "from_checkpoint"])).stderr).toBe(
      "makima: --mode from_checkpoint needs --checkpoint <id or number>\n",
    );
    expect((await run(["supervisor", "resume", "--contract", contractId, "--checkpoint", "1"])).code).toBe(2);
    expect((await run(["supervisor", "resume", "--contract", contractId, "--mode", "later"])).code).toBe(2);
  });

  it("refuses to resume a running supervisor (exit 1, 409)", async () => {
    const other = (await s.api("POST", "/api/v1/contracts", { name: "other" })).body.id;
    const sup = (await s.api("POST", "/api/v1/mesh/tasks", { name: "sup", plan: "p", contractId: other, isSupervisor: true })).body.id;
    await s.api("PATCH", `/api/v1/mesh/tasks/${sup}`, { status: "running" });
    expect(await run(["supervisor", "resume", "--contract", other])).toEqual({
      code: 1,
      stdout: "",
      stderr: `makima: task ${sup} is running; interrupt it first (\`makima task interrupt ${sup}\`) before resuming it [409 task_running]\n`,
    });
  });

  it("names the daemon asked for with --daemon when it is not online, while another is", async () => {
    const absent = "0b1c2d3e-4f50-4a61-8b72-9c8d7e6f5a41";
    const r = await s.run(["supervisor", "task-resume", taskId, "--daemon", absent]);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: `makima: daemon ${absent} is not online: is it running, and connected with one of your keys? [503 no_daemon]\n`,
    });
  });

  it("continues a task from a checkpoint given by number or SHA, and says when the daemon did not start it", async () => {
    answers.spawnTask = (c) => ({ reply: { type: "taskSpawned", taskId: c.taskId, success: false, error: "no agent command is configured" } });
    const r = await s.run(["supervisor", "task-resume", taskId, "--mode", "from_checkpoint", "--checkpoint", "1"]);
    answers.spawnTask = defaultAnswers().spawnTask;
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: `makima: task ${taskId} was not started on daemon ${daemon.daemonId}: no agent command is configured [daemon_error]; the task waits for a daemon and is tried again when one connects\n`,
    });
    expect(received("spawnTask").at(-1)).toMatchObject({ taskId, commitSha: "a".repeat(40) });
    expect((await s.api("GET", `/api/v1/mesh/tasks/${taskId}`)).body).toMatchObject({ status: "pending", lastStartError: { code: "daemon_error", attempt: 1 } });
    const bySha = await run(["supervisor", "task-resume", taskId, "--mode", "from_checkpoint", "--checkpoint", "bbbbbbb", "--format", "json"]);
    expect(JSON.parse(bySha.stdout)).toMatchObject({ ...(await s.api("GET", `/api/v1/mesh/tasks/${taskId}`)).body, start: "starting", operationId: expect.any(String) });
    expect(JSON.parse(bySha.stdout).baseSha).toBe("b".repeat(40));
    expect((await run(["supervisor", "task-resume", taskId, "--mode", "from_checkpoint", "--checkpoint", "zz"])).code).toBe(2);
  });

  it("starts a new task from a checkpoint", async () => {
    const r = await run(["supervisor", "task-resume-from", taskId, "--checkpoint", "2", "--plan", "add OAuth", "--name", "login v2", "--format", "json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    const spawn = received("spawnTask").at(-1);
    expect(json).toEqual({
      task: (await s.api("GET", `/api/v1/mesh/tasks/${json.task.id}`)).body,
      sourceTaskId: taskId,
      checkpointId: checkpoints[1].id,
      daemonId: daemon.daemonId,
      operationId: spawn.requestId,
      start: "starting",
    });
    expect(json.task).toMatchObject({ name: "login v2", plan: "add OAuth", baseSha: "b".repeat(40), forkedFromTaskId: taskId, messageCount: 0 });

    const text = await run(["supervisor", "task-resume-from", taskId, "--checkpoint", "1", "--plan", "again"]);
    const made = received("spawnTask").at(-1);
    expect(text.stdout).toMatch(
      new RegExp(
        `^New task ${made.taskId} "build login \\(from checkpoint 1\\)" from checkpoint 1 \\(aaaaaaa\\) of ${taskId}, on branch ${esc(made.branchName)}: sent to daemon ${daemon.daemonId} \\(operation ${made.requestId}\\), not confirmed started yet \\(GET /api/v1/operations/${made.requestId} tells how it went\\)\\.\\n$`,
      ),
    );
    expect(await run(["supervisor", "task-resume-from", taskId, "--checkpoint", "1"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "makima: required option '--plan <text>' not specified (see `makima supervisor task-resume-from --help`)\n",
    });
  });

  it("forks a task from a checkpoint, with or without its conversation", async () => {
    const r = await run(["supervisor", "task-fork", taskId, "--checkpoint", "1", "--name", "alt", "--plan", "another way"]);
    const spawn = received("spawnTask").at(-1);
    const short = taskId.replace(/-/g, "").slice(-8);
    expect(lines(r.stdout)).toEqual([
      `Forked task ${taskId} at checkpoint 1 into task ${spawn.taskId} "alt", with the conversation up to it (4 messages).`,
      `Branch makima/fork/${short}-cp1-${spawn.taskId.replace(/-/g, "").slice(-8)} at aaaaaaa: sent to daemon ${daemon.daemonId} (operation ${spawn.requestId}), not confirmed started yet (GET /api/v1/operations/${spawn.requestId} tells how it went).`,
    ]);
    expect((await s.api("GET", `/api/v1/mesh/tasks/${spawn.taskId}`)).body.messageCount).toBe(4);

    const bare = await run(["supervisor", "task-fork", taskId, "--checkpoint", "2", "--name", "bare", "--plan", "p", "--no-include-conversation", "--branch-name", "try/bare", "--format", "json"]);
    const json = JSON.parse(bare.stdout);
    expect(json).toMatchObject({
      sourceTaskId: taskId,
      forkPoint: { type: "checkpoint", value: "2", checkpointId: checkpoints[1].id },
      branchName: "try/bare",
      daemonId: daemon.daemonId,
    });
    expect(json.task).toMatchObject({ name: "bare", messageCount: 0, baseSha: "b".repeat(40), forkedAtCheckpointId: checkpoints[1].id });
    expect(await run(["supervisor", "task-fork", taskId, "--checkpoint", "9", "--name", "x", "--plan", "p"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: checkpoint 9 not found [404 not_found]\n",
    });
  });
});

describe("makima and a task's start, an outage", () => {
  it("forking the same checkpoint twice from the CLI starts both forks", async () => {
    answers.spawnTask = (c) => ({ reply: { type: "taskSpawned", taskId: c.taskId, success: true, commitSha: "a".repeat(40) } });
    try {
      const runs = [];
      for (const name of ["first try", "second try"]) runs.push(await s.run(["supervisor", "task-fork", taskId, "--checkpoint", "1", "--name", name, "--plan", "another way"]));
      const spawns = received("spawnTask").slice(-2);
      expect(new Set(spawns.map((c) => c.branchName)).size).toBe(2);
      runs.forEach((r, i) => {
        expect(r.code).toBe(0);
        expect(lines(r.stdout)[1]).toBe(`Branch ${spawns[i].branchName} at aaaaaaa: started on daemon ${daemon.daemonId} (operation ${spawns[i].requestId}).`);
      });
      for (const c of spawns) expect((await s.api("GET", `/api/v1/mesh/tasks/${c.taskId}`)).body.status).toBe("running");
    } finally {
      answers.spawnTask = defaultAnswers().spawnTask;
    }
  });

  it("retries a call the service's storage could not take (503 unavailable) and says so", async () => {
    const faults = injectFaults(s.stack.runtime.db.table.doc);
    faults.fail({ command: "*", nth: 1, error: throttled });
    const r = await s.run(["supervisor", "checkpoint-list", taskId, "--format", "json"]);
    faults.restore();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("makima: the service is unavailable (503 unavailable); retrying in 2 s (attempt 2 of 4)\n");
    expect(JSON.parse(r.stdout).items ?? JSON.parse(r.stdout)).toBeTruthy();
  });

  it("gives up after a few attempts with a clear error (exit 1)", async () => {
    const faults = injectFaults(s.stack.runtime.db.table.doc);
    faults.fail({ command: "*", error: throttled });
    const r = await s.run(["supervisor", "checkpoint-list", taskId], { timeoutMs: 60_000 });
    faults.restore();
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.includes("retrying"))).toHaveLength(3);
    expect(r.stderr).toContain("the service is unavailable right now");
  }, 90_000);
});

describe("makima keys", () => {
  it("creates a key (the secret alone on stdout), lists it, revokes it", async () => {
    const created = await s.run(["keys", "create", "--kind", "api", "--name", "ci"]);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^mk_\S+$/);
    const list = JSON.parse((await s.run(["keys", "list", "--format", "json"])).stdout);
    const key = list.items.find((k: any) => k.name === "ci");
    expect(key).toMatchObject({ kind: "api", name: "ci" });
    expect(created.stderr).toBe(`Created api key ${key.id} "ci". Its secret is shown only now:\n`);
    expect((await s.run(["contract", "list", "--format", "json"], { env: { MAKIMA_API_KEY: secret } })).code).toBe(0);

    expect(await s.run(["keys", "revoke", key.id])).toEqual({ code: 0, stdout: `Revoked key ${key.id}.\n`, stderr: "" });
    expect((await s.run(["contract", "list"], { env: { MAKIMA_API_KEY: secret } })).code).toBe(1);
    expect(await s.run(["keys", "revoke", key.id])).toEqual({ code: 1, stdout: "", stderr: "makima: key not found [404 not_found]\n" });
  });

  it("needs a contract for a tool key (exit 2)", async () => {
    expect(await s.run(["keys", "create", "--kind", "tool"])).toEqual({ code: 2, stdout: "", stderr: "makima: a tool key needs --contract <id>\n" });
    const tool = JSON.parse((await s.run(["keys", "create", "--kind", "tool", "--contract", contractId, "--format", "json"])).stdout);
    expect(tool).toMatchObject({ kind: "tool", contractId, key: expect.stringMatching(/^mkt_/) });
    // A tool key reads its contract's history, nothing else.
    expect((await s.run(["contract", "history", "--contract", contractId, "--format", "json"], { env: { MAKIMA_API_KEY: tool.key } })).code).toBe(0);
    expect((await s.run(["keys", "list"], { env: { MAKIMA_API_KEY: tool.key } })).code).toBe(1);
  });
});

describe("makima daemon", () => {
  it("says what to set when the key or URL is missing (exit 2)", async () => {
    const base = { MAKIMA_WS_URL: s.stack.wsUrl };
    expect(await s.run(["daemon"], { env: base })).toEqual({
      code: 2,
      stdout: "",
      stderr: `makima: no daemon key: looked in --daemon-key, MAKIMA_DAEMON_KEY, .makima/local.json in ${s.cwd} and its parents (none), ${s.configHome}/makima/config.json (none). Run \`makima login\` for a deployed stage, or \`npm start\` in the makima-history clone for the local stack (a key mkd_…: \`makima keys create --kind daemon\`).\n`,
    });
    expect(await s.run(["daemon", "--daemon-key", s.daemonKey])).toEqual({
      code: 2,
      stdout: "",
      stderr: `makima: no WebSocket URL: looked in --ws-url, MAKIMA_WS_URL, .makima/local.json in ${s.cwd} and its parents (none), ${s.configHome}/makima/config.json (none). Run \`makima login\` for a deployed stage, or \`npm start\` in the makima-history clone for the local stack.\n`,
    });
    expect((await s.run(["daemon", "--daemon-key", s.apiKey], { env: base })).stderr).toBe(
      "makima: the daemon key must be a daemon key (mkd_…); create one with `makima keys create --kind daemon`\n",
    );
    expect((await s.run(["daemon", "--daemon-id", "nope", "--daemon-key", s.daemonKey], { env: base })).code).toBe(2);
  });
});

describe.skipIf(!HAS_DAEMON)("with the real daemon: diff, rewind keeping a branch, undo, fork, resume", () => {
  // A contract, supervisor and task of their own, on the same stack.
  let root: string;
  let cliDaemon: CliDaemon | undefined;
  let contractId: string;
  let supervisorId: string;
  let taskId: string;
  let worktree: string;
  const shas: string[] = [];

  /** waitFor, with the daemon's output when it times out. */
  const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<NonNullable<T>> =>
    waitFor(probe, timeoutMs, what).catch((error: Error) => {
      throw new Error(`${error.message}; daemon output:\n${cliDaemon?.output() ?? ""}`);
    });

  beforeAll(async () => {
    // The stand-in leaves: commands must reach the real daemon.
    await daemon.close();
    await until("the stand-in to leave", async () => ((await s.api("GET", "/api/v1/daemons")).body.items.length === 0 ? true : undefined));
    root = mkdtempSync(join(tmpdir(), "makima-cli-daemon-"));
    contractId = (await s.api("POST", "/api/v1/contracts", { name: "login page" })).body.id;
    supervisorId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "supervisor", plan: "supervise", contractId, isSupervisor: true })).body.id;
    taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "build login", plan: "build it", contractId })).body.id;

    // The task's worktree: two commits, each recorded as a checkpoint.
    worktree = join(root, taskId);
    mkdirSync(worktree, { recursive: true });
    g(worktree, "init", "--quiet", "--initial-branch=main");
    g(worktree, "config", "user.name", "Test");
    g(worktree, "config", "user.email", "test@example.com");
    writeFileSync(join(worktree, "router.ts"), "export const routes = [];\n");
    g(worktree, "add", ".");
    g(worktree, "commit", "--quiet", "-m", "router");
    shas.push(g(worktree, "rev-parse", "HEAD"));
    writeFileSync(join(worktree, "router.ts"), "import { login } from './login';\nexport const routes = [login];\n");
    writeFileSync(join(worktree, "login.ts"), "export const login = () => {};\n");
    g(worktree, "add", ".");
    g(worktree, "commit", "--quiet", "-m", "login page");
    shas.push(g(worktree, "rev-parse", "HEAD"));
    for (const [i, message] of ["router", "login page"].entries()) {
      const r = await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: shas[i], branchName: "main", message });
      expect(r.status).toBe(201);
    }

    cliDaemon = startCliDaemon(s, root);
  });

  afterAll(async () => {
    await cliDaemon?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("`makima daemon` connects: GET /api/v1/daemons lists it", async () => {
    const listed = await until("the daemon to connect", async () => {
      const items = (await s.api("GET", "/api/v1/daemons")).body.items;
      return items.length ? items : undefined;
    });
    expect(listed).toHaveLength(1);
    // The server may list it a moment before `runDaemon` resolves and the CLI says so.
    await until("the CLI's note", async () => (cliDaemon!.output().includes("Ctrl-C stops.") ? true : undefined));
    expect(cliDaemon!.output()).toContain(`makima daemon ${listed[0].daemonId} connected to ${s.stack.wsUrl}; worktrees in ${root}. Ctrl-C stops.`);
  });

  it("diffs a checkpoint from the real repository", async () => {
    const r = await s.run(["supervisor", "checkpoint-diff", taskId, "2"]);
    expect(r.stderr).toBe("");
    expect(lines(r.stdout)).toEqual([
      `checkpoint 2 ${shas[1]!.slice(0, 7)} "login page" (compared with ${shas[0]!.slice(0, 7)})`,
      " login.ts  | 1 +",
      " router.ts | 3 ++-",
      " 2 files changed, 3 insertions(+), 1 deletion(-)",
      "",
      "diff --git a/login.ts b/login.ts",
      "new file",
      "--- /dev/null",
      "+++ b/login.ts",
      "@@ -0,0 +1 @@",
      "+export const login = () => {};",
      "diff --git a/router.ts b/router.ts",
      "--- a/router.ts",
      "+++ b/router.ts",
      "@@ -1 +1,2 @@",
      "-export const routes = [];",
      "+import { login } from './login';",
      "+export const routes = [login];",
    ]);
  });

  it("rewinds with a branch kept, then undoes the rewind", async () => {
    const r = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const branch = `makima/preserved/${taskId}-1`;
    const out = lines(r.stdout);
    expect(out.slice(0, 2)).toEqual([
      `Rewound task ${taskId} to checkpoint 1 (${shas[0]!.slice(0, 7)} "router").`,
      `Work kept on branch ${branch} (git switch ${branch} to see it).`,
    ]);
    expect(out[2]).toMatch(new RegExp(`^Safety ref refs/makima/safety/${taskId}/\\S+: \`makima task restore ${taskId}\` puts everything back\\.$`));
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[0]);
    expect(existsSync(join(worktree, "login.ts"))).toBe(false);
    expect(g(worktree, "rev-parse", branch)).toBe(shas[1]);

    const undo = await s.run(["supervisor", "undo-rewind", taskId]);
    expect(undo.code).toBe(0);
    expect(undo.stdout).toMatch(new RegExp(`^Task ${taskId}: the worktree is back as it was before the rewind \\(from refs/makima/safety/${taskId}/\\S+\\)\\.\\n$`));
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[1]);
    expect(readFileSync(join(worktree, "login.ts"), "utf8")).toBe("export const login = () => {};\n");
  });

  it("forks from a checkpoint: the daemon makes the fork's worktree at that commit", async () => {
    const r = await s.run(["supervisor", "task-fork", taskId, "--checkpoint", "1", "--name", "alt", "--plan", "another way", "--format", "json"]);
    expect(r.code).toBe(0);
    const fork = JSON.parse(r.stdout);
    expect(fork.daemonId).toEqual(expect.any(String));
    const dir = join(root, fork.task.id);
    await until("the fork's worktree", async () => (existsSync(join(dir, "router.ts")) ? true : undefined));
    await until("the fork's checkout", async () => {
      try {
        return g(dir, "rev-parse", "HEAD") === shas[0] ? true : undefined;
      } catch {
        return undefined;
      }
    });
    expect(g(dir, "symbolic-ref", "--short", "HEAD")).toBe(fork.branchName);
  });

  it("resumes the supervisor on the daemon", async () => {
    const r = await s.run(["supervisor", "resume", "--contract", contractId, "--format", "json"]);
    expect(r.code).toBe(0);
    const resumed = JSON.parse(r.stdout);
    expect(resumed).toMatchObject({ supervisorTaskId: supervisorId, resumeMode: "continue", daemonId: expect.any(String) });
    // Started there: the task is the daemon's now (with no agent command it is paused right away).
    const task = await until("the daemon to start the supervisor", async () => {
      const t = (await s.api("GET", `/api/v1/mesh/tasks/${supervisorId}`)).body;
      return t.daemonId === resumed.daemonId && t.status !== "pending" ? t : undefined;
    });
    expect(["running", "paused"]).toContain(task.status);
  });

  it("stops on Ctrl-C with exit 0, and leaves the daemon list", async () => {
    const exited = new Promise<number | null>((resolve) => cliDaemon!.process.once("close", (code) => resolve(code)));
    cliDaemon!.process.kill("SIGINT");
    expect(await exited).toBe(0);
    await until("the daemon to leave the list", async () => ((await s.api("GET", "/api/v1/daemons")).body.items.length === 0 ? true : undefined));
  });
});
