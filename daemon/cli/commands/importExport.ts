import { Command, Option } from "commander";
import { createWriteStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { Writable } from "node:stream";
import { Api, ApiError } from "../api.js";
import { resolveApi, resolveTask, uuidArg } from "../config.js";
import { CliError, usage } from "../errors.js";
import { createOut, type Out } from "../output.js";
import type { ImportResult } from "../../../core/services/importTranscript.js";
import type { ExportLink } from "../../../core/transcripts/requests.js";
import type { Transcript, TranscriptFormat } from "../../../core/transcripts/transcript.js";
import { EXPORT_FORMATS, TRANSCRIPT_FORMATS } from "../../../core/transcripts/names.js";

/** The parsers, loaded when an import runs (every other command starts without them). */
const transcripts = async () => ({
  ...(await import("../../../core/transcripts/formats.js")),
  ...(await import("../../../core/transcripts/makima.js")),
  ...(await import("../../../core/transcripts/transcript.js")),
});

/**
 * `makima import` and `makima export`: agents' transcripts in, a task's
 * conversation out. An import parses each file whole on this machine first
 * (a bad line is named by file and line, and nothing is sent), then sends it
 * in pages under a megabyte; the transcript's own ids make a second import
 * add nothing and finish one that stopped. A directory (`~/.claude/projects`,
 * `~/.codex/sessions`) imports every session in it, one task each, grouped
 * by project, sub-agents under their session's task.
 */

/** Characters of a page the CLI sends (the API takes 900 KB of transcript a request: MAX_TRANSCRIPT_CHARS). */
const PAGE_CHARS = 800 * 1024;

interface ApiFlags {
  apiUrl?: string;
  apiKey?: string;
}

interface ImportOpts extends ApiFlags {
  format?: string;
  contract?: string;
  name?: string;
  json?: boolean;
}

const apiOptions = (cmd: Command) =>
  cmd
    .option("--api-url <url>", "the API's base URL (else MAKIMA_API_URL, else .makima/local.json)")
    .option("--api-key <key>", "a user key mk_… (else MAKIMA_API_KEY, else .makima/local.json)");

export function importCommand(): Command {
  return apiOptions(
    new Command("import")
      .description("import agents' transcripts (Claude Code, Codex, OpenAI messages, a makima export): a file, or every session under a directory")
      .argument("<path>", "a transcript file, or a directory such as ~/.claude/projects or ~/.codex/sessions")
      .addOption(new Option("--format <format>", "the transcripts' format (else told from each file)").choices(TRANSCRIPT_FORMATS))
      .option("--contract <id>", "the contract the tasks belong to")
      .option("--name <name>", "the task's name (one file only; else the transcript's title or first prompt)")
      .option("--json", "print what was imported as JSON"),
  ).action(async (path: string, opts: ImportOpts) => {
    const out = createOut();
    const api = new Api(resolveApi(opts));
    const contractId = opts.contract ? uuidArg(opts.contract, "contract") : undefined;
    const info = await stat(path).catch(() => undefined);
    if (!info) throw usage(`${path}: no such file or directory`);
    const files = info.isDirectory() ? await transcriptFiles(path, out) : [path];
    if (files.length === 0) throw usage(`${path}: no .jsonl transcripts in it`);
    if (opts.name && files.length > 1) throw usage("--name names one task: give it with a single file");
    const results = await importAll(api, out, path, files, { format: opts.format as TranscriptFormat | undefined, contractId, name: opts.name, json: opts.json === true });
    if (opts.json) out.json(results.map(({ file, result, error }) => ({ file, ...(result ?? {}), ...(error ? { error } : {}) })));
    const failed = results.filter((r) => r.error);
    if (failed.length) throw new CliError(`${failed.length} of ${results.length} transcript${results.length === 1 ? "" : "s"} not imported: ${failed[0]!.error}`);
  });
}

/**
 * The session files under a directory, sessions before sub-agents, in path
 * order. Claude Code's compaction runs (`agent-acompact-*.jsonl`) are left
 * out: what each produced is the summary already in its session.
 */
async function transcriptFiles(dir: string, out: Out): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  // Sessions are JSON lines; an agent's other files there (prompt history, indexes) are not sessions.
  const jsonl = entries.filter((e) => e.isFile() && e.name.endsWith(".jsonl") && e.name !== "history.jsonl");
  const compactions = jsonl.filter((e) => e.name.startsWith("agent-acompact-")).length;
  if (compactions) out.note(`${compactions} compaction run${compactions === 1 ? "" : "s"} (agent-acompact-*.jsonl) left out: each one's summary is in its session`);
  const files = jsonl.filter((e) => !e.name.startsWith("agent-acompact-")).map((e) => join(e.parentPath, e.name));
  const isAgent = (f: string) => basename(f).startsWith("agent-");
  return files.sort((a, b) => Number(isAgent(a)) - Number(isAgent(b)) || a.localeCompare(b));
}

interface Outcome {
  file: string;
  result?: ImportResult;
  error?: string;
}

async function importAll(api: Api, out: Out, root: string, files: string[], o: { format?: TranscriptFormat; contractId?: string; name?: string; json: boolean }): Promise<Outcome[]> {
  // What each file became is the answer (stdout), unless the answer is the JSON printed at the end.
  const tell = (text: string) => (o.json ? out.note(text) : out.line(text));
  const { parseTranscript, TranscriptLineError, makimaLines, isEmpty, describeLines } = await transcripts();
  const outcomes: Outcome[] = [];
  const tasksBySource = new Map<string, string>();
  let project: string | undefined;
  for (const file of files) {
    const group = files.length > 1 ? relative(root, file).split(sep).slice(0, -1)[0] ?? "." : undefined;
    if (group !== undefined && group !== project) out.note(out.ce.bold(`${(project = group)}`));
    try {
      const text = await readFile(file, "utf8");
      if (!text.trim()) {
        out.note(`- ${file}: empty, nothing to import`);
        continue;
      }
      const t = parseTranscript(text, file, o.format);
      if (isEmpty(t)) {
        out.note(`- ${file}: no messages in it (${describeLines(t.stats)}), nothing to import`);
        continue;
      }
      const parentSource = t.parentSourceId ?? t.forkedFromSourceId;
      const result = await sendTranscript(api, t, makimaLines(t), { contractId: o.contractId, name: o.name, parentTaskId: parentSource ? tasksBySource.get(parentSource) : undefined });
      tasksBySource.set(t.sourceId, result.taskId);
      outcomes.push({ file, result });
      tell(summary(file, result));
    } catch (error) {
      if (!(error instanceof TranscriptLineError || error instanceof ApiError || error instanceof CliError)) throw error;
      outcomes.push({ file, error: error.message });
      out.note(`${out.ce.red("✗")} ${file}: ${error.message}`);
    }
  }
  return outcomes;
}

function summary(file: string, r: ImportResult): string {
  const forks = r.forks.length ? `, ${r.forks.length} branch${r.forks.length === 1 ? "" : "es"} as forks` : "";
  const what = r.appended === 0 && !r.created ? "already imported" : `${r.appended} of ${r.messages} messages new`;
  return `✓ ${file} → task ${r.taskId} "${r.name}": ${what}, ${r.toolResultsJoined}/${r.toolCalls} tool calls answered${forks}`;
}

/** A parsed transcript sent in pages of this service's own format, with a progress bar on a terminal. */
async function sendTranscript(api: Api, t: Transcript, all: string[], o: { contractId?: string; name?: string; parentTaskId?: string }): Promise<ImportResult> {
  const [header, ...lines] = all;
  const pages: string[][] = [];
  let page: string[] = [];
  let size = header!.length;
  for (const line of lines) {
    if (line.length + header!.length + 1 > PAGE_CHARS) throw new CliError(`a message of ${t.sourceId} is over ${PAGE_CHARS} characters; it cannot be imported`);
    if (size + line.length + 1 > PAGE_CHARS && page.length) {
      pages.push(page);
      page = [];
      size = header!.length;
    }
    page.push(line);
    size += line.length + 1;
  }
  pages.push(page);
  const bar = progressBar(lines.length);
  let first: ImportResult | undefined;
  let sent = 0;
  try {
    for (const p of pages) {
      const content = [header, ...p].join("\n");
      const body = { format: "makima", content, fileName: t.sourceId };
      const r = first
        ? (await api.call<ImportResult>("POST", `/api/v1/mesh/tasks/${first.taskId}/import`, { body })).body
        : (await api.call<ImportResult>("POST", "/api/v1/mesh/tasks/import", { body: { ...body, contractId: o.contractId, name: o.name, parentTaskId: o.parentTaskId } })).body;
      first = first ? merge(first, r) : r;
      bar((sent += p.length));
    }
  } finally {
    bar.done();
  }
  return { ...first!, format: t.format, messages: t.messages.length, toolCalls: t.stats.toolCalls, toolResultsJoined: t.stats.toolResultsJoined, skippedLines: t.stats.skipped };
}

/** Two pages' results as one: counts added, forks by task. */
function merge(a: ImportResult, b: ImportResult): ImportResult {
  const forks = new Map(a.forks.map((f) => [f.taskId, f]));
  for (const f of b.forks) {
    const had = forks.get(f.taskId);
    forks.set(f.taskId, had ? { ...had, messages: had.messages + f.messages, appended: had.appended + f.appended } : f);
  }
  return { ...a, appended: a.appended + b.appended, forks: [...forks.values()] };
}

/** A progress bar on stderr when it is a terminal and the transcript is long enough to wait for. */
function progressBar(total: number): ((n: number) => void) & { done: () => void } {
  const stream = process.stderr;
  const shown = stream.isTTY && total > 200;
  const draw = (n: number) => {
    if (!shown) return;
    const width = 30;
    const filled = Math.round((n / total) * width);
    stream.write(`\r\x1b[2K[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${Math.floor((n / total) * 100)}% ${n}/${total} lines`);
  };
  return Object.assign(draw, { done: () => void (shown && stream.write("\r\x1b[2K")) });
}

interface ExportOpts extends ApiFlags {
  format: string;
  redact?: boolean;
  output?: string;
  link?: boolean;
}

export function exportCommand(): Command {
  return apiOptions(
    new Command("export")
      .description("export a task's conversation with its tool calls, checkpoints and forks")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .addOption(new Option("--format <format>", "jsonl (imports back), markdown, html, claude-code or openai").choices(EXPORT_FORMATS).default("jsonl"))
      .option("--redact", "remove secrets (API keys, tokens, private keys, .env values, makima keys) first, and say how many")
      .option("-o, --output <file>", "write to a file (else standard output)")
      .option("--link", "store the export for an hour and print a download link instead (for a log too large for one response)"),
  ).action(async (taskArg: string | undefined, opts: ExportOpts) => {
    const taskId = resolveTask(taskArg);
    const settings = resolveApi(opts);
    if (opts.link) {
      const out = createOut();
      const { body } = await new Api(settings).call<ExportLink>("GET", `/api/v1/mesh/tasks/${taskId}/export/link`, { query: { format: opts.format, redact: opts.redact || undefined } });
      if (body.redacted !== undefined) out.note(`${body.redacted} secret${body.redacted === 1 ? "" : "s"} redacted.`);
      out.note(`${body.fileName}, ${body.bytes} bytes; the link works until ${body.expiresAt}:`);
      return out.line(body.url);
    }
    const url = new URL(`${settings.apiUrl}/api/v1/mesh/tasks/${taskId}/export`);
    url.searchParams.set("format", opts.format);
    if (opts.redact) url.searchParams.set("redact", "true");
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: `Bearer ${settings.apiKey}` } });
    } catch (error) {
      throw new CliError(`cannot reach the API at ${settings.apiUrl} (${(error as Error).message}): is it running?`);
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: Array<{ path: string; message: string }> } };
      throw new ApiError(res.status, body.error?.code ?? "error", body.error?.message ?? `the API answered ${res.status}`, body.error?.details);
    }
    const target = opts.output ? createWriteStream(opts.output) : process.stdout;
    await res.body?.pipeTo(Writable.toWeb(target) as WritableStream<Uint8Array>, { preventClose: !opts.output });
    const out = createOut();
    const redacted = res.headers.get("makima-redacted");
    if (redacted !== null) out.note(`${redacted} secret${redacted === "1" ? "" : "s"} redacted.`);
    if (opts.output) out.line(`Task ${taskId} exported as ${opts.format} to ${opts.output}.`);
  });
}
