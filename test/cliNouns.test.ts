/**
 * The CLI's noun-verb commands, the earlier names kept as aliases, short
 * ids, --json field selection, relative times, profiles and completion,
 * each run as a real `makima` process against the local stack.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { BIN, runProcess, startCliStack, type CliStack } from "./support/cli.js";

let s: CliStack;
let contractId: string;
let taskId: string;
let otherTaskId: string;

beforeAll(async () => {
  s = await startCliStack();
  contractId = (await s.api("POST", "/api/v1/contracts", { name: "nouns" })).body.id;
  taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "first", plan: "p", contractId })).body.id;
  otherTaskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "second", plan: "p", contractId })).body.id;
  for (const [n, sha] of [[1, "a".repeat(40)], [2, "b".repeat(40)]] as const) {
    await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: sha, branchName: "main", message: `step ${n}` });
  }
}, 120_000);
afterAll(async () => {
  await s?.stop();
});

describe("noun, then verb", () => {
  it("lists tasks, checkpoints and the timeline", async () => {
    const list = await s.run(["task", "list", "--contract", contractId]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(taskId.slice(-8));
    expect(list.stdout).toContain(otherTaskId.slice(-8));
    const checkpoints = await s.run(["checkpoint", "list", taskId, "--json", "checkpointNumber,message"]);
    expect(JSON.parse(checkpoints.stdout)).toEqual([{ checkpointNumber: 1, message: "step 1" }, { checkpointNumber: 2, message: "step 2" }]);
    const show = await s.run(["checkpoint", "show", taskId, "2"]);
    expect(show.stdout).toContain(`Checkpoint 2 of task ${taskId}: bbbbbbb on main "step 2"`);
    const timeline = await s.run(["timeline", "--since", "1d", "--json", "eventType,taskId"]);
    expect(timeline.code).toBe(0);
    expect(JSON.parse(timeline.stdout)).toContainEqual({ eventType: "task", taskId });
    const future = await s.run(["timeline", "--to", "2d"]);
    expect(future).toMatchObject({ code: 0, stdout: "no history events match\n" });
  }, 180_000);

  it("keeps every earlier command name working", async () => {
    for (const name of ["task-history", "checkpoint-list", "checkpoint-diff", "resume", "task-resume", "task-resume-from", "task-rewind", "undo-rewind", "rewind-conversation", "restore-conversation", "task-fork"]) {
      expect((await s.run(["supervisor", name, "--help"])).code, name).toBe(0);
    }
    for (const args of [["task", "rewind-conversation"], ["task", "restore-conversation"], ["task", "pause"], ["contract", "tasks"], ["contract", "history"], ["checkpoint", "create"]]) {
      expect((await s.run([...args, "--help"])).code, args.join(" ")).toBe(0);
    }
    const old = await s.run(["supervisor", "checkpoint-list", taskId]);
    expect(old.stdout).toContain("step 2");
    expect((await s.run(["--help"])).stdout).not.toContain("supervisor");
    const help = await s.run(["help", "checkpoint"]);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining("a task's checkpoints: create, list, show, diff") });
    expect((await s.run(["task"])).code).toBe(2);
  }, 300_000);

  it("takes a unique prefix or suffix of an id, and says when one is not unique", async () => {
    const bySuffix = await s.run(["task", "show", taskId.slice(-8), "--json", "id,name"]);
    expect({ code: bySuffix.code, stderr: bySuffix.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(bySuffix.stdout)).toEqual({ id: taskId, name: "first" });
    const byPrefix = await s.run(["contract", "show", contractId.slice(0, 30), "--json", "id"]);
    expect(JSON.parse(byPrefix.stdout)).toEqual({ id: contractId });
    // Made the same millisecond or so, UUIDv7s share their first characters.
    const shared = taskId.slice(0, 6);
    if (otherTaskId.startsWith(shared)) {
      const ambiguous = await s.run(["task", "show", shared]);
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toContain(`"${shared}" matches 2 tasks`);
    }
    const none = await s.run(["task", "show", "ffffffffffff"]);
    expect(none).toMatchObject({ code: 1, stderr: 'makima: no task of yours has an id starting or ending with "ffffffffffff" [404 not_found]\n' });
  }, 180_000);
});

describe("profiles", () => {
  it("are set with makima config and login, and read from any folder with no variables", async () => {
    const config = mkdtempSync(join(tmpdir(), "makima-config-"));
    const noVars = { MAKIMA_API_URL: undefined, MAKIMA_API_KEY: undefined, XDG_CONFIG_HOME: config };
    try {
      const badKey = await s.run(["login", "--api-url", s.stack.apiUrl, "--api-key", "mk_nope"], { env: noVars });
      expect(badKey.code).toBe(1);
      expect(badKey.stderr).toMatch(/^makima: not saved: the API refused the key/);
      const login = await s.run(["login", "--api-url", s.stack.apiUrl, "--profile", "here"], { env: noVars, input: `${s.apiKey}\n` });
      expect(login).toMatchObject({ code: 0, stdout: `Logged in to ${s.stack.apiUrl}: profile "here" (the default) saved in ${join(config, "makima", "config.json")}.\n` });
      expect(statSync(join(config, "makima", "config.json")).mode & 0o777).toBe(0o600);
      expect(JSON.parse((await s.run(["task", "show", taskId, "--json", "name"], { env: noVars })).stdout)).toEqual({ name: "first" });

      await s.run(["config", "set", "api-url", "http://127.0.0.1:9", "--profile", "other"], { env: noVars });
      const list = await s.run(["config", "list"], { env: noVars });
      expect(list.stdout).toContain("here (default)");
      expect(list.stdout).not.toContain(s.apiKey);
      const other = await s.run(["--profile", "other", "task", "show", taskId], { env: noVars });
      expect(other).toMatchObject({ code: 2, stderr: expect.stringContaining(`profile "other" has no apiKey`) });
      const missing = await s.run(["--profile", "nope", "task", "show", taskId], { env: noVars });
      expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining(`no profile "nope"`) });
      await s.run(["config", "set", "contract", contractId], { env: noVars });
      expect((await s.run(["task", "list"], { env: noVars })).stdout).toContain(otherTaskId.slice(-8));
      expect(readFileSync(join(config, "makima", "config.json"), "utf8")).toContain(contractId);
    } finally {
      rmSync(config, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("makima completion", () => {
  it("prints scripts bash accepts and fish understands", async () => {
    const bash = await s.run(["completion", "bash"]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -o default -F _makima makima");
    expect(bash.stdout).toContain("'create list diff show --help'");
    execFileSync("bash", ["-n"], { input: bash.stdout });
    const zsh = await s.run(["completion", "zsh"]);
    expect(zsh.stdout).toContain("bashcompinit");
    const fish = await s.run(["completion", "fish"]);
    expect(fish.stdout).toContain("complete -c makima -n \"not __fish_seen_subcommand_from");
    expect((await s.run(["completion", "tcsh"])).code).toBe(2);
  }, 120_000);
});

describe("the pager", () => {
  it.skipIf(!existsSync("/usr/bin/script"))("pages output longer than the terminal, and only that, unless --no-pager", async () => {
    const messages = Array.from({ length: 60 }, (_, i) => ({ role: "user", content: `message ${i + 1}` }));
    await s.api("POST", `/api/v1/mesh/tasks/${otherTaskId}/messages`, { messages });
    // A pager that marks what went through it; `script` gives the CLI a terminal.
    const env = { ...s.env, TERM: "xterm", MAKIMA_PAGER: "sed 's/^/PAGED /'" };
    const inTerminal = (args: string[]) => runProcess("/usr/bin/script", ["-qec", [process.execPath, BIN, ...args].join(" "), "/dev/null"], env, { cwd: s.cwd });
    const paged = await inTerminal(["task", "history", otherTaskId]);
    expect(paged.code).toBe(0);
    expect(paged.stdout).toContain("PAGED ");
    expect(paged.stdout).toContain("message 60");
    const unpaged = await inTerminal(["task", "history", otherTaskId, "--no-pager"]);
    expect(unpaged.stdout).toContain("message 60");
    expect(unpaged.stdout).not.toContain("PAGED ");
    const short = await inTerminal(["task", "show", otherTaskId]);
    expect(short.stdout).toContain('"second"');
    expect(short.stdout).not.toContain("PAGED ");
  }, 180_000);
});
