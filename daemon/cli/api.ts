import { randomUUID } from "node:crypto";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./errors.js";
import { startSpinner } from "./output.js";
import type { ApiSettings } from "./config.js";
import type { z } from "zod";
import type { OperationStatus } from "../../core/responses.js";

/** The API's schemas, loaded only when an answer needs checking (keeps every other command's start quick). */
type Schemas = typeof import("../../core/responses.js");
const schemas = (): Promise<Schemas> => import("../../core/responses.js");

/**
 * The HTTP API over fetch: JSON in and out, the API's error body turned into
 * one line, and relayed requests (those a daemon answers) followed through
 * their 202 operation until the daemon is done.
 */

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error answer of the API: `{"error": {code, message, details?}}`. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(describeError(status, code, apiMessage, details), status === 400 ? EXIT_USAGE : EXIT_FAILURE);
    this.name = "ApiError";
  }

  /** Seconds the API asked to wait before retrying (its Retry-After). */
  retryAfter?: number;
}

const NO_DAEMON = "no daemon of yours is online: start one with `makima daemon`, then try again";

function describeError(status: number, code: string, message: string, details: ErrorDetail[]): string {
  // A daemon asked for by id (--daemon) that is not online: say which, not that none is.
  if (code === "no_daemon") return /^daemon \S+ is not online/.test(message) ? `${message}: is it running, and connected with one of your keys? [503 no_daemon]` : NO_DAEMON;
  if (status === 503) return `the service is unavailable right now (${message}); try again shortly [503 ${code}]`;
  if (status === 401) return `the API refused the key: ${message}; check --api-key or MAKIMA_API_KEY`;
  const fields = details.filter((d) => !message.includes(d.message)).map((d) => `${d.path}: ${d.message}`);
  let text = `${message}${fields.length ? ` (${fields.join("; ")})` : ""}`;
  if (code === "foreign_changes") text = text.replace(/force: true/, "--force");
  else if (status === 502) text = `the daemon failed: ${text}`;
  return `${text} [${status} ${code}]`;
}

/** A settled operation's error as the API would have answered it (core/relay.ts daemonFailure). */
function operationError(op: Operation): ApiError {
  const code = op.error?.code ?? (op.status === "timed_out" ? "daemon_timeout" : "daemon_error");
  const message = op.error?.message ?? (op.status === "timed_out" ? "the daemon did not answer in time" : "the daemon reported a failure");
  if (op.status === "timed_out") return new ApiError(504, code, message);
  const status = code === "foreign_changes" || code === "task_running" ? 409 : code === "no_daemon" ? 503 : 502;
  return new ApiError(status, code, message);
}

type Operation = OperationStatus;

type Query = Record<string, string | number | boolean | undefined>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many times a call meeting 503 `unavailable` is made in all. */
const RETRY_ATTEMPTS = 4;

/** The longest wait the API grants one `GET /operations/{id}?wait=` (its long poll). */
const OPERATION_POLL_SECONDS = 20;

/** How long the CLI follows a daemon operation before giving up (the server times it out at 2 min). */
function waitLimitMs(): number {
  const seconds = Number(process.env.MAKIMA_WAIT_SECONDS);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 150_000;
}

export class Api {
  constructor(private readonly settings: ApiSettings) {}

  /**
   * One request; the parsed answer on 2xx, an ApiError otherwise. `T` is the
   * answer the API documents for the path (core/models.ts, core/responses.ts).
   * A 503 `unavailable` (the service's storage busy or down) is retried after
   * its Retry-After, a few times, saying so on stderr: GET and DELETE as they
   * are, POST and PATCH under one Idempotency-Key, so a retry never does the
   * work twice.
   */
  async call<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.settings.apiKey}`, accept: "application/json" };
    if (method === "POST" || method === "PATCH") headers["idempotency-key"] = `cli-${randomUUID()}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, options, headers);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 503 && error.code === "unavailable") || attempt >= RETRY_ATTEMPTS) throw error;
        const seconds = Math.min(Math.max(error.retryAfter ?? 1, 1), 10);
        process.stderr.write(`makima: the service is unavailable (503 unavailable); retrying in ${seconds} s (attempt ${attempt + 1} of ${RETRY_ATTEMPTS})\n`);
        await sleep(seconds * 1000);
      }
    }
  }

  private async once<T>(method: string, path: string, options: { query?: Query; body?: unknown }, baseHeaders: Record<string, string>): Promise<{ status: number; body: T }> {
    const url = new URL(this.settings.apiUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers = { ...baseHeaders };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
      const code = cause && "code" in cause ? String(cause.code) : undefined;
      throw new CliError(
        `cannot reach the API at ${this.settings.apiUrl} (${code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))}): is it running? (\`npm start\` runs it locally)`,
      );
    }
    const text = await res.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new CliError(`the API at ${this.settings.apiUrl} answered ${res.status} with something other than JSON: is that the makima API?`);
      }
    }
    if (!res.ok) {
      const error = (await schemas()).ErrorBody.safeParse(parsed);
      const e = error.success ? error.data.error : undefined;
      const failure = new ApiError(res.status, e?.code ?? "http_error", e?.message ?? `HTTP ${res.status}`, e?.details ?? []);
      const retryAfter = Number(res.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) failure.retryAfter = retryAfter;
      throw failure;
    }
    const body: T = text ? JSON.parse(text) : undefined;
    return { status: res.status, body };
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.call<T>("GET", path, { query }).then((r) => r.body);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("POST", path, { body: body ?? {} }).then((r) => r.body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PATCH", path, { body }).then((r) => r.body);
  }

  async delete(path: string): Promise<void> {
    await this.call<unknown>("DELETE", path);
  }

  /**
   * A request a daemon answers, its answer checked against `schema`. A 202
   * means the daemon is still at it: follow the operation (spinner on a
   * terminal) until it settles or the wait ends.
   */
  async relayed<S extends z.ZodType>(
    pick: (schemas: Schemas) => S,
    method: "GET" | "POST",
    path: string,
    body: unknown,
    waiting: string,
  ): Promise<z.infer<S>> {
    const spinner = startSpinner(waiting);
    try {
      const first = await this.call<unknown>(method, path, { body: method === "POST" ? (body ?? {}) : undefined });
      const all = await schemas();
      const pending = first.status === 202 ? all.Accepted.safeParse(first.body) : undefined;
      return pending?.success ? await this.follow(pick, pending.data.operationId, spinner) : this.expect(pick(all), first.body, path);
    } finally {
      spinner.stop();
    }
  }

  /**
   * Long-polls GET /api/v1/operations/{id}?wait=… until the operation settles,
   * its result checked against the schema `pick` names: the server answers as
   * soon as it settles, so a reply shows at once and no execution is held
   * longer than one poll. A server that answers a pending operation early (it
   * ignores `wait`) is polled with a growing delay.
   */
  async follow<S extends z.ZodType>(pick: (schemas: Schemas) => S, operationId: string, spinner?: { text(t: string): void }): Promise<z.infer<S>> {
    const deadline = Date.now() + waitLimitMs();
    let delay = 200;
    spinner?.text(`waiting for the daemon (operation ${operationId.slice(-8)})…`);
    for (;;) {
      const wait = Math.max(0, Math.min(OPERATION_POLL_SECONDS, Math.floor((deadline - Date.now()) / 1000)));
      const asked = Date.now();
      const op = await this.get<Operation>(`/api/v1/operations/${operationId}`, wait > 0 ? { wait } : undefined);
      if (op.status === "succeeded") return this.expect(pick(await schemas()), op.result, `operation ${operationId}`);
      if (op.status === "failed" || op.status === "timed_out") throw operationError(op);
      if (Date.now() >= deadline) {
        throw new CliError(
          `the daemon has not finished after ${Math.round(waitLimitMs() / 1000)} s; it may still: check GET ${this.settings.apiUrl}/api/v1/operations/${operationId}`,
        );
      }
      if (Date.now() - asked < (wait * 1000) / 2) {
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private expect<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CliError(`the answer for ${what} is not what the API documents (${issue?.path.join(".") || "body"}: ${issue?.message}): is the CLI as new as the API?`);
    }
    return parsed.data;
  }

  /** Every page of a list, following `nextCursor` (bounded by `max` items). */
  async all<T>(path: string, key: "items" | "messages", query: Query = {}, max = Infinity): Promise<{ items: T[]; nextCursor: string | null }> {
    const items: T[] = [];
    let cursor = typeof query.cursor === "string" ? query.cursor : undefined;
    for (;;) {
      // The API pages at most 200; a larger --limit takes several pages.
      const page = await this.get<{ [K in typeof key]?: T[] } & { nextCursor: string | null }>(path, { ...query, limit: Math.min(200, max - items.length), cursor });
      items.push(...(page[key] ?? []));
      cursor = page.nextCursor ?? undefined;
      if (!cursor || items.length >= max) return { items, nextCursor: cursor ?? null };
    }
  }
}
