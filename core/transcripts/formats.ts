import { parseClaudeCode, claudeCodeWriter } from "./claudeCode.js";
import { parseCodex } from "./codex.js";
import { parseOpenAi, openAiWriter } from "./openai.js";
import { parseMakima, makimaWriter } from "./makima.js";
import { markdownWriter } from "./markdown.js";
import { htmlWriter } from "./html.js";
import { TranscriptLineError, type Transcript, type TranscriptFormat } from "./transcript.js";
import type { ExportFormat, ExportWriter } from "./writer.js";

/** Every import and export format by name. */

export const PARSERS: Record<TranscriptFormat, (text: string, file: string) => Transcript> = {
  "claude-code": parseClaudeCode,
  codex: parseCodex,
  openai: parseOpenAi,
  makima: parseMakima,
};

export function writerFor(format: ExportFormat): ExportWriter {
  switch (format) {
    case "jsonl":
      return makimaWriter;
    case "markdown":
      return markdownWriter;
    case "html":
      return htmlWriter;
    case "claude-code":
      return claudeCodeWriter();
    case "openai":
      return openAiWriter;
  }
}

/** Lines only Claude Code writes, which carry no session id (a session left at once may hold nothing else). */
const CLAUDE_CODE_LINES = new Set(["file-history-snapshot", "summary", "custom-title"]);

/** The format of a transcript, told from its first lines when not given. */
export function detectFormat(text: string, file: string): TranscriptFormat {
  const head = text.slice(0, 64 * 1024);
  if (/^\s*\[/.test(head) || /^\s*\{\s*"messages"/.test(head)) return "openai";
  for (const raw of head.split("\n").slice(0, 50)) {
    const line = raw.trim();
    if (!line) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (v.type === "transcript" && v.version !== undefined) return "makima";
    if (typeof v.type === "string" && "payload" in v && "timestamp" in v) return "codex";
    if ("sessionId" in v || "parentUuid" in v || "leafUuid" in v || (typeof v.type === "string" && CLAUDE_CODE_LINES.has(v.type))) return "claude-code";
    if (typeof v.role === "string") return "openai";
  }
  throw new TranscriptLineError(file, 1, "cannot tell the transcript's format; give one (claude-code, codex, openai, makima)");
}

/** A transcript parsed whole (every line checked before anything is stored). */
export function parseTranscript(text: string, file: string, format?: TranscriptFormat): Transcript {
  return PARSERS[format ?? detectFormat(text, file)](text, file);
}
