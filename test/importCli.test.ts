import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCliStack, type CliStack } from "./support/cli.js";

let s: CliStack;
const FIXTURES = join(import.meta.dirname, "fixtures", "transcripts");

// The local stack starts its emulators' tables and the gateway: slow on a busy machine.
beforeAll(async () => {
  s = await startCliStack();
}, 180_000);

afterAll(async () => {
  await s?.stop();
});

/** A ~/.claude/projects as Claude Code lays it out: one folder a project, sub-agents under their session's folder. */
function claudeProjects(): string {
  const root = mkdtempSync(join(tmpdir(), "claude-projects-"));
  cpSync(join(FIXTURES, "claude-projects"), root, { recursive: true });
  mkdirSync(join(root, "-home-testuser-fork-project"));
  copyFileSync(join(FIXTURES, "claude-fork-session.jsonl"), join(root, "-home-testuser-fork-project", "fork-session-001.jsonl"));
  // A session started and left at once: a snapshot line, no message.
  writeFileSync(join(root, "-home-testuser-fork-project", "idle-session.jsonl"), `${JSON.stringify({ type: "file-history-snapshot", messageId: "m1", snapshot: {}, isSnapshotUpdate: false })}\n`);
  return root;
}

// Each case runs the CLI several times as child processes: generous bounds for a busy machine.
describe("makima import and export", { timeout: 240_000 }, () => {
  it("imports every session of a projects folder, one task each, grouped by project, sub-agents under their session; again, nothing new", async () => {
    const root = claudeProjects();
    const first = await s.run(["import", root, "--json"]);
    expect(first.stderr).toContain("-home-testuser-fork-project");
    expect(first.stderr).toContain("1 compaction run (agent-acompact-*.jsonl) left out");
    expect(first.stderr).toMatch(/idle-session\.jsonl: no messages in it \(1 line: 1 file-history-snapshot\), nothing to import/);
    expect(first.code).toBe(0);
    const results = JSON.parse(first.stdout) as Array<{ file: string; taskId: string; appended: number; created: boolean; forks: unknown[] }>;
    expect(results.map((r) => basename(r.file))).toEqual(["fork-session-001.jsonl", "4d5611e5-241a-462a-8d15-5122611a9569.jsonl", "agent-a2898e3.jsonl"]);
    // The real session is over a request's size: it went in pages, and whole.
    expect(results.map((r) => r.appended)).toEqual([10, 294, 46]);
    expect(results.map((r) => r.forks.length)).toEqual([1, 0, 0]);
    const [, session, agent] = results;
    const agentTask = await s.api("GET", `/api/v1/mesh/tasks/${agent!.taskId}`);
    expect(agentTask.body.forkedFromTaskId).toBe(session!.taskId);
    const sessionTask = await s.api("GET", `/api/v1/mesh/tasks/${session!.taskId}`);
    expect(sessionTask.body).toMatchObject({ messageCount: 294, name: expect.stringMatching(/^Work on bead spotter-dov/) });

    const again = await s.run(["import", root]);
    expect(again.code).toBe(0);
    expect(again.stdout.match(/already imported/g)).toHaveLength(3);
  });

  it("names a broken line by file and line number and sends nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broken-"));
    const lines = readFileSync(join(FIXTURES, "codex-real-rollout.jsonl"), "utf8").split("\n");
    lines[6] = "{not json";
    const file = join(dir, "rollout-broken.jsonl");
    writeFileSync(file, lines.join("\n"));
    const res = await s.run(["import", file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${file}:7: not JSON`);
    const timeline = await s.api("GET", "/api/v1/timeline?eventTypes=chat&from=2026-06-05T00:00:00Z&to=2026-06-06T00:00:00Z");
    expect(timeline.body.items).toEqual([]);
  });

  it("exports a task as Markdown to a file, and redacts on request", async () => {
    const dir = mkdtempSync(join(tmpdir(), "export-"));
    const imported = await s.run(["import", join(FIXTURES, "codex-compaction-rollout.jsonl"), "--json"]);
    const taskId = (JSON.parse(imported.stdout) as Array<{ taskId: string }>)[0]!.taskId;
    const out = join(dir, "session.md");
    const res = await s.run(["export", taskId, "--format", "markdown", "-o", out]);
    expect(res.code).toBe(0);
    const md = readFileSync(out, "utf8");
    expect(md).toMatch(/^# Help me build the API endpoints/);
    expect(md).toContain("**Tool call** `shell` (`call_compact_001`)");
    await s.api("POST", `/api/v1/mesh/tasks/${taskId}/messages`, { messages: [{ id: "leak", role: "user", content: "my token is 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", timestamp: "2025-10-28T06:00:00.000Z" }] });
    const redacted = await s.run(["export", taskId, "--format", "jsonl", "--redact"]);
    expect(redacted.code).toBe(0);
    expect(redacted.stdout).not.toContain("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");
    expect(redacted.stderr).toContain("1 secret redacted.");
    expect(redacted.stdout.split("\n").filter(Boolean).length).toBe(1 + 16);
  });
});
