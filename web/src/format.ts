/** Small formatting helpers shared by the pages. */
export function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function short(id: string | undefined, n = 8): string {
  return id ? id.slice(0, n) : "";
}

/** JSON as indented text, for tool inputs and results (shown as text, never as HTML). */
export function pretty(value: unknown): string {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The fields of a tool's input that say what it did, in the order they are looked for. */
const GIST_KEYS = ["command", "cmd", "file_path", "path", "pattern", "query", "url", "description", "prompt", "chars"];

/** A tool's input or result on one line: the field that says what it did (a command, a path, a query), else its first line of text. */
export function gist(value: unknown, max = 100): string {
  let text = "";
  if (typeof value === "string") text = value;
  else if (value && typeof value === "object" && !Array.isArray(value)) {
    const fields = value as Record<string, unknown>;
    const key = GIST_KEYS.find((k) => typeof fields[k] === "string" && fields[k] !== "");
    text = key ? (fields[key] as string) : "";
  }
  const line = (text.split("\n").find((l) => l.trim()) ?? "").trim().replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
