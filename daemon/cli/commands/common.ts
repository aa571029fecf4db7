import { Command, InvalidArgumentError, Option } from "commander";
import { createInterface } from "node:readline/promises";
import { Api } from "../api.js";
import type { ForkResult, OperationStatus } from "../../../core/responses.js";
import type { Task } from "../../../core/models.js";
import { resolveApi } from "../config.js";
import { CliError, usage } from "../errors.js";
import { createOut, now, startSpinner, type Out } from "../output.js";
import { allowPager } from "../pager.js";
import type { Checkpoint } from "../render.js";

/** Options every API command takes. */
export interface ApiOpts {
  apiUrl?: string;
  apiKey?: string;
  format: string;
  /** `--json` alone, or `--json id,status` for only those fields. */
  json?: string | boolean;
  /** false with --no-pager. */
  pager?: boolean;
}

/** `--format` (choices, default) then where the API is: the options every API command ends with. */
export function commonOptions(cmd: Command, formats: string[], fallback: string): Command {
  return cmd
    .addOption(new Option("--format <format>", "output format").choices(formats).default(fallback))
    .option("--json [fields]", "print JSON; with fields (comma separated, dotted paths), only those: --json id,status")
    .option("--no-pager", "never page the output (a pager runs only on a terminal)")
    .option("--api-url <url>", "the API's base URL (else MAKIMA_API_URL, else .makima/local.json)")
    .option("--api-key <key>", "a user key mk_… or a tool key mkt_… (else MAKIMA_API_KEY, else .makima/local.json)");
}

/** What an API command's action starts with: output, and a client from the resolved settings. */
export function session(opts: { apiUrl?: string; apiKey?: string; json?: string | boolean; pager?: boolean; format?: string }): { out: Out; api: Api } {
  allowPager(opts.pager !== false && opts.format !== "json");
  const fields = typeof opts.json === "string" ? opts.json.split(",").map((f) => f.trim()).filter(Boolean) : undefined;
  return { out: createOut(process.stdout, process.stderr, { fields }), api: new Api(resolveApi(opts)) };
}

/** A parser for whole numbers ≥ `min` (commander reports the bad value as a usage error). */
export function intOption(min = 1) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min) throw new InvalidArgumentError(`must be a whole number ≥ ${min}`);
    return Number(value);
  };
}

export function checkpointNumberArg(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw usage(`"${value}" is not a checkpoint number (1, 2, …: see \`makima checkpoint list\`)`);
  return Number(value);
}

/**
 * A time the user typed, sent as a full UTC timestamp: ISO 8601
 * (2026-01-31, 2026-01-31T12:00:00Z), a duration ago (30m, 2h, 1d, 1w),
 * or today, yesterday, now.
 */
export function timeArg(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const at = now();
  const word = value.trim().toLowerCase();
  const ago = /^(\d+)\s*(s|m|min|h|d|w)$/.exec(word);
  if (ago) {
    const unit = { s: 1, m: 60, min: 60, h: 3600, d: 86400, w: 7 * 86400 }[ago[2] as "s"];
    return new Date(at - Number(ago[1]) * unit * 1000).toISOString();
  }
  const midnight = new Date(at);
  midnight.setHours(0, 0, 0, 0);
  if (word === "now") return new Date(at).toISOString();
  if (word === "today") return midnight.toISOString();
  if (word === "yesterday") return new Date(midnight.getTime() - 86400_000).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usage(`${flag} "${value}" is not a time: 30m, 2h, 1d, 1w ago, today, yesterday, or ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z)`);
  return new Date(t).toISOString();
}

/** Every checkpoint of a task, number ascending. */
export async function allCheckpoints(api: Api, taskId: string): Promise<Checkpoint[]> {
  return (await api.all<Checkpoint>(`/api/v1/mesh/tasks/${taskId}/checkpoints`, "items")).items;
}

/** Users see checkpoint numbers; the API wants ids. */
export async function checkpointByNumber(api: Api, taskId: string, n: number): Promise<Checkpoint> {
  const checkpoints = await allCheckpoints(api, taskId);
  const found = checkpoints.find((c) => c.checkpointNumber === n);
  if (found) return found;
  const first = checkpoints[0]?.checkpointNumber;
  const last = checkpoints.at(-1)?.checkpointNumber;
  const range = first === undefined ? "it has none yet" : first === last ? `it has checkpoint ${first}` : `it has checkpoints ${first}–${last}`;
  throw new CliError(`task ${taskId} has no checkpoint ${n} (${range}) [404 not_found]`);
}

export async function withSpinner<T>(text: string, work: () => Promise<T>): Promise<T> {
  const spinner = startSpinner(text);
  try {
    return await work();
  } finally {
    spinner.stop();
  }
}

/**
 * Asks on the terminal before something that discards work. Without a
 * terminal there is no one to ask: the caller must have passed --yes.
 */
export async function confirm(question: string, yesFlag: string): Promise<void> {
  if (!process.stdin.isTTY) throw usage(`this discards work and there is no terminal to confirm on: pass ${yesFlag} to go ahead`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") throw new CliError("cancelled: nothing changed");
  } finally {
    rl.close();
  }
}

/** What a fork or resume request says about the start of its task. */
export type StartedOn = Pick<ForkResult, "daemonId" | "operationId" | "start" | "startError">;

/** How long the CLI waits for a daemon to confirm it started a task (MAKIMA_START_WAIT_SECONDS, default 20). */
function startWaitMs(): number {
  const seconds = Number(process.env.MAKIMA_START_WAIT_SECONDS);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 20_000;
}

/**
 * Whether the task actually started: a start sent to a daemon is followed
 * (bounded) until the daemon confirms or refuses it. A refused or failed
 * start is an error (exit 1) that says why and what happens next.
 */
export async function startedText(api: Api, taskId: string, r: StartedOn): Promise<string> {
  const waiting = "it waits for a daemon and starts when one connects (`makima daemon`)";
  if (r.start === "failed") {
    throw new CliError(`task ${taskId} was not started: ${r.startError?.message ?? "its start failed"}${r.startError ? ` [${r.startError.code}]` : ""}; it is marked failed`);
  }
  if (r.start === "waiting" || !r.operationId) {
    return r.startError ? `not started (${r.startError.message} [${r.startError.code}]); ${waiting}` : `no daemon that can start it is online: ${waiting}`;
  }
  const operation = `operation ${r.operationId}`;
  const deadline = Date.now() + startWaitMs();
  let delay = 200;
  for (;;) {
    const op = await api.get<OperationStatus>(`/api/v1/operations/${r.operationId}`);
    const daemon = op.daemonId ?? r.daemonId ?? "?";
    if (op.status === "succeeded") return `started on daemon ${daemon} (${operation})`;
    if (op.status === "failed" || op.status === "timed_out") {
      const task = await api.get<Task>(`/api/v1/mesh/tasks/${taskId}`);
      const next = task.status === "failed" ? `the task is marked failed after ${task.startAttempts ?? "its"} attempts` : "the task waits for a daemon and is tried again when one connects";
      throw new CliError(`task ${taskId} was not started on daemon ${daemon}: ${op.error?.message ?? op.status} [${op.error?.code ?? op.status}]; ${next}`);
    }
    if (Date.now() >= deadline) return `sent to daemon ${daemon} (${operation}), not confirmed started yet (GET /api/v1/operations/${r.operationId} tells how it went)`;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 1000);
  }
}

/**
 * Defines a command under `parent` by the name it has there: `names` maps
 * a definition's own name to the one it takes (the same definitions serve
 * `makima task history` and the earlier `makima supervisor task-history`);
 * a definition not in `names` is built but not added.
 */
export function namer(parent: Command, names?: Record<string, string>) {
  return (name: string, description: string): Command => {
    const as = names ? names[name] : name;
    return (as ? parent.command(as) : new Command(name)).description(description);
  };
}
