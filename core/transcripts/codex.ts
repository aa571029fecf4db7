import * as z from "zod";
import type { ToolCallInfo } from "../models.js";
import { emptyStats, jsonLines, lineOf, messageOf, nameFrom, skip, textOfOutput, type Transcript, type TranscriptMessage } from "./transcript.js";
import { thinkingBlock } from "./thinking.js";

/**
 * Codex CLI's rollout JSONL (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`):
 * `{timestamp, type, payload}` lines. `response_item` messages, function
 * calls (their `arguments` a JSON string) joined to their output by
 * `call_id`, web searches, reasoning summaries and `compacted` summaries
 * become messages (the context Codex writes as the user's, a note);
 * `session_meta` gives the session's id and metadata (`forked_from_id`: the
 * session it was forked from). Items have no ids of their own: a message's
 * id is the session's id and its line number, the same at every import.
 */

const Line = z.looseObject({ timestamp: z.string(), type: z.string(), payload: z.looseObject({}).optional() });
const ContentBlock = z.looseObject({ type: z.string(), text: z.string().optional() });
const MessageItem = z.looseObject({ role: z.string(), content: z.array(ContentBlock).nullish() });
const CallItem = z.looseObject({ call_id: z.string().min(1).max(200), name: z.string().min(1).max(200), arguments: z.string().optional(), input: z.unknown().optional() });
const OutputItem = z.looseObject({ call_id: z.string().min(1).max(200), output: z.unknown().optional() });

const ROLES: Record<string, TranscriptMessage["role"]> = { user: "user", assistant: "assistant", system: "system", developer: "system" };

/** What Codex writes as the user's but the user did not type (the environment, AGENTS.md, instructions): a note. */
const CONTEXT = /^\s*(<environment_context>|<user_instructions>|<permissions instructions>|# AGENTS\.md instructions)/;

export function parseCodex(text: string, file: string): Transcript {
  const stats = emptyStats();
  const metadata: Record<string, unknown> = {};
  const messages: TranscriptMessage[] = [];
  const calls = new Map<string, ToolCallInfo>();
  let sessionId: string | undefined;
  let forkedFrom: string | undefined;
  const idOf = (n: number) => `${sessionId ?? "codex"}:${n}`;
  for (const { n, value } of jsonLines(text, file)) {
    stats.lines++;
    const line = lineOf(Line, value, file, n);
    const p = line.payload ?? {};
    const at = line.timestamp;
    if (line.type === "session_meta") {
      sessionId ??= typeof p.id === "string" ? p.id : undefined;
      if (typeof p.forked_from_id === "string") forkedFrom = p.forked_from_id;
      for (const f of ["cwd", "cli_version", "originator", "source", "model_provider", "git"]) if (p[f] !== undefined && metadata[f] === undefined) metadata[f] = p[f];
      continue;
    }
    if (line.type === "turn_context") {
      if (typeof p.model === "string") metadata.model ??= p.model;
      skip(stats, line.type);
      continue;
    }
    if (line.type === "compacted") {
      messages.push(messageOf({ id: idOf(n), role: "system", content: textOfOutput(p.message), timestamp: at }, file, n));
      continue;
    }
    if (line.type === "event_msg" && p.type === "token_count") tokensInto(messages.at(-1), p);
    if (line.type !== "response_item") {
      skip(stats, line.type === "event_msg" ? `event_msg:${String(p.type)}` : line.type);
      continue;
    }
    responseItem({ messages, calls, stats, id: idOf(n) }, p, at, file, n);
  }
  const sid = sessionId ?? file;
  return {
    format: "codex",
    sourceId: `codex:${sid}`,
    name: nameFrom(messages.find((m) => m.role === "user" && m.content)?.content),
    metadata: { sessionId: sid, ...metadata },
    forkedFromSourceId: forkedFrom ? `codex:${forkedFrom}` : undefined,
    messages,
    branches: [],
    stats,
  };
}

/** What a `response_item` line adds: a message, a reasoning summary, a tool call, or a tool call's output joined to it. */
function responseItem(
  into: { messages: TranscriptMessage[]; calls: Map<string, ToolCallInfo>; stats: Transcript["stats"]; id: string },
  p: Record<string, unknown>,
  at: string,
  file: string,
  n: number,
): void {
  const item = String(p.type);
  if (item === "message") {
    const m = lineOf(MessageItem, p, file, n);
    const content = (m.content ?? []).map((b) => b.text ?? "").join("\n");
    const role = m.role === "user" && CONTEXT.test(content) ? "system" : (ROLES[m.role] ?? "system");
    into.messages.push(messageOf({ id: into.id, role, content, timestamp: at }, file, n));
  } else if (item === "reasoning") {
    const summary = Array.isArray(p.summary) ? p.summary.map((s: { text?: unknown }) => (typeof s?.text === "string" ? s.text : "")).join("\n") : "";
    if (summary) into.messages.push(messageOf({ id: into.id, role: "assistant", content: thinkingBlock(summary), timestamp: at }, file, n));
    else skip(into.stats, "reasoning:encrypted");
  } else if (item === "function_call" || item === "custom_tool_call") {
    const c = lineOf(CallItem, p, file, n);
    addCall(into, { id: c.call_id, name: c.name, input: c.arguments !== undefined ? argumentsOf(c.arguments) : (c.input ?? {}) }, at, file, n);
  } else if (item === "web_search_call") {
    // A search the model ran itself: its call and its status in one line.
    const call = { id: `${into.id}:web_search`, name: "web_search", input: p.action ?? {} };
    addCall(into, call, at, file, n);
    into.stats.toolResultsJoined++;
    into.messages.push(messageOf({ id: call.id, role: "tool", content: "", toolName: call.name, toolInput: call.input, toolResult: String(p.status ?? ""), timestamp: at }, file, n));
  } else if (item === "function_call_output" || item === "custom_tool_call_output") {
    const o = lineOf(OutputItem, p, file, n);
    const call = into.calls.get(o.call_id);
    if (call) into.stats.toolResultsJoined++;
    const output = o.output && typeof o.output === "object" && "content" in o.output ? (o.output as { content: unknown }).content : o.output;
    into.messages.push(
      messageOf({ id: o.call_id, role: "tool", content: "", toolName: call?.name, toolInput: call?.input, toolResult: textOfOutput(output), timestamp: at }, file, n),
    );
  } else skip(into.stats, `response_item:${item}`);
}

/** A tool call, on the assistant message before it when that one holds text or calls, else on a message of its own. */
function addCall(into: { messages: TranscriptMessage[]; calls: Map<string, ToolCallInfo>; stats: Transcript["stats"]; id: string }, call: ToolCallInfo, at: string, file: string, n: number): void {
  into.calls.set(call.id, call);
  into.stats.toolCalls++;
  const last = into.messages.at(-1);
  if (last?.role === "assistant" && !last.content.startsWith("<thinking>") && (last.toolCalls?.length ?? 0) < 100) last.toolCalls = [...(last.toolCalls ?? []), call];
  else into.messages.push(messageOf({ id: into.id, role: "assistant", content: "", toolCalls: [call], timestamp: at }, file, n));
}

/** A function call's arguments: the JSON they hold, or the string when it is not JSON. */
function argumentsOf(args: string): unknown {
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}

/** A token count event's last usage, on the message it follows. */
function tokensInto(message: TranscriptMessage | undefined, payload: Record<string, unknown>): void {
  const info = payload.info as { last_token_usage?: { total_tokens?: unknown } } | null | undefined;
  const total = info?.last_token_usage?.total_tokens;
  if (message && message.role === "assistant" && typeof total === "number" && Number.isInteger(total) && total >= 0) message.tokenCount = total;
}
