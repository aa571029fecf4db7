import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestOwner } from "./support/api.js";
import { parseTranscript } from "../core/transcripts/formats.js";
import * as z from "zod";
import { ConversationMessage } from "../core/models.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let bob: TestOwner;

const FIXTURES = join(import.meta.dirname, "fixtures", "transcripts");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
/** A real Claude Code 2.1 session and its sub-agents, as they lie under ~/.claude/projects. */
const SESSION_ID = "4d5611e5-241a-462a-8d15-5122611a9569";
const SESSION = `claude-projects/-home-USER-projects-spotter-worktrees-spotter-dov/${SESSION_ID}.jsonl`;
const SUB_AGENT = `claude-projects/-home-USER-projects-spotter-worktrees-spotter-dov/${SESSION_ID}/subagents/agent-a2898e3.jsonl`;

/** True when every tool result comes after the message that made its call. */
const resultsFollowCalls = (messages: Pick<ConversationMessage, "id" | "role" | "toolCalls">[]) => {
  const callAt = new Map<string, number>();
  messages.forEach((m, i) => m.toolCalls?.forEach((c) => callAt.set(c.id, i)));
  return messages.every((m, i) => m.role !== "tool" || (callAt.get(m.id) ?? Infinity) < i);
};

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  bob = await api.newOwner("bob");
});

const importFile = (owner: TestOwner, fileName: string, extra: Record<string, unknown> = {}) =>
  api.call("POST", "/api/v1/mesh/tasks/import", { key: owner.apiKey, body: { fileName, content: fixture(fileName), ...extra } });

async function conversation(owner: TestOwner, taskId: string) {
  const res = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/conversation?limit=200`, { key: owner.apiKey });
  expect(res.status).toBe(200);
  return z.array(ConversationMessage).parse(res.body.messages);
}

describe("parsing real transcripts", () => {
  it("reads a Claude Code session with branches: the active line, the other branch as a fork, tool results joined", () => {
    const t = parseTranscript(fixture("claude-fork-session.jsonl"), "claude-fork-session.jsonl");
    expect(t.format).toBe("claude-code");
    expect(t.sourceId).toBe("claude-code:fork-session-001");
    // The last line's branch (MergeSort) is active: 1 user, 1 assistant, then 2 + 3 + 3 + 3 of its own lines, results split out.
    expect(t.messages.map((m) => m.id)).toEqual(["fu1-fork", "fa1-fork", "fu2b-fork", "fa2b-fork", "toolu_f002", "fa3b-fork", "fu4b-fork", "fa4b-fork", "toolu_f003", "fa5b-fork"]);
    expect(t.branches).toHaveLength(1);
    expect(t.branches[0]).toMatchObject({ id: "fa3a-fork", forkAfterMessageId: "fa1-fork" });
    expect(t.branches[0]!.messages.map((m) => m.id)).toEqual(["fu2a-fork", "fa2a-fork", "toolu_f001", "fa3a-fork"]);
    expect(t.stats).toMatchObject({ lines: 14, toolCalls: 3, toolResultsJoined: 3 });
    const result = t.messages.find((m) => m.id === "toolu_f002")!;
    expect(result).toMatchObject({ role: "tool", toolName: "Write", toolResult: "File created successfully", timestamp: "2025-12-10T09:01:12.000Z" });
    expect((result.toolInput as { file_path: string }).file_path).toBe("/home/testuser/fork-project/mergesort.py");
    expect(t.messages.find((m) => m.id === "fa2b-fork")).toMatchObject({ tokenCount: 280, toolCalls: [{ id: "toolu_f002", name: "Write" }] });
    expect(t.metadata).toMatchObject({ cwd: "/home/testuser/fork-project", gitBranch: "main", version: "2.0.75", models: ["claude-sonnet-4-20250514"] });
  });

  it("takes the branch a leafUuid names as the active line when it lies off the last line's", () => {
    const named = `${fixture("claude-fork-session.jsonl").trimEnd()}\n${JSON.stringify({ type: "last-prompt", lastPrompt: "", leafUuid: "fa3a-fork", sessionId: "fork-session-001" })}\n`;
    const t = parseTranscript(named, "claude-fork-session.jsonl");
    expect(t.messages.map((m) => m.id)).toEqual(["fu1-fork", "fa1-fork", "fu2a-fork", "fa2a-fork", "toolu_f001", "fa3a-fork"]);
    expect(t.branches.map((b) => [b.forkAfterMessageId, b.messages[0]!.id])).toEqual([["fa1-fork", "fu2b-fork"]]);
  });

  it("keeps a compaction boundary and the summary as system messages across the boundary", () => {
    const t = parseTranscript(fixture("claude-compaction-session.jsonl"), "c.jsonl");
    expect(t.messages).toHaveLength(14);
    expect(t.messages.filter((m) => m.role === "system").map((m) => m.id)).toEqual(["compact-boundary-001", "summary-001"]);
    expect(t.messages.at(-1)!.id).toBe("ca6-compact");
    expect(t.stats).toMatchObject({ toolCalls: 3, toolResultsJoined: 3 });
  });

  it("counts what a real session holds beside messages and follows its leafUuid", () => {
    const t = parseTranscript(fixture("claude-real-session.jsonl"), "r.jsonl");
    expect(t.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(t.stats.skipped).toEqual({ "queue-operation": 2, "last-prompt": 1 });
    expect(t.messages[1]!.tokenCount).toBe(22);
    expect(t.metadata).toMatchObject({ version: "2.1.152", entrypoint: "sdk-cli", models: ["claude-opus-4-7"] });
  });

  it("reads a real Claude Code 2.1 session whole: parallel calls, progress lines and a compaction with its logical parent missing are one line, not branches", () => {
    const t = parseTranscript(fixture(SESSION), `${SESSION_ID}.jsonl`);
    expect(t.sourceId).toBe(`claude-code:${SESSION_ID}`);
    expect(t.branches).toEqual([]);
    expect(t.messages).toHaveLength(294);
    expect(t.stats).toMatchObject({ lines: 1512, toolCalls: 150, toolResultsJoined: 150 });
    expect(t.stats.skipped).toMatchObject({ progress: 1083, "file-history-snapshot": 14, "system:turn_duration": 2 });
    expect(t.messages.filter((m) => m.role === "tool")).toHaveLength(150);
    expect(t.messages.flatMap((m) => m.toolCalls ?? [])).toHaveLength(150);
    expect(resultsFollowCalls(t.messages)).toBe(true);
    // The first reply was written as four lines (thinking, text, two Bash calls whose results hang off each call): it is one message again.
    expect(t.messages[0]).toMatchObject({ role: "user", timestamp: "2026-02-12T16:02:25.284Z", content: expect.stringMatching(/^Work on bead spotter-dov/) });
    expect(t.messages[1]).toMatchObject({ id: "cb6290e9-ebd3-4615-97c1-9fb77b4c5e99", role: "assistant", tokenCount: 12 });
    expect(t.messages[1]!.toolCalls!.map((c) => c.name)).toEqual(["Bash", "Bash"]);
    expect(t.messages[1]!.content).toMatch(/^<thinking>\nLet me start by checking/);
    expect(t.messages.slice(2, 4).map((m) => m.id)).toEqual(t.messages[1]!.toolCalls!.map((c) => c.id));
    // Across the compaction: the boundary and the summary Claude Code wrote as the user's are system messages, after the last line before it.
    const boundary = t.messages.findIndex((m) => m.id === "dd3cc2e6-a191-4331-a0f0-2473e6d7692d");
    expect(t.messages[boundary - 1]).toMatchObject({ id: "toolu_017apUgL1dk6KNAsRFAaFV2n", role: "tool" });
    expect(t.messages[boundary]).toMatchObject({ role: "system", content: "Conversation compacted" });
    expect(t.messages[boundary + 1]).toMatchObject({ role: "system", content: expect.stringMatching(/^This session is being continued/) });
    expect(t.messages.at(-1)).toMatchObject({ role: "assistant", timestamp: "2026-02-12T21:03:34.112Z" });
    expect(t.metadata).toMatchObject({ version: "2.1.39", gitBranch: "spotter-dov", cwd: "/home/USER/projects/spotter-worktrees/spotter-dov", models: ["claude-opus-4-6"] });
  });

  it("reads a real sub-agent transcript as a child of its session, its parallel calls each answered", () => {
    const t = parseTranscript(fixture(SUB_AGENT), "agent-a2898e3.jsonl");
    expect(t.sourceId).toBe(`claude-code:${SESSION_ID}:agent-a2898e3`);
    expect(t.parentSourceId).toBe(`claude-code:${SESSION_ID}`);
    expect(t.name).toMatch(/^agent a2898e3: Very thorough exploration/);
    expect(t.branches).toEqual([]);
    expect(t.messages.map((m) => m.role).filter((r) => r !== "tool")).toEqual(["user", ...Array(12).fill("assistant")]);
    expect(t.stats).toMatchObject({ lines: 144, toolCalls: 33, toolResultsJoined: 33, skipped: { progress: 70 } });
    expect(Math.max(...t.messages.map((m) => m.toolCalls?.length ?? 0))).toBe(9);
    expect(resultsFollowCalls(t.messages)).toBe(true);
    expect(t.metadata).toMatchObject({ agentId: "a2898e3", version: "2.1.39", models: ["claude-sonnet-4-5-20250929"] });
  });

  it("reads a real Claude Code 1.0 session with a summary line and sub-agents written inline: named by its summary, each sub-agent a branch named for its prompt", () => {
    const t = parseTranscript(fixture("claude-inline-subagents-session.jsonl"), "fe5e1c67.jsonl");
    expect(t.sourceId).toBe("claude-code:fe5e1c67-53e7-4862-81ae-d0e013e3270b");
    expect(t.parentSourceId).toBeUndefined();
    expect(t.name).toBe("Empty Repo Setup: CLAUDE.md Foundation Created");
    expect(t.stats).toMatchObject({ lines: 438, toolCalls: 167, toolResultsJoined: 167, skipped: { summary: 1 } });
    expect(t.messages).toHaveLength(23);
    // The command the user typed, then its expansion, which Claude Code wrote as the user's (isMeta): a note.
    expect(t.messages.slice(0, 2).map((m) => `${m.role}: ${m.content.slice(0, 18)}`)).toEqual(["user: <command-message>o", "system: Split complex task"]);
    expect(t.messages.at(-1)).toMatchObject({ role: "assistant", content: expect.stringMatching(/^CLAUDE\.md has been created/) });
    expect(t.branches.map((b) => [b.messages.length, b.forkAfterMessageId])).toEqual([[18, null], [68, null], [80, null], [50, null], [106, null]]);
    expect(t.branches.map((b) => b.name)).toEqual(expect.arrayContaining(["agent: Create TypeScript types and interfaces for a TODO app. Create a types/ d…"]));
    expect(t.branches.every((b) => b.name?.startsWith("agent: ") && resultsFollowCalls(b.messages))).toBe(true);
    expect(t.metadata).toMatchObject({ version: "1.0.98", models: ["claude-sonnet-4-20250514"] });
  });

  it("reads a real resumed Claude Code 2.1 session: named by its summary lines, the /exit branched off on resume kept in the conversation", () => {
    const t = parseTranscript(fixture("claude-resumed-session.jsonl"), "dc577197.jsonl");
    expect(t.name).toBe("Refactor entire list hierarchy from sessions to checkpoints");
    expect(t.stats).toMatchObject({ lines: 78, toolCalls: 12, toolResultsJoined: 12, skipped: { summary: 22 } });
    expect(t.branches).toEqual([]);
    // Claude Code hung its resume reply ("No response requested.") beside the /exit lines, off the same caveat.
    expect(t.messages.slice(0, 5).map((m) => `${m.role}: ${m.content.slice(0, 24)}`)).toEqual([
      "system: <local-command-caveat>Ca",
      "user: <command-name>/exit</com",
      "user: <local-command-stdout>By",
      "assistant: No response requested.",
      "user: can you update CLAUDE.md",
    ]);
    expect(t.messages).toHaveLength(32);
    expect(resultsFollowCalls(t.messages)).toBe(true);
    // Without its summary lines it is named for the first prompt typed, not for the /exit.
    const unnamed = fixture("claude-resumed-session.jsonl").split("\n").filter((l) => !l.includes('"type":"summary"')).join("\n");
    expect(parseTranscript(unnamed, "dc577197.jsonl").name).toMatch(/^can you update CLAUDE\.md/);
  });

  it("reads Codex rollouts: calls joined to outputs by call_id, reasoning and compaction kept", () => {
    const t = parseTranscript(fixture("codex-compaction-rollout.jsonl"), "rollout.jsonl");
    expect(t.format).toBe("codex");
    expect(t.sourceId).toBe("codex:compact-codex-001");
    expect(t.stats).toMatchObject({ lines: 20, toolCalls: 2, toolResultsJoined: 2 });
    expect(t.messages).toHaveLength(15);
    const call = t.messages.find((m) => m.toolCalls?.[0]?.id === "call_compact_001")!;
    expect(call).toMatchObject({ role: "assistant", content: expect.stringContaining("router structure"), toolCalls: [{ name: "shell", input: { command: "cat src/routes.py" } }] });
    expect(t.messages.find((m) => m.id === "call_compact_001")).toMatchObject({ role: "tool", toolName: "shell", toolResult: expect.stringContaining("Blueprint") });
    expect(t.messages.filter((m) => m.role === "system")).toHaveLength(1);
    expect(t.messages.filter((m) => m.content.startsWith("<thinking>"))).toHaveLength(2);
    expect(t.metadata).toMatchObject({ cli_version: "0.77.0", model: "gpt-4.5-turbo", git: { branch: "feature/api" } });
    const real = parseTranscript(fixture("codex-real-rollout.jsonl"), "real.jsonl");
    // The environment Codex writes as the user's is a note.
    expect(real.messages.map((m) => m.role)).toEqual(["system", "system", "user", "assistant"]);
    expect(real.messages.at(-1)).toMatchObject({ timestamp: "2026-06-05T04:58:26.681Z", tokenCount: 22549 });
    expect(real.stats.skipped["event_msg:token_count"]).toBe(1);
  });
});

describe("a real Codex TUI rollout", () => {
  it("reads its calls of every kind joined to their results, web searches as calls, the context Codex wrote as the user's as notes", () => {
    const t = parseTranscript(fixture("codex-tui-rollout.jsonl"), "rollout.jsonl");
    expect(t.sourceId).toBe("codex:019e1625-789d-76c0-80ab-3724b5ddb799");
    expect(t.name).toBe("show tools");
    expect(t.stats).toMatchObject({ lines: 386, toolCalls: 105, toolResultsJoined: 105, skipped: { "reasoning:encrypted": 25, "event_msg:token_count": 66 } });
    const calls = t.messages.flatMap((m) => m.toolCalls ?? []);
    expect(Object.fromEntries(["exec_command", "write_stdin", "apply_patch", "web_search", "update_plan"].map((n) => [n, calls.filter((c) => c.name === n).length]))).toEqual({
      exec_command: 43,
      write_stdin: 54,
      apply_patch: 3,
      web_search: 3,
      update_plan: 2,
    });
    expect(resultsFollowCalls(t.messages)).toBe(true);
    expect(t.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(["show tools", "let's update the defailt context compart to 90 in env var"]);
    expect(t.messages.filter((m) => m.role === "system").map((m) => m.content.slice(0, 21))).toEqual(["<permissions instruct", "# AGENTS.md instructi"]);
    expect(t.messages.find((m) => m.toolName === "web_search")).toMatchObject({ toolInput: { type: "search" }, toolResult: "completed" });
    expect(t.messages.filter((m) => m.tokenCount !== undefined)).toHaveLength(66);
    expect(t.metadata).toMatchObject({ cli_version: "0.125.0", originator: "codex-tui", model: "gpt-5.5", git: { branch: "feat/codex-agent-plugin" } });
  });

  it("imports whole, dated by its lines", async () => {
    const res = await importFile(alice, "codex-tui-rollout.jsonl");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ format: "codex", name: "show tools", messages: 178, appended: 178, toolCalls: 105, toolResultsJoined: 105 });
    const messages = await conversation(alice, res.body.taskId);
    expect(messages[0]).toMatchObject({ role: "system", timestamp: "2026-05-11T08:27:17.493Z" });
  });
});

describe("importing", () => {
  it("creates a task dated by its messages, twice gives the same task and adds nothing, branches become a fork", async () => {
    const first = await importFile(alice, "claude-fork-session.jsonl");
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ created: true, messages: 10, appended: 10, toolCalls: 3, toolResultsJoined: 3, name: "Help me implement a sorting algorithm" });
    expect(first.body.forks).toHaveLength(1);
    expect(first.body.forks[0]).toMatchObject({ forkedAtMessageId: "fa1-fork", messages: 4, appended: 4 });
    const taskId = first.body.taskId;

    const again = await importFile(alice, "claude-fork-session.jsonl");
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ taskId, created: false, appended: 0, forks: [{ taskId: first.body.forks[0].taskId, appended: 0 }] });

    const messages = await conversation(alice, taskId);
    expect(messages.map((m) => m.id)).toEqual(["fu1-fork", "fa1-fork", "fu2b-fork", "fa2b-fork", "toolu_f002", "fa3b-fork", "fu4b-fork", "fa4b-fork", "toolu_f003", "fa5b-fork"]);
    expect(messages[0]!.timestamp).toBe("2025-12-10T09:00:00.000Z");

    // The fork shows the parent's first two messages, then its own branch.
    const fork = await conversation(alice, first.body.forks[0].taskId);
    expect(fork.map((m) => m.id)).toEqual(["fu1-fork", "fa1-fork", "fu2a-fork", "fa2a-fork", "toolu_f001", "fa3a-fork"]);
    const forks = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/forks`, { key: alice.apiKey });
    expect(forks.body.items.map((t: { id: string }) => t.id)).toEqual([first.body.forks[0].taskId]);

    // History is dated by the session, so a time filter finds it on the day it happened.
    const day = await api.call("GET", `/api/v1/timeline?eventTypes=chat&from=2025-12-10T00:00:00Z&to=2025-12-11T00:00:00Z`, { key: alice.apiKey });
    const imported = day.body.items.filter((e: { taskId: string }) => e.taskId === taskId);
    expect(imported).toHaveLength(1);
    expect(imported[0]).toMatchObject({ eventSubtype: "imported", createdAt: "2025-12-10T09:00:00.000Z", eventData: { count: 10 } });
    const own = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/history?eventTypes=chat,task`, { key: alice.apiKey });
    expect(own.body.items.map((e: { eventType: string; eventSubtype: string }) => `${e.eventType}/${e.eventSubtype}`).sort()).toEqual(["chat/imported", "task/imported"]);
  });

  it("links a real sub-agent's transcript under its session's task and keeps its metadata", async () => {
    const session = await importFile(alice, "claude-fork-session.jsonl");
    const agent = await importFile(alice, SUB_AGENT, { parentTaskId: session.body.taskId });
    expect(agent.status).toBe(201);
    expect(agent.body).toMatchObject({ messages: 46, appended: 46, forks: [], toolCalls: 33, toolResultsJoined: 33 });
    const task = await api.call("GET", `/api/v1/mesh/tasks/${agent.body.taskId}`, { key: alice.apiKey });
    expect(task.body).toMatchObject({ forkedFromTaskId: session.body.taskId, messageCount: 46, status: "completed" });
    expect(agent.body.metadata).toMatchObject({ agentId: "a2898e3", version: "2.1.39" });
    const messages = await conversation(alice, agent.body.taskId);
    expect(messages[0]).toMatchObject({ role: "user", timestamp: "2026-02-12T16:02:48.183Z" });
    expect(resultsFollowCalls(messages)).toBe(true);
  });

  it("imports a session's inline sub-agents as forks named for them", async () => {
    const res = await importFile(alice, "claude-inline-subagents-session.jsonl");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "Empty Repo Setup: CLAUDE.md Foundation Created", messages: 23, appended: 23, toolCalls: 167, toolResultsJoined: 167 });
    expect(res.body.forks.map((f: { messages: number; forkedAtMessageId: string | null }) => [f.messages, f.forkedAtMessageId])).toEqual([[18, null], [68, null], [80, null], [50, null], [106, null]]);
    const fork = await api.call("GET", `/api/v1/mesh/tasks/${res.body.forks[2].taskId}`, { key: alice.apiKey });
    expect(fork.body).toMatchObject({ name: "agent: Create TypeScript types and interfaces for a TODO app. Create a types/ d…", forkedFromTaskId: res.body.taskId, messageCount: 80 });
  });

  it("imports Codex rollouts and OpenAI messages", async () => {
    const codex = await importFile(alice, "codex-compaction-rollout.jsonl");
    expect(codex.body).toMatchObject({ format: "codex", messages: 15, appended: 15, toolResultsJoined: 2 });
    const real = await importFile(alice, "codex-real-rollout.jsonl");
    expect(real.body).toMatchObject({ format: "codex", messages: 4, appended: 4 });
    const openai = [
      { role: "user", content: "What is in the folder?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "ls", arguments: '{"path":"."}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "a.txt" },
      { role: "assistant", content: "One file, a.txt." },
    ];
    const body = { format: "openai", content: JSON.stringify(openai) };
    const first = await api.call("POST", "/api/v1/mesh/tasks/import", { key: alice.apiKey, body });
    expect(first.body).toMatchObject({ messages: 4, appended: 4, toolCalls: 1, toolResultsJoined: 1 });
    const again = await api.call("POST", "/api/v1/mesh/tasks/import", { key: alice.apiKey, body });
    expect(again.body).toMatchObject({ taskId: first.body.taskId, appended: 0 });
    const messages = await conversation(alice, first.body.taskId);
    expect(messages[2]).toMatchObject({ id: "call_1", role: "tool", toolName: "ls", toolInput: { path: "." }, toolResult: "a.txt" });
  });

  it("names a broken line 7 by file and line and stores nothing", async () => {
    const lines = fixture("claude-compaction-session.jsonl").split("\n");
    lines[6] = lines[6]!.slice(0, 40);
    const res = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { fileName: "broken.jsonl", content: lines.join("\n") } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "transcript_line_invalid", details: [{ path: "broken.jsonl:7" }] });
    expect(res.body.error.message).toMatch(/^broken\.jsonl:7: not JSON/);
    const timeline = await api.call("GET", "/api/v1/timeline", { key: bob.apiKey });
    expect(timeline.body.items).toEqual([]);
    // A line of the right JSON but the wrong shape is named too.
    const wrong = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { format: "codex", fileName: "r.jsonl", content: '{"timestamp":"2025-01-01T00:00:00Z","type":"response_item","payload":{"type":"function_call","name":"x"}}' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details[0].path).toBe("r.jsonl:1");
  });

  it("answers a session with no messages (started and left at once) with a 400 and stores nothing", async () => {
    const content = [
      { type: "file-history-snapshot", messageId: "m1", snapshot: { trackedFileBackups: {} }, isSnapshotUpdate: false },
      { type: "progress", uuid: "p1", parentUuid: null, sessionId: "idle-session", timestamp: "2026-02-01T10:00:00.000Z", data: { type: "hook_progress" } },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n");
    const res = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { fileName: "idle.jsonl", content } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "transcript_empty", message: "claude-code:idle-session holds no messages (2 lines: 1 file-history-snapshot, 1 progress): nothing to import" });
    const timeline = await api.call("GET", "/api/v1/timeline", { key: bob.apiKey });
    expect(timeline.body.items).toEqual([]);
  });

  it("answers hostile transcripts with a 4xx: too deep, too large, not a transcript", async () => {
    const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
    const line = `{"type":"assistant","uuid":"d1","parentUuid":null,"sessionId":"deep","timestamp":"2026-01-01T00:00:00.000Z","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"x","input":{"a":${deep}}}]}}`;
    const tooDeep = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { fileName: "deep.jsonl", content: line } });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error.details[0].path).toBe("deep.jsonl:1");
    const big = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { content: "x".repeat(950 * 1024) } });
    expect(big.status).toBe(400);
    const huge = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { content: "x".repeat(1100 * 1024) } });
    expect(huge.status).toBe(413);
    const unknown = await api.call("POST", "/api/v1/mesh/tasks/import", { key: bob.apiKey, body: { content: '{"hello":"world"}' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe("transcript_line_invalid");
  });

  it("keeps each owner's imports apart: the same session is another task for another owner, and another owner's task is a 404", async () => {
    const mine = await importFile(alice, "claude-real-session.jsonl");
    const theirs = await importFile(bob, "claude-real-session.jsonl");
    expect(theirs.status).toBe(201);
    expect(theirs.body.taskId).not.toBe(mine.body.taskId);
    const into = await api.call("POST", `/api/v1/mesh/tasks/${mine.body.taskId}/import`, { key: bob.apiKey, body: { content: fixture("claude-real-session.jsonl") } });
    expect(into.status).toBe(404);
    const exported = await api.call("GET", `/api/v1/mesh/tasks/${mine.body.taskId}/export`, { key: bob.apiKey });
    expect(exported.status).toBe(404);
  });
});
