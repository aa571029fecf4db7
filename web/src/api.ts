/**
 * The public HTTP API, as the viewer uses it: the key from sessionStorage,
 * errors in words, an Idempotency-Key on every change, 202 operations
 * followed until they settle.
 */
const KEY = "makima.key";
const BASE = (import.meta.env.VITE_API_URL as string | undefined)?.replace(/\/$/, "") ?? "";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sign-in by link: `#key=<key>` in the fragment (never sent to a server) is
 * moved to sessionStorage and removed from the address and the history.
 */
export function takeKeyFromLocation(): void {
  const match = /^#key=([^&]+)(?:&next=(.*))?$/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY, decodeURIComponent(match[1]!));
  const next = match[2] ? decodeURIComponent(match[2]) : "#/";
  history.replaceState(null, "", `${location.pathname}${location.search}${next.startsWith("#/") ? next : "#/"}`);
}

export const signedIn = (): boolean => sessionStorage.getItem(KEY) !== null;
export const signIn = (key: string): void => sessionStorage.setItem(KEY, key.trim());
export const signOut = (): void => sessionStorage.removeItem(KEY);

function explain(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  const code = error?.code ?? `http_${status}`;
  const words: Record<number, string> = {
    401: "The key was refused: sign in again.",
    503: "No daemon is online: start one with `makima daemon` and try again.",
    504: "The daemon did not answer in time.",
  };
  return new ApiError(status, code, error?.message ? `${error.message}${words[status] ? ` — ${words[status]}` : ""}` : (words[status] ?? `The API answered ${status}.`));
}

async function call<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  let res: Response;
  try {
    res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "The API cannot be reached (network down or server stopped).");
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (res.status >= 400) throw explain(res.status, parsed);
  return { status: res.status, body: parsed as T };
}

interface Operation {
  status: "pending" | "succeeded" | "failed" | "timed_out";
  result?: unknown;
  error?: { code?: string; message?: string } | string;
}

/** A 202's operation, followed until it settles. */
async function settle<T>(first: { status: number; body: unknown }): Promise<T> {
  if (first.status !== 202) return first.body as T;
  const id = (first.body as { operationId: string }).operationId;
  for (;;) {
    const op = (await call<Operation>("GET", `/api/v1/operations/${id}?wait=10`)).body;
    if (op.status === "succeeded") return op.result as T;
    if (op.status !== "pending") {
      const message = typeof op.error === "string" ? op.error : (op.error?.message ?? `the daemon's operation ${op.status}`);
      throw new ApiError(502, typeof op.error === "object" ? (op.error.code ?? op.status) : op.status, message);
    }
  }
}

export async function get<T>(path: string): Promise<T> {
  return settle<T>(await call<unknown>("GET", path));
}

/** A change: sent once under a fresh Idempotency-Key (a retry of the same click reuses it). */
export async function post<T>(path: string, body: unknown = {}, idempotencyKey: string = crypto.randomUUID()): Promise<T> {
  return settle<T>(await call<unknown>("POST", path, body, idempotencyKey));
}

export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
