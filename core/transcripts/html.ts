import type { ConversationMessage, TaskCheckpoint } from "../models.js";
import { splitThinking } from "./thinking.js";
import type { ExportContext, ExportWriter } from "./writer.js";

/**
 * A conversation as one self-contained HTML page (no scripts, no outside
 * resources). Everything the agent or the user wrote is escaped: a
 * transcript is untrusted text, never markup.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const pre = (text: string) => `<pre>${escapeHtml(text)}</pre>`;
const json = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.m{border-left:4px solid #ccc;padding:.3rem .8rem;margin:1rem 0}.user{border-color:#2b6cb0}.assistant{border-color:#2f855a}
.tool{border-color:#b7791f;background:#fffbeb}.system{border-color:#718096;background:#f7fafc}.meta{color:#666;font-size:.85em}
pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}.cp{background:#ebf8ff;padding:.4rem .8rem}
.text{white-space:pre-wrap}`;

function start(ctx: ExportContext): string {
  const t = ctx.task;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeHtml(t.name)}</title><style>${STYLE}</style></head><body>
<h1>${escapeHtml(t.name)}</h1>
<p class="meta">task <code>${escapeHtml(t.id)}</code> · ${escapeHtml(t.status)} · ${t.messageCount} messages · created ${escapeHtml(t.createdAt)} · exported ${escapeHtml(ctx.exportedAt)}</p>
${t.plan ? `<details><summary>Plan</summary>${pre(t.plan)}</details>` : ""}
`;
}

function message(m: ConversationMessage): string {
  const { thinking, text } = splitThinking(m.content);
  const parts = [`<div class="m ${m.role}" id="m-${escapeHtml(m.id)}"><div class="meta">${m.role} · ${escapeHtml(m.timestamp)}${m.tokenCount !== undefined ? ` · ${m.tokenCount} tokens` : ""}</div>`];
  if (thinking) parts.push(`<details><summary>Thinking</summary>${pre(thinking)}</details>`);
  if (text) parts.push(`<div class="text">${escapeHtml(text)}</div>`);
  for (const c of m.toolCalls ?? []) parts.push(`<details open><summary>Tool call <code>${escapeHtml(c.name)}</code></summary>${pre(json(c.input))}</details>`);
  if (m.role === "tool") {
    parts.push(`<details open><summary>Result of <code>${escapeHtml(m.toolName ?? "tool")}</code>${m.isError ? " (error)" : ""}</summary>`);
    if (m.toolInput !== undefined) parts.push(pre(json(m.toolInput)));
    parts.push(`${pre(m.toolResult ?? "")}</details>`);
  }
  return `${parts.join("")}</div>\n`;
}

export const htmlWriter: ExportWriter = {
  contentType: "text/html; charset=utf-8",
  extension: "html",
  start,
  message,
  checkpoint: (c: TaskCheckpoint) =>
    `<div class="cp">Checkpoint ${c.checkpointNumber} <code>${escapeHtml(c.commitSha.slice(0, 12))}</code> on <code>${escapeHtml(c.branchName)}</code>: ${escapeHtml(c.message.split("\n")[0] ?? "")}</div>\n`,
  end: ({ forks }) =>
    `${forks.length ? `<h2>Forks</h2><ul>${forks.map((f) => `<li>${escapeHtml(f.name)} (<code>${escapeHtml(f.id)}</code>)</li>`).join("")}</ul>` : ""}</body></html>\n`,
};
