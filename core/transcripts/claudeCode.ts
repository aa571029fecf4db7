import * as z from "zod";
import type { ConversationMessage, ToolCallInfo } from "../models.js";
import type { ExportContext, ExportWriter } from "./writer.js";
import { sessionLines, type Node } from "./claudeCodeTree.js";
import { splitThinking, thinkingBlock } from "./thinking.js";
import {
  emptyStats,
  jsonLines,
  lineOf,
  messageOf,
  nameFrom,
  skip,
  textOfOutput,
  type Transcript,
  type TranscriptMessage,
  type TranscriptStats,
} from "./transcript.js";

/**
 * Claude Code's session JSONL (`~/.claude/projects/<project>/<session>.jsonl`
 * and its sub-agents' `agent-*.jsonl`): `user`/`assistant`/`system` lines
 * chained by `uuid`/`parentUuid` (read back as a conversation and its
 * branches in claudeCodeTree.ts). Tool results are joined to their
 * `tool_use` by `tool_use_id` and stored as `tool` messages whose id is the
 * call's.
 */

const Block = z.looseObject({ type: z.string() });
const Line = z.looseObject({
  type: z.string().optional(),
  uuid: z.string().min(1).max(200).optional(),
  parentUuid: z.string().nullish(),
  logicalParentUuid: z.string().nullish(),
  timestamp: z.string().optional(),
  sessionId: z.string().optional(),
  isSidechain: z.boolean().optional(),
  isCompactSummary: z.boolean().optional(),
  isMeta: z.boolean().optional(),
  agentId: z.string().optional(),
  message: z
    .looseObject({
      role: z.string().optional(),
      content: z.union([z.string(), z.array(Block)]).optional(),
      id: z.string().optional(),
      model: z.string().optional(),
      usage: z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional() }).optional(),
    })
    .optional(),
  content: z.unknown().optional(),
  subtype: z.string().optional(),
  summary: z.string().optional(),
  customTitle: z.string().optional(),
  leafUuid: z.string().optional(),
});
type Line = z.infer<typeof Line>;

/** What Claude Code writes as the user's when a local command (`/exit`, `/mcp`) runs: the command, its output, the caveat before them. */
const LOCAL_COMMAND = /^\s*<(command-name|local-command-stdout|local-command-stderr|local-command-caveat)>/;

const META_FIELDS = ["cwd", "gitBranch", "version", "sessionId", "agentId", "entrypoint", "userType"] as const;

export function parseClaudeCode(text: string, file: string): Transcript {
  const stats = emptyStats();
  const nodes = new Map<string, Node>();
  const metadata: Record<string, unknown> = {};
  const calls = new Map<string, ToolCallInfo>();
  const models = new Set<string>();
  let title: string | undefined;
  let summary: string | undefined;
  let leaf: string | undefined;
  // A sub-agent's own file (agent-*.jsonl) holds only its lines; a session's file may hold sub-agents' lines too (Claude Code 1.0).
  let sidechain: { sessionId?: string; agentId?: string } | undefined;
  let ownLines = false;
  for (const { n, value } of jsonLines(text, file)) {
    stats.lines++;
    const line = lineOf(Line, value, file, n);
    for (const f of META_FIELDS) if (typeof line[f] === "string" && line[f] !== "" && metadata[f] === undefined) metadata[f] = line[f];
    if (line.message?.model) models.add(line.message.model);
    if (line.isSidechain) sidechain ??= { sessionId: line.sessionId, agentId: line.agentId };
    if (line.isSidechain === false) ownLines = true;
    if (line.type === "custom-title" && line.customTitle) title = line.customTitle;
    if (line.type === "summary" && line.summary) summary = line.summary;
    if (line.leafUuid && (line.type === "summary" || line.type === "last-prompt")) leaf = line.leafUuid;
    const messages = messagesOf(line, file, n, calls, stats);
    if (!messages.length) skip(stats, line.type === "system" ? `system:${line.subtype ?? "untyped"}` : (line.type ?? "untyped"));
    if (!line.uuid || nodes.has(line.uuid)) continue;
    const apiMessageId = line.type === "assistant" ? line.message?.id : undefined;
    const localCommand = line.type === "user" && typeof line.message?.content === "string" && LOCAL_COMMAND.test(line.message.content);
    nodes.set(line.uuid, { uuid: line.uuid, parent: line.parentUuid ?? line.logicalParentUuid ?? undefined, order: n, messages, apiMessageId, localCommand, sidechain: line.isSidechain });
  }
  if (ownLines) sidechain = undefined;
  if (models.size) metadata.models = [...models];
  const lines = sessionLines(nodes, leaf);
  if (lines.beyondLimit) stats.skipped["branch:beyond-limit"] = lines.beyondLimit;
  const sessionId = String(metadata.sessionId ?? file);
  const sourceId = sidechain ? `claude-code:${sessionId}:agent-${sidechain.agentId ?? file}` : `claude-code:${sessionId}`;
  const firstUser = lines.messages.find((m) => m.role === "user" && m.content && !LOCAL_COMMAND.test(m.content))?.content;
  return {
    format: "claude-code",
    sourceId,
    name: nameFrom(title ?? summary ?? (sidechain ? `agent ${sidechain.agentId ?? ""}: ${firstUser ?? ""}` : firstUser)),
    metadata,
    parentSourceId: sidechain ? `claude-code:${sessionId}` : undefined,
    messages: lines.messages,
    branches: lines.branches,
    stats,
  };
}

/**
 * The messages of one line; none for a line that holds none (progress,
 * bookkeeping, a system line with nothing to say), which is kept as a count.
 */
function messagesOf(line: Line, file: string, n: number, calls: Map<string, ToolCallInfo>, stats: TranscriptStats): TranscriptMessage[] {
  if (!line.uuid || !line.timestamp) return [];
  const base = { id: line.uuid, timestamp: line.timestamp };
  if (line.type === "system") {
    return typeof line.content === "string" ? [messageOf({ ...base, role: "system", content: line.content }, file, n)] : [];
  }
  if (line.type === "summary" && line.message) {
    return [messageOf({ ...base, role: "system", content: textOfOutput(line.message.content) }, file, n)];
  }
  if ((line.type !== "user" && line.type !== "assistant") || !line.message) return [];
  // What Claude Code wrote as the user's but the user did not type (a compaction's summary, a hook's reminder, a command's expansion) is a note.
  const role = line.isCompactSummary || line.isMeta ? "system" : line.type;
  const content = line.message.content ?? "";
  const usage = line.message.usage;
  const tokenCount = usage ? Math.round((usage.input_tokens ?? 0) + (usage.output_tokens ?? 0)) : undefined;
  if (typeof content === "string") return [messageOf({ ...base, role, content, tokenCount }, file, n)];
  const texts: string[] = [];
  const toolCalls: ToolCallInfo[] = [];
  const results: TranscriptMessage[] = [];
  for (const block of content) {
    if (block.type === "text" && typeof block.text === "string") {
      if (block.text.trim()) texts.push(block.text);
    } else if (block.type === "thinking" && typeof block.thinking === "string") {
      if (block.thinking.trim()) texts.push(thinkingBlock(block.thinking));
    } else if (block.type === "tool_use") {
      const call = { id: String(block.id ?? `${line.uuid}#${toolCalls.length}`), name: String(block.name ?? "tool"), input: block.input ?? {} };
      calls.set(call.id, call);
      toolCalls.push(call);
      stats.toolCalls++;
    } else if (block.type === "tool_result") {
      const callId = String(block.tool_use_id ?? "");
      const call = calls.get(callId);
      if (call) stats.toolResultsJoined++;
      results.push(
        messageOf(
          {
            id: callId || `${line.uuid}#${results.length}`,
            role: "tool",
            content: "",
            timestamp: line.timestamp,
            toolName: call?.name,
            toolInput: call?.input,
            toolResult: textOfOutput(block.content),
            isError: block.is_error === true ? true : undefined,
          },
          file,
          n,
        ),
      );
    } else skip(stats, `block:${block.type}`);
  }
  const own =
    texts.length || toolCalls.length || !results.length
      ? [messageOf({ ...base, role, content: texts.join("\n\n"), toolCalls: toolCalls.length ? toolCalls : undefined, tokenCount }, file, n)]
      : [];
  return [...own, ...results];
}

/** Blocks of an assistant message: its thinking, its text, its tool calls. */
function assistantBlocks(m: ConversationMessage): unknown[] {
  const { thinking, text } = splitThinking(m.content);
  return [
    ...(thinking ? [{ type: "thinking", thinking }] : []),
    ...(text ? [{ type: "text", text }] : []),
    ...(m.toolCalls ?? []).map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: c.input })),
  ];
}

/** Lines of a Claude Code session (each message's parent the one before), which Claude Code's readers and this import read back. */
export function claudeCodeWriter(): ExportWriter {
  let parent: string | null = null;
  const line = (m: ConversationMessage, ctx: ExportContext, fields: Record<string, unknown>) => {
    const uuid = m.role === "tool" ? `${m.id}:result` : m.id;
    const out = { parentUuid: parent, isSidechain: false, userType: "external", sessionId: ctx.task.id, timestamp: m.timestamp, uuid, ...fields };
    parent = uuid;
    return `${JSON.stringify(out)}\n`;
  };
  return {
    contentType: "application/x-ndjson; charset=utf-8",
    extension: "jsonl",
    start: (ctx) => `${JSON.stringify({ type: "custom-title", customTitle: ctx.task.name, sessionId: ctx.task.id })}\n`,
    message: (m, _i, ctx) => {
      if (m.role === "system") return line(m, ctx, { type: "system", subtype: "informational", content: m.content, level: "info" });
      if (m.role === "tool") {
        const block = { type: "tool_result", tool_use_id: m.id, content: m.toolResult ?? m.content, ...(m.isError ? { is_error: true } : {}) };
        return line(m, ctx, { type: "user", message: { role: "user", content: [block] } });
      }
      if (m.role === "user") return line(m, ctx, { type: "user", message: { role: "user", content: m.content } });
      const usage = m.tokenCount !== undefined ? { usage: { input_tokens: 0, output_tokens: m.tokenCount } } : {};
      return line(m, ctx, { type: "assistant", message: { role: "assistant", type: "message", content: assistantBlocks(m), ...usage } });
    },
    checkpoint: () => "",
    end: () => "",
  };
}
