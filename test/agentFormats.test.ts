import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitAll, initRepo, removeTempDirs, tempDir, write } from "./support/git.js";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { lineTranslator } from "../daemon/ws/agentFormats.js";

/**
 * Lines as `claude -p --output-format stream-json --verbose` and `codex exec
 * --json` print them (their documented event shapes), turned into messages.
 */

const CLAUDE = [
  { type: "system", subtype: "init", session_id: "s-1", cwd: "/w", model: "claude-sonnet-4-5", tools: ["Bash"] },
  { type: "assistant", uuid: "a-1", session_id: "s-1", message: { id: "msg_1", role: "assistant", content: [{ type: "thinking", thinking: "list first" }, { type: "text", text: "Listing." }, { type: "tool_use", id: "toolu_1", name: "Bash", input: { command: "ls" } }], usage: { input_tokens: 10, output_tokens: 5 } } },
  { type: "user", uuid: "u-1", session_id: "s-1", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "a.txt\n", is_error: false }] } },
  { type: "assistant", uuid: "a-2", session_id: "s-1", message: { id: "msg_2", role: "assistant", content: [{ type: "text", text: "One file." }] } },
  { type: "result", subtype: "success", is_error: false, num_turns: 2, total_cost_usd: 0.0123, session_id: "s-1", result: "One file." },
];

const CODEX = [
  { type: "thread.started", thread_id: "th-1" },
  { type: "turn.started" },
  { type: "item.completed", item: { id: "item_0", type: "reasoning", text: "**Listing files**" } },
  { type: "item.started", item: { id: "item_1", type: "command_execution", command: "bash -lc ls", aggregated_output: "", status: "in_progress" } },
  { type: "item.completed", item: { id: "item_1", type: "command_execution", command: "bash -lc ls", aggregated_output: "a.txt\n", exit_code: 0, status: "completed" } },
  { type: "item.completed", item: { id: "item_2", type: "agent_message", text: "One file." } },
  { type: "turn.completed", usage: { input_tokens: 100, cached_input_tokens: 0, output_tokens: 10 } },
];

describe("agent output formats", () => {
  it("claude-stream-json: text and thinking, tool calls joined to their results, the result with its cost", () => {
    const t = lineTranslator("claude-stream-json");
    const messages = CLAUDE.flatMap((l) => t(l) ?? []);
    expect(messages).toMatchObject([
      { id: "a-1", role: "assistant", content: "<thinking>\nlist first\n</thinking>\n\nListing.", toolCalls: [{ id: "toolu_1", name: "Bash", input: { command: "ls" } }], tokenCount: 15 },
      { id: "toolu_1", role: "tool", toolName: "Bash", toolInput: { command: "ls" }, toolResult: "a.txt\n" },
      { id: "a-2", role: "assistant", content: "One file." },
      { id: "s-1:result", role: "system", costUsd: 0.0123 },
    ]);
  });

  it("claude-stream-json: a reply sent as an event per block counts its tokens once", () => {
    const t = lineTranslator("claude-stream-json");
    const block = (uuid: string, content: unknown) => ({ type: "assistant", uuid, message: { id: "msg_1", role: "assistant", content: [content], usage: { input_tokens: 3, output_tokens: 40 } } });
    const messages = [block("b-1", { type: "text", text: "Reading both." }), block("b-2", { type: "tool_use", id: "toolu_a", name: "Read", input: {} }), block("b-3", { type: "tool_use", id: "toolu_b", name: "Read", input: {} })].flatMap((l) => t(l) ?? []);
    expect(messages.map((m) => m.tokenCount)).toEqual([43, undefined, undefined]);
  });

  it("codex-json: completed items only, commands as a call and its result", () => {
    const t = lineTranslator("codex-json");
    const messages = CODEX.flatMap((l) => t(l) ?? []);
    expect(messages).toMatchObject([
      { id: "th-1:item_0", role: "assistant", content: "<thinking>\n**Listing files**\n</thinking>" },
      { id: "th-1:item_1", role: "assistant", toolCalls: [{ id: "th-1:item_1:call", name: "shell", input: { command: "bash -lc ls" } }] },
      { id: "th-1:item_1:call", role: "tool", toolName: "shell", toolResult: "a.txt\n" },
      { id: "th-1:item_2", role: "assistant", content: "One file." },
    ]);
  });

  it("makima: a line is a message as it is", () => {
    expect(lineTranslator("makima")({ role: "assistant", content: "hi" })).toBeUndefined();
  });
});

describe("a daemon running an agent that prints claude stream-json", () => {
  let env: RelayEnv;
  let owner: TestOwner;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 10_000, relayTimeoutMs: 10_000 });
    owner = await env.newOwner("stream-json");
  });
  afterAll(async () => {
    await env?.close();
    removeTempDirs();
  });

  it("stores its messages and the checkpoint after exactly the lines printed before the commit", { timeout: 240_000 }, async () => {
    const dir = tempDir("makima-agent-");
    const lines = CLAUDE.map((l) => JSON.stringify(l));
    writeFileSync(
      path.join(dir, "agent.mjs"),
      `import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
const lines = ${JSON.stringify(lines)};
for (const l of lines.slice(0, 3)) console.log(l);
writeFileSync("prompt.txt", process.argv.at(-1) + "\\n");
const env = { ...process.env, GIT_AUTHOR_NAME: "A", GIT_AUTHOR_EMAIL: "a@example.com", GIT_COMMITTER_NAME: "A", GIT_COMMITTER_EMAIL: "a@example.com" };
execFileSync("git", ["-c", "commit.gpgsign=false", "add", "-A"], { env });
execFileSync("git", ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "listed"], { env });
for (const l of lines.slice(3)) console.log(l);
`,
    );
    const daemon = await env.startTestDaemon(owner, { agentCommand: `"${process.execPath}" "${path.join(dir, "agent.mjs")}"`, agentFormat: "claude-stream-json" });
    const task = (await env.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "source", plan: "p" } })).body;
    const repo = initRepo(path.join(daemon.root, task.id));
    write(repo, "base.txt", "base\n");
    const sha = commitAll(repo, "base");
    const cp = (await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: owner.apiKey, body: { commitSha: sha, branchName: "main", message: "base" } })).body.checkpoint;
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/resume`, { key: owner.apiKey, body: { plan: "list" } });
    expect(res.status).toBe(201);
    const id = res.body.task.id;
    await waitFor(async () => (await env.call("GET", `/api/v1/mesh/tasks/${id}`, { key: owner.apiKey })).body.status === "completed", 120_000);
    const messages = (await env.call("GET", `/api/v1/mesh/tasks/${id}/conversation`, { key: owner.apiKey })).body.messages;
    expect(messages.map((m: { id: string; role: string }) => [m.id, m.role])).toEqual([
      ["a-1", "assistant"],
      ["toolu_1", "tool"],
      ["a-2", "assistant"],
      ["s-1:result", "system"],
    ]);
    const checkpoints = (await env.call("GET", `/api/v1/mesh/tasks/${id}/checkpoints`, { key: owner.apiKey })).body.items;
    // The commit came after the first three lines: the assistant's call and its result.
    expect(checkpoints.map((c: { message: string; messageCount: number }) => [c.message, c.messageCount])).toEqual([["listed", 2]]);
    // The plan was the agent's last argument, where `claude -p` takes its prompt.
    expect(readFileSync(path.join(daemon.root, id, "prompt.txt"), "utf8")).toBe("list\n");
  });
});
