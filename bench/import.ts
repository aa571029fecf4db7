import type { ServiceContext } from "../core/services/context.js";
import type { Relay } from "../core/relay.js";
import { importTranscript } from "../core/services/importTranscript.js";
import { parseTranscript } from "../core/transcripts/formats.js";
import { createBenchDb, formatNumber, invokedDirectly, withEmulators, writeBenchResult } from "./support.js";
import { writeClaudeSession, type TurnShape } from "../test/support/claudeSession.js";

/**
 * Importing a long Claude Code session: a 20,000-line transcript written as
 * Claude Code 2.1 writes one (a line per block of a reply, progress lines in
 * the chains, parallel calls' results hanging off their calls, bookkeeping
 * lines) parsed and imported through the conversation's append path, then
 * imported again (which adds nothing). Prints messages/s for each and the
 * write units per imported message, transactions costed as AWS charges them.
 */

const LINES = 20_000;
const OWNER = "bench-import-owner";

/** The turns of a working session, repeated: parallel calls both ways, a call alone, an answer without calls. */
const CYCLE: TurnShape[] = [
  { calls: 2, progress: 3, thinking: true, hang: "progress", edited: false, bookkeeping: true },
  { calls: 1, progress: 4, thinking: false, hang: "result", edited: false, bookkeeping: false },
  { calls: 3, progress: 2, thinking: true, hang: "alternate", edited: false, bookkeeping: false },
  { calls: 0, progress: 0, thinking: false, hang: "progress", edited: false, bookkeeping: true },
];

/** A session of about `lines` lines. */
export function claudeSession(lines: number): string {
  const cycles = Math.ceil(lines / writeClaudeSession(CYCLE).lines);
  return writeClaudeSession(Array.from({ length: cycles }, () => CYCLE).flat(), "bench-session").text;
}

export async function runImportBench(): Promise<void> {
  const text = claudeSession(LINES);
  let started = performance.now();
  const transcript = parseTranscript(text, "bench-session.jsonl");
  const parseMs = performance.now() - started;
  const count = transcript.messages.length;
  console.log(`transcript: ${formatNumber(transcript.stats.lines)} lines, ${(text.length / 1024 / 1024).toFixed(1)} MB, ${formatNumber(count)} messages, ${transcript.stats.toolResultsJoined} tool results joined`);
  const lines = transcript.stats.lines;
  // The machine's baseline: JSON.parse of every line alone, in the same run.
  started = performance.now();
  for (const line of text.split("\n")) if (line) JSON.parse(line);
  const jsonMs = performance.now() - started;
  console.log(`parse: ${formatNumber(parseMs)} ms (${formatNumber(lines / (parseMs / 1000))} lines/s, ${formatNumber(count / (parseMs / 1000))} messages/s); JSON.parse alone: ${formatNumber(jsonMs)} ms, ratio ${(parseMs / jsonMs).toFixed(1)}`);
  await withEmulators(async (emulators) => {
    const db = await createBenchDb(emulators, "import");
    const ctx: ServiceContext = { db, relay: {} as Relay, principal: { ownerId: OWNER, via: "api_key", keyId: "bench" } };
    db.meter.reset();
    const before = db.table.modelledWrite;
    started = performance.now();
    const first = await importTranscript(ctx, transcript);
    const importMs = performance.now() - started;
    const units = db.table.modelledWrite - before;
    console.log(`import: ${formatNumber(first.appended)} messages in ${(importMs / 1000).toFixed(1)} s: ${formatNumber(first.appended / (importMs / 1000))} messages/s (${formatNumber(lines / (importMs / 1000))} transcript lines/s)`);
    console.log(`write units per imported message: ${(units / first.appended).toFixed(3)} (${formatNumber(units)} in all, pages of up to 500 with their history events)`);
    started = performance.now();
    const again = await importTranscript(ctx, transcript);
    const againMs = performance.now() - started;
    console.log(`import again: ${again.appended} added, ${(againMs / 1000).toFixed(1)} s (${formatNumber(count / (againMs / 1000))} messages/s checked)`);
    writeBenchResult("import", {
      "messages/s": Math.round(first.appended / (importMs / 1000)),
      "transcript lines/s": Math.round(lines / (importMs / 1000)),
      "parse lines/s": Math.round(lines / (parseMs / 1000)),
      "parse time over JSON.parse alone": Number((parseMs / jsonMs).toFixed(1)),
      "write units per imported message": Number((units / first.appended).toFixed(3)),
    });
  });
}

if (invokedDirectly(import.meta.url)) await runImportBench();
