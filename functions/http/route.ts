import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "./context.js";
import { ErrorBody } from "./errors.js";
import type { RelayOutcome } from "../../core/relay.js";
import type { ServiceContext } from "../../core/services/context.js";

/**
 * One place that turns a route description into an OpenAPI operation and a
 * Hono handler: inputs validated by the same zod schemas the document shows,
 * the service called with the caller's context, the answer serialised.
 */

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input; `details` lists each field at fault",
  401: "Missing or invalid key",
  403: "The key may not do this (daemon key, or a tool key outside its contract)",
  404: "Not found (another owner's resource answers the same)",
  409: "Conflict (task running, concurrent change, idempotency key reused; from a daemon: foreign_changes, branch_exists, not_a_commit)",
  413: "Body over 1 MB",
  502: "The daemon reported a failure (daemon_error, relay_failed)",
  503: "No daemon of yours is online (no_daemon)",
  504: "The daemon did not answer in time (daemon_timeout, daemon_disconnected)",
};

export const Accepted = z
  .object({
    operationId: z.uuid(),
    status: z.literal("pending"),
    statusUrl: z.string(),
  })
  .meta({ id: "Accepted", description: "The daemon is still working; poll GET /api/v1/operations/{operationId}" });

export interface RouteSpec {
  method: "get" | "post" | "patch" | "put" | "delete";
  path: string;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The body may be left out entirely (all its fields optional). */
  optionalBody?: boolean;
  status: 200 | 201 | 204;
  response?: z.ZodType;
  /** Needs a daemon: may answer 202 with an operation, 502, 503, 504. */
  relayed?: boolean;
  errors?: number[];
  /** Served without a key (health, the OpenAPI document). */
  public?: boolean;
}

export interface RouteInput {
  ctx: ServiceContext;
  params: Record<string, string>;
  query: Record<string, any>;
  body: any;
  c: Context<AppEnv>;
}

/** What a relayed handler returns: the daemon's answer, or a pending operation to poll. */
export function relayed<T>(outcome: RelayOutcome<T>): T | { __pending: string } {
  return outcome.pending ? { __pending: outcome.operationId } : outcome.result;
}

export function defineRoute(app: OpenAPIHono<AppEnv>, spec: RouteSpec, handler: (input: RouteInput) => Promise<unknown>) {
  const errors = new Set([...(spec.public ? [] : [401, 403]), ...(spec.errors ?? [])]);
  if (spec.params || spec.query || spec.body) errors.add(400);
  // An Idempotency-Key reused with another body, or still held by a running request.
  if (spec.method === "post" || spec.method === "patch") [400, 409].forEach((s) => errors.add(s));
  // The daemon's refusals: 400 (it found the input invalid), 409 (foreign changes, branch exists, not a commit…).
  if (spec.relayed) [400, 409, 502, 503, 504].forEach((s) => errors.add(s));
  const responses: Record<number, unknown> = {
    [spec.status]: spec.response
      ? { description: "Success", content: { "application/json": { schema: spec.response } } }
      : { description: "Success" },
  };
  if (spec.relayed) {
    responses[202] = { description: "Still waiting on the daemon", content: { "application/json": { schema: Accepted } } };
  }
  for (const status of [...errors].sort()) {
    responses[status] = { description: ERROR_TEXT[status] ?? "Error", content: { "application/json": { schema: ErrorBody } } };
  }
  const route = createRoute({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    description: spec.description,
    ...(spec.public ? {} : { security: [{ bearer: [] }] }),
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.body
        ? { body: { content: { "application/json": { schema: spec.body } }, required: !spec.optionalBody } }
        : {}),
    },
    responses: responses as never,
  });
  app.openapi(route, (async (c: Context<AppEnv>) => {
    const valid = (target: string) => (c.req as unknown as { valid: (t: string) => unknown }).valid(target);
    const result = await handler({
      ctx: c.get("service"),
      params: (spec.params ? valid("param") : {}) as Record<string, string>,
      query: (spec.query ? valid("query") : {}) as Record<string, unknown>,
      body: spec.body ? (valid("json") ?? {}) : undefined,
      c,
    });
    if (result && typeof result === "object" && "__pending" in result) {
      const operationId = (result as { __pending: string }).__pending;
      return c.json({ operationId, status: "pending", statusUrl: `/api/v1/operations/${operationId}` }, 202);
    }
    if (spec.status === 204) return c.body(null, 204);
    return c.json(result as object, spec.status);
  }) as never);
}

export const IdParam = z.object({ id: z.uuid() });
export const TaskCheckpointParams = z.object({ id: z.uuid(), cid: z.uuid() });
export const TaskSnapshotParams = z.object({ id: z.uuid(), sid: z.uuid() });

/** `{items, nextCursor}` for a list of T. */
export const pageOf = (item: z.ZodType, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id: name });
