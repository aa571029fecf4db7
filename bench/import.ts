import type { ServiceContext } from "../core/services/context.js";
import type { Relay } from "../core/relay.js";
import { importTranscript } from "../core/services/importTranscript.js";
import { parseTranscript } from "../core/transcripts/formats.js";
import { createBenchDb, formatNumber, invokedDirectly, withEmulators, writeBenchResult } from "./support.js";

/**
 * Importing a long Claude Code session: a 20,000-line transcript (prompts,
 * tool calls, their results, answers; about 300 bytes a message) parsed and
 * imported through the conversation's append path, then imported again
 * (which adds nothing). Prints messages/s for each and the write units per
 * imported message, transactions costed as AWS charges them.
 */

const LINES = 20_000;
const OWNER = "bench-import-owner";

/** A Claude Code session of `lines` lines, each a message, chained by parentUuid. */
export function claudeSession(lines: number): string {
  const out: string[] = [];
  let parent: string | null = null;
  const start = Date.UTC(2026, 0, 5, 9);
  for (let i = 0; i < lines; i++) {
    const uuid = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
    const base = { parentUuid: parent, isSidechain: false, userType: "external", cwd: "/work/app", sessionId: "bench-session", version: "2.1.0", gitBranch: "main", uuid, timestamp: new Date(start + i * 1000).toISOString() };
    const call = `toolu_${Math.floor(i / 4)}`;
    const line =
      i % 4 === 0
        ? { ...base, type: "user", message: { role: "user", content: `Step ${i / 4}: look at src/module${i % 97}.ts and tell me what the exported function does, then fix its error handling.` } }
        : i % 4 === 1
          ? { ...base, type: "assistant", message: { role: "assistant", model: "claude-sonnet-4-5", content: [{ type: "text", text: "Reading the file first." }, { type: "tool_use", id: call, name: "Read", input: { file_path: `/work/app/src/module${i % 97}.ts` } }], usage: { input_tokens: 1200, output_tokens: 40 } } }
          : i % 4 === 2
            ? { ...base, type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: call, content: `export function run${i}(input: string) {\n  return JSON.parse(input);\n}\n` }] } }
            : { ...base, type: "assistant", message: { role: "assistant", model: "claude-sonnet-4-5", content: [{ type: "text", text: `run${i - 1} parses its input as JSON and throws on bad input; I wrapped it in a try/catch that returns a typed error.` }], usage: { input_tokens: 1300, output_tokens: 60 } } };
    out.push(JSON.stringify(line));
    parent = uuid;
  }
  return `${out.join("\n")}\n`;
}

export async function runImportBench(): Promise<void> {
  const text = claudeSession(LINES);
  let started = performance.now();
  const transcript = parseTranscript(text, "bench-session.jsonl");
  const parseMs = performance.now() - started;
  const count = transcript.messages.length;
  console.log(`transcript: ${formatNumber(LINES)} lines, ${(text.length / 1024 / 1024).toFixed(1)} MB, ${formatNumber(count)} messages, ${transcript.stats.toolResultsJoined} tool results joined`);
  console.log(`parse: ${formatNumber(parseMs)} ms (${formatNumber(count / (parseMs / 1000))} messages/s)`);
  await withEmulators(async (emulators) => {
    const db = await createBenchDb(emulators, "import");
    const ctx: ServiceContext = { db, relay: {} as Relay, principal: { ownerId: OWNER, via: "api_key", keyId: "bench" } };
    db.meter.reset();
    const before = db.table.modelledWrite;
    started = performance.now();
    const first = await importTranscript(ctx, transcript);
    const importMs = performance.now() - started;
    const units = db.table.modelledWrite - before;
    console.log(`import: ${formatNumber(first.appended)} messages in ${(importMs / 1000).toFixed(1)} s: ${formatNumber(first.appended / (importMs / 1000))} messages/s`);
    console.log(`write units per imported message: ${(units / first.appended).toFixed(3)} (${formatNumber(units)} in all, pages of up to 500 with their history events)`);
    started = performance.now();
    const again = await importTranscript(ctx, transcript);
    const againMs = performance.now() - started;
    console.log(`import again: ${again.appended} added, ${(againMs / 1000).toFixed(1)} s (${formatNumber(count / (againMs / 1000))} messages/s checked)`);
    writeBenchResult("import", {
      "messages/s": Math.round(first.appended / (importMs / 1000)),
      "parse messages/s": Math.round(count / (parseMs / 1000)),
      "write units per imported message": Number((units / first.appended).toFixed(3)),
    });
  });
}

if (invokedDirectly(import.meta.url)) await runImportBench();
