import Table from "cli-table3";
import pc from "picocolors";
import { writeOutput } from "./pager.js";

export type Colors = ReturnType<typeof pc.createColors>;
const createColors = pc.createColors;

/**
 * Terminal output: colours, aligned tables, times, JSON and a spinner.
 * Colours go only to a terminal and never when NO_COLOR is set, so that
 * piped output and `--format json` stay plain.
 */

type Stream = NodeJS.WriteStream;

/** Whether `stream` gets colours: NO_COLOR wins, FORCE_COLOR forces, otherwise only a terminal. */
function colorEnabled(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return Boolean(stream.isTTY) && env.TERM !== "dumb";
}

export interface Out {
  /** Colours for stdout (all no-ops when stdout gets none). */
  c: Colors;
  /** Colours for stderr. */
  ce: Colors;
  line(text?: string): void;
  lines(texts: string[]): void;
  json(value: unknown): void;
  /** A note on stderr, where it does not mix with what scripts read. */
  note(text: string): void;
}

export function createOut(stdout: Stream = process.stdout, stderr: Stream = process.stderr, options: { fields?: string[] } = {}): Out {
  const c = createColors(colorEnabled(stdout));
  const ce = createColors(colorEnabled(stderr));
  // The pager, if this run may use one, starts with the first line written.
  const write = (text: string) => void (stdout === process.stdout ? writeOutput(text) : stdout.write(text));
  return {
    c,
    ce,
    line: (text = "") => write(text + "\n"),
    lines: (texts) => void (texts.length ? write(texts.join("\n") + "\n") : undefined),
    // Two-space indentation and a trailing newline: the stable shape scripts parse.
    json: (value) => write(JSON.stringify(options.fields?.length ? selectFields(value, options.fields) : value, null, 2) + "\n"),
    note: (text) => void stderr.write(text + "\n"),
  };
}

/**
 * `--json id,status`: only these fields (dotted paths reach inside), of
 * each item of a list answer (`items`, `messages`, or the array itself),
 * else of the answer.
 */
export function selectFields(value: unknown, fields: string[]): unknown {
  const pick = (item: unknown): unknown => {
    if (!item || typeof item !== "object") return item;
    const picked: Record<string, unknown> = {};
    for (const field of fields) {
      const found = field.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), item);
      if (found !== undefined) picked[field] = found;
    }
    return picked;
  };
  if (Array.isArray(value)) return value.map(pick);
  if (value && typeof value === "object") {
    const list = (["items", "messages"] as const).find((k) => Array.isArray((value as Record<string, unknown>)[k]));
    if (list) return ((value as Record<string, unknown[]>)[list] ?? []).map(pick);
  }
  return pick(value);
}

// ------------------------------------------------------------------ tables

export type Align = "left" | "right";

const BORDERLESS = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "",
  middle: "  ",
};

/** Columns separated by two spaces, headers in bold, no borders, no trailing spaces. */
export function table(c: Colors, head: string[], rows: string[][], align: Align[] = []): string[] {
  const t = new Table({
    head: head.map((h) => c.bold(h)),
    chars: BORDERLESS,
    colAligns: head.map((_, i) => align[i] ?? "left"),
    style: { "padding-left": 0, "padding-right": 0, head: [], border: [], compact: true },
    wordWrap: false,
  });
  t.push(...rows);
  return t.toString().split("\n").map((l) => l.trimEnd());
}

/** One line of at most `max` characters (newlines folded), with an ellipsis when cut. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

// ------------------------------------------------------------------ times

/** "Now" for relative times; MAKIMA_NOW pins it (ISO 8601) for reproducible output. */
export function now(env: NodeJS.ProcessEnv = process.env): number {
  const pinned = env.MAKIMA_NOW ? Date.parse(env.MAKIMA_NOW) : NaN;
  return Number.isNaN(pinned) ? Date.now() : pinned;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local time, to the second: `2026-01-01 12:00:05`. */
export function absoluteTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`, `4mo ago`, `1y ago` (or `in …` for the future). */
export function relativeTime(iso: string, at = now()): string {
  const ms = at - Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 5) return "just now";
  const units: Array<[number, string]> = [
    [365 * 86400, "y"],
    [30 * 86400, "mo"],
    [86400, "d"],
    [3600, "h"],
    [60, "m"],
    [1, "s"],
  ];
  const [size, unit] = units.find(([size]) => s >= size)!;
  const n = `${Math.floor(s / size)}${unit}`;
  return ms >= 0 ? `${n} ago` : `in ${n}`;
}

/** `2026-01-01 12:00:05 (3h ago)`. */
export function when(iso: string, at = now()): string {
  return `${absoluteTime(iso)} (${relativeTime(iso, at)})`;
}

// ------------------------------------------------------------------ spinner

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Spinner {
  text(text: string): void;
  stop(): void;
}

/** A spinner on stderr while we wait on a daemon; silent when stderr is not a terminal. */
export function startSpinner(text: string, stream: Stream = process.stderr): Spinner {
  if (!stream.isTTY) return { text: () => undefined, stop: () => undefined };
  const c = createColors(colorEnabled(stream));
  let label = text;
  let frame = 0;
  const draw = () => stream.write(`\r\x1b[2K${c.cyan(FRAMES[frame++ % FRAMES.length]!)} ${label}`);
  draw();
  const timer = setInterval(draw, 80);
  // Ctrl-C while waiting: leave a clean line behind, exit as a shell expects (128 + SIGINT).
  const interrupted = () => {
    clearInterval(timer);
    stream.write("\r\x1b[2K");
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  return {
    text(next) {
      label = next;
    },
    stop() {
      clearInterval(timer);
      process.off("SIGINT", interrupted);
      stream.write("\r\x1b[2K");
    },
  };
}
