import * as z from "zod";
import type { ConversationMessage, ToolCallInfo } from "../models.js";
import type { ExportWriter } from "./writer.js";
import { digest, emptyStats, jsonLines, lineOf, messageOf, nameFrom, TranscriptLineError, textOfOutput, type Transcript, type TranscriptMessage } from "./transcript.js";

/**
 * OpenAI Chat Completions messages: a JSON array, `{messages: [...]}`, or one
 * message a line. `tool_calls` (arguments a JSON string) and `role: tool`
 * messages joined by `tool_call_id`. Messages carry no ids or times: a
 * message's id is the transcript's digest and its position, and its time
 * the one given (`timestamp`, when the file has it) or the import's.
 */

const Message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() })), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z
    .array(z.looseObject({ id: z.string().min(1).max(200), function: z.looseObject({ name: z.string().min(1).max(200), arguments: z.string().optional() }) }))
    .max(100)
    .optional(),
  tool_call_id: z.string().min(1).max(200).optional(),
  id: z.string().min(1).max(200).optional(),
  timestamp: z.string().optional(),
});

/** The messages of the file with their line numbers (all on line 1 for a JSON document). */
function entries(text: string, file: string): Array<{ n: number; value: unknown }> {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[") || (trimmed.startsWith("{") && /^\{\s*"messages"/.test(trimmed))) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw new TranscriptLineError(file, 1, `not JSON (${(error as Error).message})`);
    }
    const list = Array.isArray(doc) ? doc : (doc as { messages?: unknown }).messages;
    if (!Array.isArray(list)) throw new TranscriptLineError(file, 1, "messages: expected an array");
    return list.map((value) => ({ n: 1, value }));
  }
  return [...jsonLines(text, file)];
}

export function parseOpenAi(text: string, file: string, now = new Date()): Transcript {
  const stats = emptyStats();
  const source = digest(text).slice(0, 24);
  const calls = new Map<string, ToolCallInfo>();
  const messages: TranscriptMessage[] = [];
  const list = entries(text, file);
  list.forEach(({ n, value }, i) => {
    stats.lines++;
    const m = lineOf(Message, value, file, n);
    const content = textOfOutput(m.content ?? "");
    const base = { id: m.id ?? `${source}:${i}`, timestamp: m.timestamp ?? now.toISOString() };
    if (m.role === "tool" || m.role === "function") {
      const call = m.tool_call_id ? calls.get(m.tool_call_id) : undefined;
      if (call) stats.toolResultsJoined++;
      const id = m.tool_call_id && !messages.some((x) => x.id === m.tool_call_id) ? m.tool_call_id : base.id;
      messages.push(messageOf({ ...base, id, role: "tool", content: "", toolName: call?.name ?? m.name, toolInput: call?.input, toolResult: content }, file, n));
      return;
    }
    const toolCalls = m.tool_calls?.map((c) => ({ id: c.id, name: c.function.name, input: parseArguments(c.function.arguments) }));
    for (const c of toolCalls ?? []) calls.set(c.id, c);
    stats.toolCalls += toolCalls?.length ?? 0;
    messages.push(messageOf({ ...base, role: m.role === "developer" ? "system" : m.role, content, toolCalls }, file, n));
  });
  return {
    format: "openai",
    sourceId: `openai:${source}`,
    name: nameFrom(messages.find((m) => m.role === "user")?.content),
    metadata: {},
    messages,
    branches: [],
    stats,
    timed: list.some(({ value }) => typeof (value as { timestamp?: unknown })?.timestamp === "string"),
  };
}

function parseArguments(args: string | undefined): unknown {
  if (args === undefined) return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

/** One Chat Completions message a line (with the message's id and time, which the API ignores and an import keeps). */
export const openAiWriter: ExportWriter = {
  contentType: "application/x-ndjson; charset=utf-8",
  extension: "jsonl",
  start: () => "",
  message: (m: ConversationMessage) => {
    const base = { id: m.id, timestamp: m.timestamp };
    if (m.role === "tool") return `${JSON.stringify({ role: "tool", tool_call_id: m.id, name: m.toolName, content: m.toolResult ?? m.content, ...base })}\n`;
    const tool_calls = m.toolCalls?.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.input ?? {}) } }));
    return `${JSON.stringify({ role: m.role, content: m.content, ...(tool_calls ? { tool_calls } : {}), ...base })}\n`;
  },
  checkpoint: () => "",
  end: () => "",
};
