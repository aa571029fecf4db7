import type { ConversationMessage as Message, HistoryEvent, TaskCheckpoint as Checkpoint } from "../../core/models.js";
import type { DiffStats, FileDiffInfo as FileDiff } from "../../core/protocol.js";
import { absoluteTime, oneLine, relativeTime, table, when, type Colors } from "./output.js";

/**
 * How the service's resources look on a terminal: history events and
 * checkpoints as tables, a conversation as a chat or a table, a diff as git
 * prints one. Pure functions of the data (and of "now"), so tests can pin them.
 */

// The shapes the API answers, inferred from the schemas the API validates them with.
export type { Contract, HistoryEvent, Task, TaskCheckpoint as Checkpoint, ConversationMessage as Message } from "../../core/models.js";
export type { DiffStats, FileDiffInfo as FileDiff } from "../../core/protocol.js";
export type { CheckpointDiff } from "../../core/responses.js";

export const shortSha = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : "");

// ------------------------------------------------------------------ history

/** What happened, in a few words, from an event's type and data. */
function describeEvent(e: HistoryEvent): string {
  const d = e.eventData ?? {};
  const sub = e.eventSubtype ?? "";
  switch (e.eventType) {
    case "task":
      if (sub === "created") return `task "${d.name}" created${d.isSupervisor ? " (supervisor)" : ""}`;
      return d.from ? `${d.from} → ${d.to}` : sub;
    case "chat":
      return `${d.count} message${d.count === 1 ? "" : "s"}${Array.isArray(d.roles) ? ` (${d.roles.join(", ")})` : ""}`;
    case "checkpoint":
      if (sub === "branch_created") return `branch ${d.branchName} at ${shortSha(text(d.commitSha))}${d.checkpointNumber ? ` (checkpoint ${d.checkpointNumber})` : ""}`;
      return `checkpoint ${d.checkpointNumber} ${shortSha(text(d.commitSha))} ${JSON.stringify(d.message ?? "")}`;
    case "phase":
      if (sub === "contract_created") return `contract "${d.name}" created in ${d.phase}`;
      return d.from ? `${d.from} → ${d.to}` : sub;
    case "rewind":
      if (sub === "code") {
        const kept = d.preservedAs ? `, work kept as ${text(field(d.preservedAs, "type"))} ${text(field(d.preservedAs, "reference"))}` : ", work discarded (safety ref kept)";
        return `code to checkpoint ${d.checkpointNumber} ${shortSha(text(d.commitSha))}${kept}`;
      }
      if (sub === "code_undone") return `code rewind undone`;
      if (sub === "conversation") return `conversation: ${d.messageCount} kept, ${d.hiddenCount} hidden`;
      if (sub === "conversation_restored") return `conversation: ${d.restoredCount} restored`;
      return sub;
    case "fork":
      if (sub === "created") return `forked from ${d.sourceTaskId} at ${forkPointText(d.forkPoint)}`;
      if (sub === "forked") return `forked to ${d.forkTaskId} at ${forkPointText(d.forkPoint)}`;
      return sub;
    case "resume":
      if (sub === "from_checkpoint") return `new task from checkpoint ${d.checkpointNumber} of ${d.sourceTaskId}`;
      if (sub === "resumed_elsewhere") return `resumed as ${d.newTaskId} from checkpoint ${d.checkpointNumber}`;
      return `${sub.replace(/_/g, " ")}${d.hiddenCount ? `, ${d.hiddenCount} messages hidden` : ""}`;
    default:
      return oneLine(JSON.stringify(d), 60);
  }
}

function forkPointText(p: unknown): string {
  if (!p || typeof p !== "object") return "?";
  const type = field(p, "type");
  const value = text(field(p, "value"));
  return type === "checkpoint" ? `checkpoint ${value}` : type === "message_id" ? `message ${value}` : value;
}

/** An event's data is free-form JSON: read a field of it without trusting its shape. */
function field(value: unknown, name: string): unknown {
  return value && typeof value === "object" ? Reflect.get(value, name) : undefined;
}

function text(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

export function historyEventsTable(c: Colors, events: HistoryEvent[], at: number): string[] {
  const rows = events.map((e) => [
    `${absoluteTime(e.createdAt)} ${c.dim(`(${relativeTime(e.createdAt, at)})`)}`,
    e.phase ?? "",
    eventColor(c, e.eventType)(e.eventSubtype ? `${e.eventType}/${e.eventSubtype}` : e.eventType),
    e.taskId ?? "",
    oneLine(describeEvent(e), 80),
  ]);
  return table(c, ["TIME", "PHASE", "EVENT", "TASK", "WHAT"], rows);
}

function eventColor(c: Colors, type: string): (s: string) => string {
  switch (type) {
    case "rewind":
      return c.yellow;
    case "fork":
    case "resume":
      return c.magenta;
    case "checkpoint":
      return c.green;
    case "phase":
      return c.cyan;
    default:
      return (s) => s;
  }
}

// ------------------------------------------------------------------ conversation

const compact = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

function indent(text: string, prefix = "  "): string[] {
  return text.split("\n").map((l) => (l ? prefix + l : ""));
}

function roleColor(c: Colors, role: string): (s: string) => string {
  return role === "user" ? c.cyan : role === "assistant" ? c.green : role === "tool" ? c.magenta : c.yellow;
}

/**
 * A conversation as a chat: one block per message, a header line
 * (`role · time (ago)`), the content indented, tool calls and results below.
 */
export function chat(c: Colors, messages: Message[], at: number, opts: { toolCalls: boolean; taskId?: string }): string[] {
  const out: string[] = [];
  for (const m of messages) {
    if (out.length) out.push("");
    const who = m.role === "tool" && m.toolName ? `tool ${m.toolName}` : m.role;
    out.push(`${c.bold(roleColor(c, m.role)(who))} ${c.dim(`· ${when(m.timestamp, at)} · ${m.id}`)}`);
    if (m.content) out.push(...indent(m.content));
    if (opts.toolCalls) {
      for (const call of m.toolCalls ?? []) out.push(c.magenta(`  → ${call.name} ${oneLine(compact(call.input), 200)}`));
      if (m.role === "tool" && m.toolInput !== undefined && !m.toolCalls?.length && !m.content) {
        out.push(c.magenta(`  → ${m.toolName ?? "tool"} ${oneLine(compact(m.toolInput), 200)}`));
      }
      if (m.toolResult !== undefined) {
        const mark = m.isError ? c.red("  ✗ ") : c.dim("  ← ");
        const lines = m.toolResult.split("\n");
        out.push(mark + (m.isError ? c.red(lines[0]!) : lines[0]!), ...lines.slice(1).map((l) => (l ? "    " + l : "")));
      }
    }
    if (m.truncated) out.push(c.dim(`  … cut for the page; --full shows it whole`));
  }
  return out;
}

/** A conversation as a table: one line per message. */
export function messagesTable(c: Colors, messages: Message[], at: number): string[] {
  const rows = messages.map((m, i) => {
    const text = m.content || (m.toolCalls?.length ? m.toolCalls.map((t) => `→ ${t.name}`).join(" ") : (m.toolResult ?? ""));
    return [
      String(i + 1),
      `${absoluteTime(m.timestamp)} ${c.dim(`(${relativeTime(m.timestamp, at)})`)}`,
      roleColor(c, m.role)(m.role === "tool" && m.toolName ? `tool:${m.toolName}` : m.role),
      m.id,
      oneLine(text, 60) + (m.truncated ? c.dim(" [cut]") : ""),
    ];
  });
  return table(c, ["#", "TIME", "ROLE", "ID", "CONTENT"], rows, ["right"]);
}

// ------------------------------------------------------------------ checkpoints

export function checkpointsTable(c: Colors, checkpoints: Array<Checkpoint & { diffStats?: DiffStats }>, at: number): string[] {
  const rows = checkpoints.map((cp) => {
    const stats = cp.diffStats
      ? [String(cp.diffStats.filesChanged), c.green(`+${cp.diffStats.insertions}`), c.red(`-${cp.diffStats.deletions}`)]
      : [
          filesCount(cp.filesChanged),
          cp.linesAdded === undefined ? "" : c.green(`+${cp.linesAdded}`),
          cp.linesRemoved === undefined ? "" : c.red(`-${cp.linesRemoved}`),
        ];
    return [
      String(cp.checkpointNumber),
      c.yellow(shortSha(cp.commitSha)),
      cp.branchName,
      ...stats,
      `${absoluteTime(cp.createdAt)} ${c.dim(`(${relativeTime(cp.createdAt, at)})`)}`,
      oneLine(cp.message, 60),
    ];
  });
  return table(c, ["#", "COMMIT", "BRANCH", "FILES", "ADDED", "REMOVED", "CREATED", "MESSAGE"], rows, ["right", "left", "left", "right", "right", "right"]);
}

function filesCount(files: unknown): string {
  if (typeof files === "number") return String(files);
  if (Array.isArray(files)) return String(files.length);
  return "";
}

// ------------------------------------------------------------------ diffs

/** `3 files changed, 10 insertions(+), 2 deletions(-)`, as git words it. */
export function statLine(s: DiffStats): string {
  const parts = [`${s.filesChanged} file${s.filesChanged === 1 ? "" : "s"} changed`];
  if (s.insertions || !s.deletions) parts.push(`${s.insertions} insertion${s.insertions === 1 ? "" : "s"}(+)`);
  if (s.deletions) parts.push(`${s.deletions} deletion${s.deletions === 1 ? "" : "s"}(-)`);
  return parts.join(", ");
}

/** The per-file summary git prints with `--stat`. */
export function diffStat(c: Colors, files: FileDiff[]): string[] {
  const width = Math.max(0, ...files.map((f) => fileLabel(f).length));
  const count = Math.max(1, ...files.map((f) => String(f.additions + f.deletions).length));
  const most = Math.max(1, ...files.map((f) => f.additions + f.deletions));
  const scale = (n: number) => (most > 40 ? Math.round((n * 40) / most) : n);
  return files.map((f) => {
    const label = fileLabel(f).padEnd(width);
    if (f.binary) return ` ${label} | Bin`;
    const bar = c.green("+".repeat(scale(f.additions))) + c.red("-".repeat(scale(f.deletions)));
    return ` ${label} | ${String(f.additions + f.deletions).padStart(count)} ${bar}`.trimEnd();
  });
}

const fileLabel = (f: FileDiff) => (f.oldPath && f.oldPath !== f.path ? `${f.oldPath} => ${f.path}` : f.path);

/** A checkpoint's diff as git shows a patch: headers bold, hunks cyan, additions green, deletions red. */
export function diffPatch(c: Colors, files: FileDiff[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const from = f.oldPath ?? f.path;
    out.push(c.bold(`diff --git a/${from} b/${f.path}`));
    if (f.action === "added") out.push(c.bold("new file"));
    if (f.action === "deleted") out.push(c.bold("deleted file"));
    if (f.action === "renamed") out.push(c.bold(`rename from ${from}`), c.bold(`rename to ${f.path}`));
    if (f.binary) {
      out.push(`Binary files differ`);
      continue;
    }
    if (!f.hunks?.length) continue;
    out.push(c.bold(`--- ${f.action === "added" ? "/dev/null" : `a/${from}`}`), c.bold(`+++ ${f.action === "deleted" ? "/dev/null" : `b/${f.path}`}`));
    for (const h of f.hunks) {
      out.push(c.cyan(h.header));
      for (const l of h.lines) out.push(l.startsWith("+") ? c.green(l) : l.startsWith("-") ? c.red(l) : l.startsWith("\\") ? c.dim(l) : l);
    }
  }
  return out;
}
