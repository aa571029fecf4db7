import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseTranscript } from "../core/transcripts/formats.js";
import { writeClaudeSession, type TurnShape } from "./support/claudeSession.js";

const turn: fc.Arbitrary<TurnShape> = fc.record({
  calls: fc.integer({ min: 0, max: 4 }),
  progress: fc.integer({ min: 0, max: 3 }),
  thinking: fc.boolean(),
  hang: fc.constantFrom("progress" as const, "result" as const, "alternate" as const),
  edited: fc.boolean(),
  bookkeeping: fc.boolean(),
});

describe("a Claude Code session read back from its uuid tree", () => {
  it("is the conversation the session went on with, whatever way its lines hang: each reply one message with all its calls, every result after its call, one fork per edited prompt", () => {
    fc.assert(
      fc.property(fc.array(turn, { minLength: 1, maxLength: 8 }), (turns) => {
        const written = writeClaudeSession(turns);
        const t = parseTranscript(written.text, "session.jsonl");
        expect(t.stats).toMatchObject({ lines: written.lines, toolCalls: written.toolCalls, toolResultsJoined: written.toolCalls });
        expect(t.messages).toHaveLength(written.messages);
        expect(new Set(t.messages.map((m) => m.id)).size).toBe(t.messages.length);
        const calls = t.messages.flatMap((m, i) => (m.toolCalls ?? []).map((c) => ({ id: c.id, at: i })));
        expect(calls).toHaveLength(written.toolCalls);
        for (const { id, at } of calls) expect(t.messages.findIndex((m) => m.role === "tool" && m.id === id)).toBeGreaterThan(at);
        // Per turn: the prompt, then one reply holding every call of the turn.
        turns.forEach((shape, i) => {
          const reply = t.messages.find((m) => m.role === "assistant" && m.content.includes("Reading the files first.") && m.toolCalls?.[0]?.id === `toolu_${i}_0`);
          if (shape.calls) expect(reply?.toolCalls).toHaveLength(shape.calls);
        });
        expect(t.messages.filter((m) => m.role === "user")).toHaveLength(turns.length);
        expect(t.branches.map((b) => b.forkAfterMessageId)).toEqual(written.branchesAfter);
        expect(t.branches.every((b) => b.messages.length === 2 && b.messages[0]!.content.includes("first try"))).toBe(true);
        // A leafUuid naming a line of the conversation the session went on with changes nothing.
        for (const leafUuid of written.sideLines.slice(0, 3)) {
          const hinted = parseTranscript(`${written.text}${JSON.stringify({ type: "last-prompt", leafUuid, sessionId: "prop-session" })}\n`, "session.jsonl");
          expect(hinted.messages.map((m) => m.id)).toEqual(t.messages.map((m) => m.id));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("reads hostile trees whole and in bounds: sibling prompts give at most 100 forks and count the rest, a cycle and parents never written give one line", () => {
    const line = (i: number, parent: string | null) =>
      JSON.stringify({ type: i % 2 ? "assistant" : "user", uuid: `u${i}`, parentUuid: parent, timestamp: "2026-01-01T00:00:00.000Z", sessionId: "s", message: { role: i % 2 ? "assistant" : "user", content: `m${i}` } });
    const many = 5000;
    const siblings = parseTranscript(Array.from({ length: many }, (_, i) => line(i * 2, null)).join("\n"), "siblings.jsonl");
    expect(siblings.messages).toHaveLength(1);
    expect(siblings.branches).toHaveLength(100);
    expect(siblings.stats.skipped["branch:beyond-limit"]).toBe(many - 101);
    const cycle = parseTranscript(Array.from({ length: many }, (_, i) => line(i, `u${(i + 1) % many}`)).join("\n"), "cycle.jsonl");
    expect(cycle.messages.length + cycle.branches.reduce((n, b) => n + b.messages.length, 0)).toBe(many);
    const orphans = parseTranscript(Array.from({ length: many }, (_, i) => line(i, `gone${i}`)).join("\n"), "orphans.jsonl");
    expect(orphans.messages.map((m) => m.id)).toEqual(Array.from({ length: many }, (_, i) => `u${i}`));
    expect(orphans.branches).toEqual([]);
  });
});
