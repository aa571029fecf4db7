import { OpenAPIHono } from "@hono/zod-openapi";
import * as z from "zod";
import type { AppEnv } from "./context.js";
import { errorJson, validationDetails } from "./errors.js";
import { Accepted, ErrorBody } from "../../core/responses.js";

/**
 * The pieces every routes file builds its operations from: a sub-app whose
 * validation failures are the API's 400, request bodies and responses in the
 * document's shape, and the failure statuses an operation can answer.
 */

/** A routes file's app: invalid input answers 400 `validation_failed` naming each field at fault. */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const details = validationDetails(result.error, result.target);
        return errorJson(c, 400, "validation_failed", `invalid request: ${details.map((d) => `${d.path}: ${d.message}`).join("; ")}`, details);
      }
    },
  });
}

/** The security requirement of every operation that needs a key. */
export const bearer = [{ bearer: [] }];

const FAILURE_TEXT = {
  400: "Invalid input; `details` lists each field at fault (an unknown body field is named too)",
  401: "Missing or invalid key",
  403: "The key may not do this (daemon key, or a tool key outside its contract)",
  404: "Not found (another owner's resource answers the same)",
  409: "Conflict: task running, concurrent change, `not_undoable`, `idempotency_key_reused` (the same Idempotency-Key with another body) or `request_in_progress` (the same key still held by a running request); from a daemon: foreign_changes, branch_exists, not_a_commit",
  410: "Gone: the operation's result has expired (`result_expired`)",
  413: "Body over 1 MB (`body_too_large`)",
  415: "The body is not `application/json`",
  431: "Request headers too large",
  502: "The daemon reported a failure (daemon_error, relay_failed)",
  503: "A dependency is unavailable (`unavailable`; retry later), or no daemon of yours is online (`no_daemon`)",
  504: "The daemon did not answer in time (daemon_timeout, daemon_disconnected)",
} as const;

export type FailureStatus = keyof typeof FAILURE_TEXT;

export interface Failures {
  /** Served without a key. */
  public?: boolean;
  /** Takes path parameters, a query or a body: may answer 400. */
  input?: boolean;
  /** Takes a JSON body: may answer 413 and 415. */
  body?: boolean;
  /** A POST or PATCH taking `Idempotency-Key`: may answer 409 `idempotency_key_reused`. */
  idempotent?: boolean;
  /** Needs a daemon: may answer 400 and 409 (its refusals), 502, 503, 504. */
  relayed?: boolean;
  /** Statuses particular to the operation. */
  also?: FailureStatus[];
}

type JsonContent<S extends z.ZodType> = { "application/json": { schema: S } };
type ErrorResponse = { description: string; content: JsonContent<typeof ErrorBody> };

/** Every failure status an operation can answer, each with the API's error body. */
export function failures(spec: Failures): Record<string, ErrorResponse> {
  const statuses = new Set<FailureStatus>([431, ...(spec.also ?? [])]);
  const add = (...more: FailureStatus[]) => more.forEach((status) => statuses.add(status));
  if (!spec.public) add(401, 403, 503);
  if (spec.input || spec.body) add(400);
  if (spec.body) add(413, 415);
  // An Idempotency-Key that is malformed (400), reused with another body or still held by a running request (409).
  if (spec.idempotent) add(400, 409);
  if (spec.relayed) add(400, 409, 502, 503, 504);
  const responses: Record<string, ErrorResponse> = {};
  for (const status of [...statuses].sort()) {
    responses[String(status)] = { description: FAILURE_TEXT[status], content: { "application/json": { schema: ErrorBody } } };
  }
  return responses;
}

/** A JSON response of `schema`. */
export function json<S extends z.ZodType>(schema: S, description = "Success"): { description: string; content: JsonContent<S> } {
  return { description, content: { "application/json": { schema } } };
}

/** A JSON request body of `schema`; `required: false` lets the body be left out entirely. */
export function jsonBody<S extends z.ZodType>(schema: S, required = true): { content: JsonContent<S>; required: boolean } {
  return { content: { "application/json": { schema } }, required };
}

/** The optional `Idempotency-Key` header of creating and changing requests. */
export const IdempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .max(200)
    .optional()
    .describe("The same key and body within 24 h return the first answer and do nothing again; the same key with another body is a 409 `idempotency_key_reused`"),
});

/** The 202 of an operation that waits on a daemon. */
export const acceptedResponse = json(Accepted, "Still waiting on the daemon");

/** The body of a 202: where to poll for the daemon's answer. */
export function accepted(operationId: string): z.infer<typeof Accepted> {
  return { operationId, status: "pending", statusUrl: `/api/v1/operations/${operationId}` };
}

export const IdParam = z.object({ id: z.uuid() });
export const TaskCheckpointParams = z.object({ id: z.uuid(), cid: z.uuid() });
export const TaskSnapshotParams = z.object({ id: z.uuid(), sid: z.uuid() });

export { pageOf } from "../../core/responses.js";
