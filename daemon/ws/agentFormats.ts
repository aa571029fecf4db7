import { createHash } from "node:crypto";
import { NewConversationMessage, type ToolCallInfo } from "../../core/models.js";
import { newId } from "../../core/ids.js";
import { textOfOutput } from "../../core/transcripts/transcript.js";
import { thinkingBlock } from "../../core/transcripts/thinking.js";

/**
 * What an agent prints on stdout, a JSON value a line, turned into messages.
 * `makima`: a line is a message (`{"role":"assistant","content":"…"}`).
 * `claude-stream-json`: `claude -p --output-format stream-json --verbose`
 * (`system`/`assistant`/`user`/`result` events, content in blocks).
 * `codex-json`: `codex exec --json` (`thread.started`, `item.completed` with
 * agent messages, reasoning, commands, file changes and tool calls,
 * `turn.failed`, `error`). A translator is made per run: it joins a tool's
 * result to its call. Message ids are the agent's own where it has them, so
 * a line read twice is one message.
 */

export const AGENT_FORMATS = ["makima", "claude-stream-json", "codex-json"] as const;
export type AgentFormat = (typeof AGENT_FORMATS)[number];

/** The messages of one parsed line, to be checked as messages (none for a line that holds none); undefined: the line is a message as it is. */
export type LineTranslator = (line: unknown) => Array<Partial<NewConversationMessage> | Record<string, unknown>> | undefined;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const shortHash = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 16);

export function lineTranslator(format: AgentFormat): LineTranslator {
  if (format === "claude-stream-json") return claudeStreamJson();
  if (format === "codex-json") return codexJson();
  return () => undefined;
}

function claudeStreamJson(): LineTranslator {
  const calls = new Map<string, ToolCallInfo>();
  // A reply may come as an event per block, each with the reply's usage: its tokens are counted on the first.
  const counted = new Set<string>();
  return (line) => {
    if (!isObj(line)) return [];
    const message = isObj(line.message) ? line.message : undefined;
    const id = str(line.uuid) ?? str(message?.id) ?? shortHash(line);
    if (line.type === "result") {
      const cost = typeof line.total_cost_usd === "number" && line.total_cost_usd >= 0 ? line.total_cost_usd : undefined;
      const text = `${line.is_error ? "Failed" : "Finished"} (${str(line.subtype) ?? "result"}) after ${String(line.num_turns ?? "?")} turns`;
      return [{ id: str(line.session_id) ? `${line.session_id}:result` : id, role: "system", content: text, costUsd: cost }];
    }
    if (!message || (line.type !== "assistant" && line.type !== "user")) return [];
    const content = message.content;
    if (typeof content === "string") return [{ id, role: line.type, content }];
    if (!Array.isArray(content)) return [];
    const texts: string[] = [];
    const toolCalls: ToolCallInfo[] = [];
    const out: Array<Partial<NewConversationMessage>> = [];
    for (const block of content.filter(isObj)) {
      if (block.type === "text" && str(block.text)) texts.push(block.text as string);
      else if (block.type === "thinking" && str(block.thinking)) texts.push(thinkingBlock(block.thinking as string));
      else if (block.type === "tool_use" && str(block.id)) {
        const call = { id: block.id as string, name: str(block.name) ?? "tool", input: block.input ?? {} };
        calls.set(call.id, call);
        toolCalls.push(call);
      } else if (block.type === "tool_result") {
        const call = calls.get(str(block.tool_use_id) ?? "");
        out.push({ id: str(block.tool_use_id) ?? `${id}#${out.length}`, role: "tool", content: "", toolName: call?.name, toolInput: call?.input, toolResult: textOfOutput(block.content), isError: block.is_error === true ? true : undefined });
      }
    }
    const apiId = str(message.id);
    const usage = isObj(message.usage) && !(apiId && counted.has(apiId)) ? message.usage : undefined;
    if (apiId && usage) counted.add(apiId);
    const tokens = usage ? Number(usage.input_tokens ?? 0) + Number(usage.output_tokens ?? 0) : undefined;
    const own = texts.length || toolCalls.length ? [{ id, role: line.type, content: texts.join("\n\n"), toolCalls: toolCalls.length ? toolCalls : undefined, tokenCount: Number.isInteger(tokens) ? tokens : undefined }] : [];
    return [...own, ...out];
  };
}

function codexJson(): LineTranslator {
  let thread = "codex";
  return (line) => {
    if (!isObj(line)) return [];
    if (line.type === "thread.started" && str(line.thread_id)) thread = line.thread_id as string;
    if (line.type === "turn.failed" || line.type === "error") {
      const error = isObj(line.error) ? str(line.error.message) : str(line.message);
      return [{ id: `${thread}:${shortHash(line)}`, role: "system", content: `Error: ${error ?? "the turn failed"}` }];
    }
    if (line.type !== "item.completed" || !isObj(line.item)) return [];
    const item = line.item;
    const id = `${thread}:${str(item.id) ?? shortHash(item)}`;
    switch (item.type) {
      case "agent_message":
        return [{ id, role: "assistant", content: str(item.text) ?? "" }];
      case "reasoning":
        return str(item.text) ? [{ id, role: "assistant", content: thinkingBlock(item.text as string) }] : [];
      case "command_execution":
        return toolPair(id, "shell", { command: item.command }, str(item.aggregated_output) ?? "", typeof item.exit_code === "number" && item.exit_code !== 0);
      case "file_change":
        return toolPair(id, "apply_patch", { changes: item.changes }, str(item.status) ?? "", item.status === "failed");
      case "mcp_tool_call":
        return toolPair(id, `${str(item.server) ?? "mcp"}.${str(item.tool) ?? "tool"}`, item.arguments ?? {}, textOfOutput(item.result ?? item.error), item.status === "failed");
      case "web_search":
        return toolPair(id, "web_search", { query: item.query }, "", false);
      case "error":
        return [{ id, role: "system", content: `Error: ${str(item.message) ?? ""}` }];
      default:
        return [];
    }
  };
}

/** A call (on an assistant message) and its result (a tool message whose id is the call's). */
function toolPair(id: string, name: string, input: unknown, result: string, isError: boolean): Array<Partial<NewConversationMessage>> {
  const callId = `${id}:call`;
  return [
    { id, role: "assistant", content: "", toolCalls: [{ id: callId, name, input }] },
    { id: callId, role: "tool", content: "", toolName: name, toolInput: input, toolResult: result, isError: isError || undefined },
  ];
}

/**
 * What an agent of this format is given after its command: `claude -p` and
 * `codex exec` take the prompt as their last argument, so the task's plan
 * (and any context it was resumed with) goes there; an agent of the
 * service's own format reads them from its environment.
 */
export function promptArgs(format: AgentFormat | undefined, start: { plan: string; additionalContext?: string }): string[] {
  if (!format || format === "makima") return [];
  return [start.additionalContext ? `${start.plan}\n\n${start.additionalContext}` : start.plan];
}

/**
 * The messages an agent's stdout line holds, each checked as a message, with
 * its id and time fixed here, once, so that a resend is recognised. A line
 * that is not JSON, or not a message, is logged and gives none.
 */
export function messagesOfLine(translate: LineTranslator, line: string, log: (text: string) => void): Array<NewConversationMessage & { id: string }> {
  const text = line.trim();
  if (!text) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    log(`agent: ${text.slice(0, 500)}`);
    return [];
  }
  const out: Array<NewConversationMessage & { id: string }> = [];
  for (const value of translate(json) ?? [json]) {
    const parsed = NewConversationMessage.safeParse(value);
    if (!parsed.success) {
      log(`ignored a line that is not a message: ${parsed.error.issues[0]?.message ?? ""}`);
      continue;
    }
    // Whole, however large: one too large for a WebSocket message is uploaded through S3 when sent.
    out.push({ ...parsed.data, id: parsed.data.id ?? newId(), timestamp: parsed.data.timestamp ?? new Date().toISOString() });
  }
  return out;
}
