import type { ConversationMessage, TaskCheckpoint } from "../models.js";
import { splitThinking } from "./thinking.js";
import type { ExportContext, ExportWriter } from "./writer.js";

/** A conversation as Markdown, for reading and sharing: one section a message, tool calls and results in fenced blocks. */

/** A fence longer than any run of backticks in the text, so the text cannot close it. */
export function fence(text: string, lang = ""): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  return `${f}${lang}\n${text}\n${f}`;
}

const json = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
const ROLE = { user: "User", assistant: "Assistant", system: "System", tool: "Tool" } as const;

function header(ctx: ExportContext): string {
  const t = ctx.task;
  const lines = [`# ${t.name.replace(/\n/g, " ")}`, "", `- task: \`${t.id}\` (${t.status}), ${t.messageCount} messages`, `- created: ${t.createdAt}; exported: ${ctx.exportedAt}`];
  if (t.branchName) lines.push(`- branch: \`${t.branchName}\``);
  if (t.forkedFromTaskId) lines.push(`- forked from \`${t.forkedFromTaskId}\`${t.forkedAtMessageId ? ` at message \`${t.forkedAtMessageId}\`` : ""}`);
  if (t.plan) lines.push("", "## Plan", "", t.plan);
  return `${lines.join("\n")}\n\n## Conversation\n\n`;
}

function message(m: ConversationMessage): string {
  const out = [`### ${ROLE[m.role]} · ${m.timestamp}${m.tokenCount !== undefined ? ` · ${m.tokenCount} tokens` : ""}`, ""];
  const { thinking, text } = splitThinking(m.content);
  if (thinking) out.push("<details><summary>Thinking</summary>", "", fence(thinking), "", "</details>", "");
  if (text) out.push(text, "");
  for (const c of m.toolCalls ?? []) out.push(`**Tool call** \`${c.name}\` (\`${c.id}\`)`, "", fence(json(c.input), "json"), "");
  if (m.role === "tool") {
    out.push(`**Result of** \`${m.toolName ?? "tool"}\` (\`${m.id}\`)${m.isError ? " — error" : ""}`, "");
    if (m.toolInput !== undefined) out.push(fence(json(m.toolInput), "json"), "");
    out.push(fence(m.toolResult ?? ""), "");
  }
  return `${out.join("\n")}\n`;
}

export const markdownWriter: ExportWriter = {
  contentType: "text/markdown; charset=utf-8",
  extension: "md",
  start: header,
  message,
  checkpoint: (c: TaskCheckpoint) => `> **Checkpoint ${c.checkpointNumber}** \`${c.commitSha.slice(0, 12)}\` on \`${c.branchName}\`: ${c.message.split("\n")[0]}\n\n`,
  end: ({ forks }) =>
    forks.length ? `## Forks\n\n${forks.map((f) => `- ${f.name.replace(/\n/g, " ")} (\`${f.id}\`)${f.forkedAtMessageId ? ` after message \`${f.forkedAtMessageId}\`` : ""}`).join("\n")}\n` : "",
};
