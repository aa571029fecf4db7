/**
 * The `makima` CLI's reading commands, configuration and output, each run
 * as a real process (`node daemon/cli/bin.js`) against the local stack in
 * this process. No daemon is online here: the commands that need one must
 * fail with the one-line reason (see cli-actions.test.ts for daemon work).
 *
 * Nothing here changes the shared data, so the tests run concurrently.
 *
 * Times: messages carry fixed timestamps; server-made times (events,
 * checkpoints) are read back from the API, and MAKIMA_NOW pins "now" so that
 * relative times, hence column widths, are exact. TZ=UTC for absolute times.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCliStack, type CliStack } from "./support/cli.js";

let s: CliStack;
let contractId: string;
let supervisorId: string;
let taskId: string;

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
/** Two hours after the fixed message times: every message reads "(1h ago)"… */
const MESSAGES_NOW = "2026-01-01T02:00:00.000Z";
/** …and server-made times read "(2h ago)" with this, given the latest of them. */
const twoHoursAfter = (iso: string) => new Date(Date.parse(iso) + 2 * 3600_000).toISOString();
const stamp = (iso: string) => iso.slice(0, 19).replace("T", " ");
const ANSI = /\x1b\[/;

const lines = (text: string) => text.replace(/\n$/, "").split("\n");

beforeAll(async () => {
  s = await startCliStack();
  contractId = (await s.api("POST", "/api/v1/contracts", { name: "login page" })).body.id;
  supervisorId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "supervisor", plan: "supervise", contractId, isSupervisor: true })).body.id;
  taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "build login", plan: "build it", contractId })).body.id;
  const appended = await s.api("POST", `/api/v1/mesh/tasks/${taskId}/messages`, {
    messages: [
      { id: "m1", role: "user", content: "Add a login page.\nUse the existing router.", timestamp: at(1), receivedAt: expect.any(String) },
      { id: "m2", role: "assistant", content: "I'll read the router first.", timestamp: at(2), toolCalls: [{ id: "c1", name: "read_file", input: { path: "src/router.ts" } }] },
      { id: "m3", role: "tool", content: "", toolName: "read_file", toolInput: { path: "src/router.ts" }, toolResult: "export const routes = [];\n// end", timestamp: at(3) },
      { id: "m4", role: "assistant", content: "Done: added /login.", timestamp: at(4), receivedAt: expect.any(String) },
    ],
  });
  expect(appended.status).toBe(201);
  for (const [sha, message, linesAdded, linesRemoved] of [["a".repeat(40), "router read", 3, 1], ["b".repeat(40), "login page", 30, 0]] as const) {
    const created = await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: sha, branchName: "makima/task/login", message, linesAdded, linesRemoved });
    expect(created.status).toBe(201);
  }
  expect((await s.api("PATCH", `/api/v1/contracts/${contractId}`, { phase: "plan" })).status).toBe(200);
}, 180_000);

afterAll(async () => {
  await s?.stop();
});

describe.concurrent("makima contract history", () => {
  it("prints the timeline newest first as an aligned table", async () => {
    const events = (await s.api("GET", `/api/v1/contracts/${contractId}/history`)).body.items;
    expect(events).toHaveLength(7);
    const r = await s.run(["contract", "history", "--contract", contractId], { env: { MAKIMA_NOW: twoHoursAfter(events[0].createdAt) } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const t = (i: number) => `${stamp(events[i].createdAt)} (2h ago)`;
    expect(lines(r.stdout)).toEqual([
      `TIME                          PHASE     EVENT                   TASK                                  WHAT`,
      `${t(0)}  plan      phase/changed                                                 research → plan`,
      `${t(1)}  research  checkpoint/created      ${taskId}  checkpoint 2 bbbbbbb "login page"`,
      `${t(2)}  research  checkpoint/created      ${taskId}  checkpoint 1 aaaaaaa "router read"`,
      `${t(3)}  research  chat/messages           ${taskId}  4 messages (user, assistant, tool)`,
      `${t(4)}  research  task/created            ${taskId}  task "build login" created`,
      `${t(5)}  research  task/created            ${supervisorId}  task "supervisor" created (supervisor)`,
      `${t(6)}  research  phase/contract_created                                        contract "login page" created in research`,
    ]);
  });

  it("prints exactly the API's page with --format json, filters and limits", async () => {
    const api = (await s.api("GET", `/api/v1/contracts/${contractId}/history?eventTypes=checkpoint,phase&limit=2`)).body;
    const r = await s.run(["contract", "history", "--contract", contractId, "--event-types", "checkpoint,phase", "--limit", "2", "--format", "json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toEqual({ contractId, items: api.items, nextCursor: expect.any(String) });
    expect(json.items.map((e: any) => `${e.eventType}/${e.eventSubtype}`)).toEqual(["phase/changed", "checkpoint/created"]);
    // Stable for scripts: two-space JSON, one trailing newline.
    expect(r.stdout).toBe(JSON.stringify(json, null, 2) + "\n");

    const next = await s.run(["contract", "history", "--contract", contractId, "--event-types", "checkpoint,phase", "--cursor", json.nextCursor, "--format", "json"]);
    expect(JSON.parse(next.stdout).items.map((e: any) => e.eventData.checkpointNumber ?? e.eventSubtype)).toEqual([1, "contract_created"]);
  });

  it("filters by phase and time, and says when nothing matches", async () => {
    const plan = await s.run(["contract", "history", "--contract", contractId, "--phase", "plan", "--format", "json"]);
    expect(JSON.parse(plan.stdout).items.map((e: any) => e.eventSubtype)).toEqual(["changed"]);
    const none = await s.run(["contract", "history", "--contract", contractId, "--to", "2020-01-01"]);
    expect(none).toEqual({ code: 0, stdout: "no history events match\n", stderr: "" });
  });

  it("notes where the next page starts when --limit cuts the list", async () => {
    const r = await s.run(["contract", "history", "--contract", contractId, "--limit", "1"]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toHaveLength(3);
    expect(out[2]).toMatch(/^… more: --all, or --cursor \S+$/);
  });

  it("takes the contract from MAKIMA_CONTRACT_ID", async () => {
    const r = await s.run(["contract", "history", "--format", "json", "--limit", "1"], { env: { MAKIMA_CONTRACT_ID: contractId } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).contractId).toBe(contractId);
  });

  it("fails with exit 2 and what to set when no contract is given", async () => {
    const r = await s.run(["contract", "history"]);
    expect(r).toEqual({ code: 2, stdout: "", stderr: "makima: no contract: pass --contract <id>, set MAKIMA_CONTRACT_ID, or `makima config set contract <id>`\n" });
  });

  it("fails with exit 2 on bad flags and values, before calling the API", async () => {
    expect(await s.run(["contract", "history", "--contract", contractId, "--bogus"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "makima: unknown option '--bogus' (see `makima contract history --help`)\n",
    });
    expect(await s.run(["contract", "history", "--contract", contractId, "--phase", "nope"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "makima: option '--phase <phase>' argument 'nope' is invalid. Allowed choices are research, specify, plan, execute, review. (see `makima contract history --help`)\n",
    });
    expect((await s.run(["contract", "history", "--contract", contractId, "--limit", "0"])).code).toBe(2);
    expect(await s.run(["contract", "history", "--contract", contractId, "--from", "someday"])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'makima: --from "someday" is not a time: 30m, 2h, 1d, 1w ago, today, yesterday, or ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z)\n',
    });
    expect(await s.run(["contract", "history", "--contract", "nope"])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'makima: "nope" is not a contract id (a UUID)\n',
    });
    expect((await s.run(["contract", "history", "--contract", contractId, "--event-types", "chat,nope"])).stderr).toBe(
      "makima: unknown event type nope (one of task, chat, checkpoint, phase, file, rewind, fork, resume)\n",
    );
  });

  it("fails with exit 1 on an unknown contract", async () => {
    const r = await s.run(["contract", "history", "--contract", "0190a000-0000-7000-8000-000000000000"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "makima: contract not found [404 not_found]\n" });
  });
});

describe.concurrent("makima contract list and tasks", () => {
  it("lists contracts and a contract's tasks", async () => {
    const contract = (await s.api("GET", `/api/v1/contracts/${contractId}`)).body;
    const r = await s.run(["contract", "list"], { env: { MAKIMA_NOW: twoHoursAfter(contract.updatedAt) } });
    expect(lines(r.stdout)).toEqual([
      `ID                                    NAME        PHASE  STATUS  SUPERVISOR                            UPDATED`,
      `${contractId}  login page  plan   active  ${supervisorId}  ${stamp(contract.updatedAt)} (2h ago)`,
    ]);
    const tasks = await s.run(["contract", "tasks", "--contract", contractId, "--format", "json"]);
    expect(JSON.parse(tasks.stdout)).toEqual({ contractId, ...(await s.api("GET", `/api/v1/contracts/${contractId}/tasks`)).body });
  });
});

describe.concurrent("makima supervisor task-history", () => {
  it("prints the conversation as a chat by default, tool calls included", async () => {
    const r = await s.run(["supervisor", "task-history", taskId], { env: { MAKIMA_NOW: MESSAGES_NOW } });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      "user · 2026-01-01 00:00:01 (1h ago) · m1",
      "  Add a login page.",
      "  Use the existing router.",
      "",
      "assistant · 2026-01-01 00:00:02 (1h ago) · m2",
      "  I'll read the router first.",
      '  → read_file {"path":"src/router.ts"}',
      "",
      "tool read_file · 2026-01-01 00:00:03 (1h ago) · m3",
      '  → read_file {"path":"src/router.ts"}',
      "  ← export const routes = [];",
      "    // end",
      "",
      "assistant · 2026-01-01 00:00:04 (1h ago) · m4",
      "  Done: added /login.",
    ]);
  });

  it("leaves tool traffic out with --no-tool-calls", async () => {
    const r = await s.run(["supervisor", "task-history", taskId, "--no-tool-calls"], { env: { MAKIMA_NOW: MESSAGES_NOW } });
    expect(lines(r.stdout)).toEqual([
      "user · 2026-01-01 00:00:01 (1h ago) · m1",
      "  Add a login page.",
      "  Use the existing router.",
      "",
      "assistant · 2026-01-01 00:00:02 (1h ago) · m2",
      "  I'll read the router first.",
      "",
      "assistant · 2026-01-01 00:00:04 (1h ago) · m4",
      "  Done: added /login.",
    ]);
    const json = JSON.parse((await s.run(["supervisor", "task-history", taskId, "--no-tool-calls", "--format", "json"])).stdout);
    expect(json).toEqual({
      taskId,
      messages: [
        { id: "m1", role: "user", content: "Add a login page.\nUse the existing router.", timestamp: at(1), receivedAt: expect.any(String) },
        { id: "m2", role: "assistant", content: "I'll read the router first.", timestamp: at(2), receivedAt: expect.any(String) },
        { id: "m4", role: "assistant", content: "Done: added /login.", timestamp: at(4), receivedAt: expect.any(String) },
      ],
      nextCursor: null,
    });
  });

  it("prints a table with --format table", async () => {
    const r = await s.run(["supervisor", "task-history", taskId, "--format", "table"], { env: { MAKIMA_NOW: MESSAGES_NOW } });
    expect(lines(r.stdout)).toEqual([
      "#  TIME                          ROLE            ID  CONTENT",
      "1  2026-01-01 00:00:01 (1h ago)  user            m1  Add a login page. Use the existing router.",
      "2  2026-01-01 00:00:02 (1h ago)  assistant       m2  I'll read the router first.",
      "3  2026-01-01 00:00:03 (1h ago)  tool:read_file  m3  export const routes = []; // end",
      "4  2026-01-01 00:00:04 (1h ago)  assistant       m4  Done: added /login.",
    ]);
  });

  it("prints exactly the API's messages with --format json, up to --limit", async () => {
    const api = (await s.api("GET", `/api/v1/mesh/tasks/${taskId}/conversation`)).body;
    const all = JSON.parse((await s.run(["supervisor", "task-history", taskId, "--format", "json"])).stdout);
    expect(all).toEqual({ taskId, messages: api.messages, nextCursor: null });
    expect(all.messages[2]).toEqual({
      id: "m3",
      role: "tool",
      content: "",
      toolName: "read_file",
      toolInput: { path: "src/router.ts" },
      toolResult: "export const routes = [];\n// end",
      timestamp: at(3),
      receivedAt: expect.any(String),
    });
    const two = JSON.parse((await s.run(["supervisor", "task-history", taskId, "--limit", "2", "--format", "json"])).stdout);
    expect(two.messages.map((m: any) => m.id)).toEqual(["m1", "m2"]);
    expect(two.nextCursor).toEqual(expect.any(String));
    const rest = JSON.parse((await s.run(["supervisor", "task-history", taskId, "--cursor", two.nextCursor, "--format", "json"])).stdout);
    expect(rest.messages.map((m: any) => m.id)).toEqual(["m3", "m4"]);
  });

  it("takes the task from MAKIMA_TASK_ID", async () => {
    const r = await s.run(["supervisor", "task-history", "--format", "json"], { env: { MAKIMA_TASK_ID: taskId } });
    expect(JSON.parse(r.stdout).taskId).toBe(taskId);
  });

  it("shows a long message whole with --full", async () => {
    const big = "x".repeat(20_000);
    const id = (await s.api("POST", "/api/v1/mesh/tasks", { name: "long", plan: "p" })).body.id;
    await s.api("POST", `/api/v1/mesh/tasks/${id}/messages`, { messages: [{ id: "big", role: "assistant", content: big, timestamp: at(9) }] });
    const cut = JSON.parse((await s.run(["supervisor", "task-history", id, "--format", "json"])).stdout);
    expect(cut.messages[0].truncated).toBe(true);
    expect(cut.messages[0].content.length).toBeLessThan(big.length);
    const chat = await s.run(["supervisor", "task-history", id]);
    expect(lines(chat.stdout).at(-1)).toBe("  … cut for the page; --full shows it whole");
    const whole = JSON.parse((await s.run(["supervisor", "task-history", id, "--full", "--format", "json"])).stdout);
    expect(whole.messages[0].content).toBe(big);
  });

  it("fails with exit 1 on an unknown task and exit 2 on something that is not an id", async () => {
    expect(await s.run(["supervisor", "task-history", "0190a000-0000-7000-8000-000000000000"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: task not found [404 not_found]\n",
    });
    expect(await s.run(["supervisor", "task-history", "nope"])).toEqual({ code: 2, stdout: "", stderr: 'makima: "nope" is not a task id (a UUID)\n' });
    expect(await s.run(["supervisor", "task-history"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "makima: no task: give the task id or set MAKIMA_TASK_ID\n",
    });
    expect((await s.run(["supervisor", "task-history", taskId, "--format", "xml"])).code).toBe(2);
  });
});

describe.concurrent("makima checkpoint list and checkpoint-diff", () => {
  it("lists checkpoints by number as a table, and as the API's items in json", async () => {
    const api = (await s.api("GET", `/api/v1/mesh/tasks/${taskId}/checkpoints`)).body.items;
    const r = await s.run(["supervisor", "checkpoint-list", taskId], { env: { MAKIMA_NOW: twoHoursAfter(api[1].createdAt) } });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      "#  COMMIT   BRANCH             FILES  ADDED  REMOVED  CREATED                       MESSAGE",
      `1  aaaaaaa  makima/task/login            +3       -1  ${stamp(api[0].createdAt)} (2h ago)  router read`,
      `2  bbbbbbb  makima/task/login           +30       -0  ${stamp(api[1].createdAt)} (2h ago)  login page`,
    ]);
    const json = JSON.parse((await s.run(["supervisor", "checkpoint-list", taskId, "--format", "json"])).stdout);
    expect(json).toEqual({ taskId, items: api });
  });

  it("says when a task has no checkpoints", async () => {
    expect(await s.run(["supervisor", "checkpoint-list", supervisorId])).toEqual({ code: 0, stdout: "no checkpoints yet\n", stderr: "" });
  });

  it("needs a daemon for diffs: exit 1 with the one-line reason", async () => {
    const reason = "makima: no daemon of yours is online: start one with `makima daemon`, then try again\n";
    expect(await s.run(["supervisor", "checkpoint-diff", taskId, "2"])).toEqual({ code: 1, stdout: "", stderr: reason });
    expect(await s.run(["supervisor", "checkpoint-list", taskId, "--with-diff"])).toEqual({ code: 1, stdout: "", stderr: reason });
  });

  it("resolves checkpoint numbers: an unknown one is exit 1, a bad one exit 2", async () => {
    expect(await s.run(["supervisor", "checkpoint-diff", taskId, "5"])).toEqual({
      code: 1,
      stdout: "",
      stderr: `makima: task ${taskId} has no checkpoint 5 (it has checkpoints 1–2) [404 not_found]\n`,
    });
    expect(await s.run(["supervisor", "checkpoint-diff", taskId, "two"])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'makima: "two" is not a checkpoint number (1, 2, …: see `makima checkpoint list`)\n',
    });
    expect(await s.run(["supervisor", "checkpoint-diff", taskId])).toEqual({
      code: 2,
      stdout: "",
      stderr: "makima: give the checkpoint number: makima checkpoint diff [taskId] <checkpointNumber>\n",
    });
  });

  it("takes the task from MAKIMA_TASK_ID when only the number is given", async () => {
    const r = await s.run(["supervisor", "checkpoint-diff", "7"], { env: { MAKIMA_TASK_ID: taskId } });
    expect(r.stderr).toBe(`makima: task ${taskId} has no checkpoint 7 (it has checkpoints 1–2) [404 not_found]\n`);
  });
});

describe.concurrent("the no-daemon path of code rewinds", () => {
  it("task-rewind keeping a branch fails with exit 1 and the reason, nothing asked", async () => {
    expect(await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1"])).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: no daemon of yours is online: start one with `makima daemon`, then try again\n",
    });
  });
});

describe.concurrent("configuration", () => {
  it("says what to set when nothing is configured (exit 2)", async () => {
    const r = await s.run(["supervisor", "task-history", taskId], { env: { MAKIMA_API_URL: undefined, MAKIMA_API_KEY: undefined } });
    const config = join(s.configHome, "makima", "config.json");
    expect(r).toEqual({
      code: 2,
      stdout: "",
      stderr: `makima: no API URL: looked in --api-url, MAKIMA_API_URL, .makima/local.json in ${s.cwd} and its parents (none), ${config} (none). Run \`makima login\` for a deployed stage, or \`npm start\` in the makima-history clone for the local stack.\n`,
    });
    const noKey = await s.run(["supervisor", "task-history", taskId], { env: { MAKIMA_API_KEY: undefined } });
    expect(noKey.stderr).toBe(
      `makima: no API key: looked in --api-key, MAKIMA_API_KEY, .makima/local.json in ${s.cwd} and its parents (none), ${config} (none). Run \`makima login\` for a deployed stage, or \`npm start\` in the makima-history clone for the local stack (a key mk_…).\n`,
    );
  });

  it("reads .makima/local.json from the working directory or a parent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "makima-cli-local-"));
    mkdirSync(join(dir, ".makima"));
    writeFileSync(
      join(dir, ".makima", "local.json"),
      JSON.stringify({ apiUrl: s.stack.apiUrl, wsUrl: s.stack.wsUrl, apiKey: s.apiKey, daemonKey: s.daemonKey, ownerId: s.ownerId }),
    );
    mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
    const env = { MAKIMA_API_URL: undefined, MAKIMA_API_KEY: undefined };
    for (const cwd of [dir, join(dir, "sub", "deeper")]) {
      const r = await s.run(["supervisor", "task-history", taskId, "--format", "json", "--limit", "1"], { env, cwd });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).messages[0].id).toBe("m1");
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("prefers flags to the environment", async () => {
    const r = await s.run(["supervisor", "task-history", taskId, "--api-key", "mk_not_a_real_key"]);
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: "makima: the API refused the key: this key is not valid (revoked or mistyped); check --api-key or MAKIMA_API_KEY\n",
    });
    const ok = await s.run(["supervisor", "task-history", taskId, "--api-url", s.stack.apiUrl, "--format", "json"], {
      env: { MAKIMA_API_URL: "http://127.0.0.1:9" },
    });
    expect(ok.code).toBe(0);
  });

  it("fails with exit 1 and one line when the API cannot be reached", async () => {
    const r = await s.run(["contract", "list"], { env: { MAKIMA_API_URL: "http://127.0.0.1:9" } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^makima: cannot reach the API at http:\/\/127\.0\.0\.1:9 \(.+\): is it running\? \(`npm start` runs it locally\)\n$/);
  });
});

describe.concurrent("colours", () => {
  const args = () => ["supervisor", "checkpoint-list", taskId];

  it("prints none when stdout is not a terminal", async () => {
    const r = await s.run(args(), { env: { NO_COLOR: undefined } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(ANSI);
  });

  it("prints them when forced, never with NO_COLOR", async () => {
    const forced = await s.run(args(), { env: { NO_COLOR: undefined, FORCE_COLOR: "1" } });
    expect(forced.stdout).toMatch(ANSI);
    const both = await s.run(args(), { env: { NO_COLOR: "1", FORCE_COLOR: "1" } });
    expect(both.stdout).not.toMatch(ANSI);
    const json = await s.run([...args(), "--format", "json"], { env: { NO_COLOR: undefined, FORCE_COLOR: "1" } });
    expect(json.stdout).not.toMatch(ANSI);
  });
});

describe.concurrent("help and usage", () => {
  it("prints help with exit 0, and a bare group's help with exit 2", async () => {
    const help = await s.run(["supervisor", "task-rewind", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--preserve <mode>");
    expect(help.stdout).toContain('default: "create_branch"');
    const bare = await s.run(["supervisor"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("task-rewind");
    expect(await s.run(["nope"])).toEqual({ code: 2, stdout: "", stderr: "makima: unknown command 'nope' (see `makima --help`)\n" });
    expect(await s.run(["tsk", "list"])).toEqual({ code: 2, stdout: "", stderr: "makima: unknown command 'tsk' (did you mean task?) (see `makima --help`)\n" });
    expect((await s.run(["-v"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await s.run(["-V"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
