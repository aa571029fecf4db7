import * as z from "zod";
import { uuid } from "../models.js";
import { TranscriptFormat } from "./transcript.js";
import { ExportFormat } from "./writer.js";

/** What the import and export endpoints take and answer. */

/** A transcript's text a request may carry: the rest of a 1 MB body is the JSON around it (the CLI sends a larger one in pages). */
export const MAX_TRANSCRIPT_CHARS = 900 * 1024;

const TranscriptText = {
  format: TranscriptFormat.optional().describe("The transcript's format; told from its first lines when left out"),
  fileName: z.string().min(1).max(300).optional().describe("Named in a line error (`file:line`); default `transcript`"),
  content: z.string().min(1).max(MAX_TRANSCRIPT_CHARS).describe("The transcript's text: JSON lines (or, for `openai`, a JSON array of messages)"),
};

export const ImportIntoTaskRequest = z.object(TranscriptText).meta({ id: "ImportIntoTaskRequest" });

export const ImportTranscriptRequest = z
  .object({
    ...TranscriptText,
    contractId: uuid().optional(),
    name: z.string().min(1).max(200).optional().describe("The task's name; default the transcript's title, summary or first prompt"),
    parentTaskId: uuid().optional().describe("For a sub-agent's or forked session's transcript: the task of the session it belongs to (linked as its fork)"),
  })
  .meta({ id: "ImportTranscriptRequest" });

export const ImportResult = z
  .object({
    taskId: uuid(),
    created: z.boolean().describe("false: an earlier import made this task (the same transcript), and only what it lacked was added"),
    sourceId: z.string(),
    format: TranscriptFormat,
    name: z.string(),
    messages: z.int().describe("Messages on the transcript's active line"),
    appended: z.int().describe("Of those, how many were new to the task"),
    toolCalls: z.int(),
    toolResultsJoined: z.int().describe("Tool results joined to the call they answer"),
    skippedLines: z.record(z.string(), z.int()).describe("Lines holding no message (queue operations, token counts, …), by type"),
    forks: z.array(
      z.object({ taskId: uuid(), branchId: z.string(), forkedAtMessageId: z.string().nullable(), messages: z.int(), appended: z.int() }),
    ),
    metadata: z.record(z.string(), z.unknown()).describe("What the transcript said of itself: cwd, git branch, agent version, models, …"),
  })
  .meta({ id: "ImportResult" });

const flag = z.enum(["true", "false", "1", "0"]).default("false").transform((v) => v === "true" || v === "1");

export const ExportQuery = z.object({
  format: ExportFormat.default("jsonl").describe("`jsonl` (this service's own, imports back), `markdown`, `html`, `claude-code`, `openai`"),
  redact: flag.describe("Remove secrets (API keys, tokens, private keys, `.env` values, this service's keys) first; the count is in `Makima-Redacted`"),
});

export const ExportLink = z
  .object({
    url: z.string().describe("Presigned GET of the export, valid until expiresAt"),
    expiresAt: z.string(),
    fileName: z.string(),
    contentType: z.string(),
    bytes: z.int(),
    redacted: z.int().optional().describe("With redact=true: how many secrets were removed"),
  })
  .meta({ id: "ExportLink" });
export type ExportLink = z.infer<typeof ExportLink>;
