import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { updateProfile, userConfigPath } from "../../daemon/cli/userConfig.js";

/** What `npm start` needs besides the stack: its cursor secret, free ports, calm logs, the CLI's profile. */

/**
 * The key that signs list cursors, drawn at random once per data directory
 * and kept in it (`cursor-secret`, owner-only), so cursors stay valid across
 * restarts on the same data and mean nothing anywhere else. In memory: a new
 * one each run.
 */
export function cursorSecretFor(dataDir: string | undefined): string {
  if (!dataDir) return randomBytes(32).toString("base64url");
  const file = join(dataDir, "cursor-secret");
  if (existsSync(file)) {
    const kept = readFileSync(file, "utf8").trim();
    if (kept.length >= 32) return kept;
  }
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600 });
  return secret;
}

/** Resolves if `port` can be listened on at 127.0.0.1; else rejects with one line naming who should move. */
export function assertPortFree(port: number, what: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "EADDRINUSE" ? "is in use (another `npm start`?)" : `cannot be used (${error.code ?? error.message})`;
      reject(new Error(`port ${port} for the ${what} ${why}: stop what holds it, or choose another with ${variable}=<port> npm start`));
    });
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}

const LEVEL_COLOURS: Record<string, string> = { DEBUG: "\x1b[90m", INFO: "\x1b[36m", WARN: "\x1b[33m", ERROR: "\x1b[31m", CRITICAL: "\x1b[31m" };
const DROPPED = new Set(["level", "message", "timestamp", "service", "sampling_rate", "xray_trace_id"]);

/** A JSON log line as `12:00:05 INFO  message key=value …`, or undefined if it is not one. */
export function prettyLogLine(line: string, colours: boolean): string | undefined {
  if (!line.startsWith("{")) return undefined;
  let item: Record<string, unknown>;
  try {
    item = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof item.level !== "string" || typeof item.message !== "string") return undefined;
  const time = typeof item.timestamp === "string" ? item.timestamp.slice(11, 19) : "";
  const fields = Object.entries(item)
    .filter(([k, v]) => !DROPPED.has(k) && v !== undefined && k !== "stack")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const level = item.level.padEnd(5);
  const dim = (t: string) => (colours ? `\x1b[2m${t}\x1b[0m` : t);
  const head = colours ? `${LEVEL_COLOURS[item.level] ?? ""}${level}\x1b[0m` : level;
  const stack = typeof item.stack === "string" ? `\n${dim(item.stack)}` : "";
  return `${dim(time)} ${head} ${item.message}${fields.length ? ` ${dim(fields.join(" "))}` : ""}${stack}`;
}

/**
 * On a terminal, the service's JSON log lines are printed readably (one line
 * each: time, level, message, fields); anywhere else they stay JSON, one
 * object a line, for machines.
 */
export function prettyLogsOnTerminal(stream: NodeJS.WriteStream = process.stdout): void {
  if (!stream.isTTY) return;
  const colours = !process.env.NO_COLOR;
  const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== "string") return write(chunk, ...rest);
    const lines = chunk.split("\n");
    const out = lines.map((l) => prettyLogLine(l, colours) ?? l).join("\n");
    return write(out, ...rest);
  }) as typeof stream.write;
}

/**
 * The local stack as the CLI's `local` profile in the user's config
 * (~/.config/makima/config.json), so `makima` works from any folder; it
 * becomes the default profile only if there is none yet.
 */
export function registerLocalProfile(values: { apiUrl: string; apiKey: string; wsUrl: string; daemonKey: string }, path = userConfigPath()): string {
  updateProfile("local", values, { path });
  return path;
}
