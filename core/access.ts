import type { Principal } from "./auth.js";

/**
 * What each kind of key may call: one row per route (method and path as the
 * OpenAPI document names them), one column per key kind. The HTTP API
 * consults this table once per request, before anything else runs (and
 * before an idempotent answer is replayed); the served API
 * description prints it.
 *
 * - `user`: a user API key (`mk_…`) or a JWT — everything the owner has.
 * - `tool`: a contract's tool key (`mkt_…`) — reads of its contract and the
 *   records a supervisor writes as it works (messages, checkpoints,
 *   snapshots, tasks it spawns, their status). Never: another contract
 *   (403), changing the contract itself, starting, rewinding, forking or
 *   resuming anything, keys, daemons or the account. Which contract a task
 *   or contract belongs to is checked by the services (`ownedContract`,
 *   `ownedTask`).
 * - Daemon keys (`mkd_…`) call nothing over HTTP.
 */
export type ToolAccess = "allowed" | "denied" | "allowed, not isSupervisor";

export interface AccessRow {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  path: string;
  tool: ToolAccess;
}

const row = (method: AccessRow["method"], path: string, tool: ToolAccess): AccessRow => ({ method, path: `/api/v1${path}`, tool });

export const ACCESS_MATRIX: readonly AccessRow[] = [
  row("POST", "/contracts", "denied"),
  row("GET", "/contracts", "denied"),
  row("GET", "/contracts/{id}", "allowed"),
  row("PATCH", "/contracts/{id}", "denied"),
  row("GET", "/contracts/{id}/tasks", "allowed"),
  row("GET", "/contracts/{id}/history", "allowed"),
  row("GET", "/timeline", "denied"),
  row("GET", "/contracts/{id}/supervisor/conversation", "allowed"),
  row("POST", "/contracts/{id}/supervisor/resume", "denied"),
  row("POST", "/contracts/{id}/supervisor/conversation/rewind", "denied"),
  row("POST", "/contracts/{id}/supervisor/conversation/restore", "denied"),
  row("POST", "/mesh/tasks", "allowed, not isSupervisor"),
  row("GET", "/mesh/tasks/{id}", "allowed"),
  row("PATCH", "/mesh/tasks/{id}", "allowed"),
  row("POST", "/mesh/tasks/{id}/messages", "allowed"),
  row("GET", "/mesh/tasks/{id}/conversation", "allowed"),
  row("GET", "/mesh/tasks/{id}/messages/{messageId}", "allowed"),
  row("GET", "/mesh/tasks/{id}/history", "allowed"),
  row("GET", "/mesh/tasks/{id}/forks", "allowed"),
  row("GET", "/mesh/tasks/{id}/checkpoints", "allowed"),
  row("POST", "/mesh/tasks/{id}/checkpoints", "allowed"),
  row("GET", "/mesh/tasks/{id}/checkpoints/{cid}", "allowed"),
  row("GET", "/mesh/tasks/{id}/checkpoints/{cid}/diff", "allowed"),
  row("POST", "/mesh/tasks/{id}/checkpoints/{cid}/branch", "denied"),
  row("POST", "/mesh/tasks/{id}/checkpoints/{cid}/resume", "denied"),
  row("GET", "/mesh/tasks/{id}/snapshots", "allowed"),
  row("POST", "/mesh/tasks/{id}/snapshots", "allowed"),
  row("GET", "/mesh/tasks/{id}/snapshots/{sid}", "allowed"),
  row("POST", "/mesh/tasks/{id}/snapshots/{sid}/pin", "denied"),
  row("DELETE", "/mesh/tasks/{id}/snapshots/{sid}/pin", "denied"),
  row("POST", "/mesh/tasks/{id}/rewind", "denied"),
  row("POST", "/mesh/tasks/{id}/rewind/undo", "denied"),
  row("GET", "/mesh/tasks/{id}/rewinds", "allowed"),
  row("POST", "/mesh/tasks/{id}/conversation/rewind", "denied"),
  row("POST", "/mesh/tasks/{id}/conversation/restore", "denied"),
  row("GET", "/mesh/tasks/{id}/conversation/rewinds", "allowed"),
  row("POST", "/mesh/tasks/{id}/fork", "denied"),
  row("POST", "/mesh/tasks/import", "denied"),
  row("POST", "/mesh/tasks/{id}/import", "denied"),
  row("GET", "/mesh/tasks/{id}/export", "allowed"),
  row("GET", "/mesh/tasks/{id}/export/link", "allowed"),
  row("POST", "/mesh/tasks/{id}/continue", "denied"),
  row("POST", "/keys", "denied"),
  row("GET", "/keys", "denied"),
  row("DELETE", "/keys/{id}", "denied"),
  row("GET", "/daemons", "denied"),
  // A tool key's diff may answer 202: it polls the operation.
  row("GET", "/operations/{id}", "allowed"),
  row("GET", "/cleanup-runs", "denied"),
  row("GET", "/account/retention", "denied"),
  row("PUT", "/account/retention", "denied"),
];

const BY_ROUTE = new Map(ACCESS_MATRIX.map((r) => [`${r.method} ${r.path}`, r]));

function accessRow(method: string, path: string): AccessRow | undefined {
  return BY_ROUTE.get(`${method.toUpperCase()} ${path}`);
}

/**
 * Why `principal` may not make this request, or undefined when it may. A
 * route missing from the table is refused to tool keys (a new route is
 * closed until it is given a row).
 */
export function accessProblem(principal: Principal, method: string, path: string, body: unknown): string | undefined {
  if (principal.via !== "tool_key") return undefined;
  const access = accessRow(method, path)?.tool ?? "denied";
  if (access === "denied") return `a tool key may not call ${method.toUpperCase()} ${path} (see the key scope table in the API description)`;
  if (access === "allowed, not isSupervisor" && isObject(body) && body.isSupervisor === true) {
    return "a tool key may not create a supervisor task";
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The table as Markdown, as the API description prints it. */
export function accessMatrixMarkdown(): string {
  const lines = ["| method | path | user key / JWT | tool key |", "|---|---|---|---|"];
  for (const r of ACCESS_MATRIX) lines.push(`| ${r.method} | \`${r.path}\` | allowed | ${r.tool} |`);
  return lines.join("\n");
}
