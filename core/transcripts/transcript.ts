import { createHash } from "node:crypto";
import * as z from "zod";
import { NewConversationMessage } from "../models.js";
import { TRANSCRIPT_FORMATS } from "./names.js";

/**
 * A transcript as every import and export format maps it: the messages of
 * its active line, the other lines (branches, each a fork after one of the
 * active line's messages), its name, where it came from and what it said
 * about itself. Each format module is a pure mapping between lines of text
 * and this shape.
 */

export const TranscriptFormat = z.enum(TRANSCRIPT_FORMATS);
export type TranscriptFormat = z.infer<typeof TranscriptFormat>;

/** A message as an import stores it: its id and time are the transcript's own. */
export const TranscriptMessage = NewConversationMessage.required({ id: true, timestamp: true });
export type TranscriptMessage = z.infer<typeof TranscriptMessage>;

export const TranscriptBranch = z.object({
  /** The branch's own id in the transcript (the id of its last message). */
  id: z.string().min(1).max(200),
  /** The message of the active line it forks after; null: before the first. */
  forkAfterMessageId: z.string().min(1).max(200).nullable(),
  /** Its own name (a sub-agent that ran inline is named for its prompt); else its fork is named for the task. */
  name: z.string().max(200).optional(),
  messages: z.array(TranscriptMessage),
});
export type TranscriptBranch = z.infer<typeof TranscriptBranch>;

export const TranscriptStats = z.object({
  lines: z.int().min(0),
  /** Lines kept as nothing (queue operations, token counts, …), by their type. */
  skipped: z.record(z.string(), z.int().min(0)),
  toolCalls: z.int().min(0),
  /** Tool results joined to the call they answer. */
  toolResultsJoined: z.int().min(0),
});
export type TranscriptStats = z.infer<typeof TranscriptStats>;

export const Transcript = z.object({
  format: TranscriptFormat,
  /** The transcript's own id (a session id), scoped by its format: what makes a second import of it the same task. */
  sourceId: z.string().min(1).max(300),
  name: z.string().max(200).optional(),
  metadata: z.record(z.string(), z.unknown()),
  /** A sub-agent's transcript names the source id of the session it ran in. */
  parentSourceId: z.string().min(1).max(300).optional(),
  /** A transcript forked from another names that one's source id. */
  forkedFromSourceId: z.string().min(1).max(300).optional(),
  messages: z.array(TranscriptMessage),
  branches: z.array(TranscriptBranch),
  stats: TranscriptStats,
  /** False when the messages' times are the import's (the transcript has none of its own). */
  timed: z.boolean().optional(),
});
export type Transcript = z.infer<typeof Transcript>;

/** A line that is not what its format says: named by file and line number (1-based). */
export class TranscriptLineError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = "TranscriptLineError";
  }
}

/** Each non-empty line parsed as JSON, with its 1-based number; a line that is not JSON is a TranscriptLineError. */
export function* jsonLines(text: string, file: string): Generator<{ n: number; value: unknown }> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      yield { n: i + 1, value: JSON.parse(line) as unknown };
    } catch (error) {
      throw new TranscriptLineError(file, i + 1, `not JSON (${(error as Error).message})`);
    }
  }
}

/** A line's fields checked against its schema, or a TranscriptLineError naming the first problem. */
export function lineOf<T extends z.ZodType>(schema: T, value: unknown, file: string, n: number): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new TranscriptLineError(file, n, `${issue.path.join(".") || "line"}: ${issue.message}`);
}

/** A message checked as this service stores it, or a TranscriptLineError for its line. */
export function messageOf(value: unknown, file: string, n: number): TranscriptMessage {
  return lineOf(TranscriptMessage, value, file, n);
}

export const emptyStats = (): TranscriptStats => ({ lines: 0, skipped: {}, toolCalls: 0, toolResultsJoined: 0 });

export function skip(stats: TranscriptStats, type: string): void {
  stats.skipped[type] = (stats.skipped[type] ?? 0) + 1;
}

/** A transcript without a message on any of its lines, as a session started and left at once writes. */
export const isEmpty = (t: Transcript) => t.messages.length === 0 && t.branches.every((b) => b.messages.length === 0);

/** What a transcript's lines held instead of messages: "3 lines: 2 file-history-snapshot, 1 progress". */
export function describeLines(stats: TranscriptStats): string {
  const kinds = Object.entries(stats.skipped).sort((a, b) => b[1] - a[1]);
  return `${stats.lines} line${stats.lines === 1 ? "" : "s"}${kinds.length ? `: ${kinds.map(([k, n]) => `${n} ${k}`).join(", ")}` : ""}`;
}

export const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/** A name from the first words of a message. */
export function nameFrom(text: string | undefined): string | undefined {
  const line = text?.replace(/\s+/g, " ").trim();
  if (!line) return undefined;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

/** Tool output as text: a string as it is, blocks' text joined, anything else as JSON. */
export function textOfOutput(output: unknown): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) {
    return output.map((b) => (b && typeof b === "object" && "text" in b && typeof b.text === "string" ? b.text : JSON.stringify(b))).join("\n");
  }
  return output === undefined || output === null ? "" : JSON.stringify(output);
}
