import * as z from "zod";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { log } from "../../core/log.js";
import { DomainError, isUnavailable, RETRY_AFTER_SECONDS, unavailable } from "../../core/errors.js";

export function errorJson(c: Context, status: number, code: string, message: string, details?: Array<{ path: string; message: string }>) {
  return c.json({ error: { code, message, ...(details?.length ? { details } : {}) } }, status as 400);
}

/** Every failure becomes the API's JSON error; anything unexpected is a 500 without internals. */
export function handleError(error: Error, c: Context) {
  if (error instanceof DomainError) {
    if (error.status === 503 && error.code === "unavailable") c.header("Retry-After", String(RETRY_AFTER_SECONDS));
    return errorJson(c, error.status, error.code, error.message, error.details);
  }
  if (isUnavailable(error)) {
    log.warn("storage unavailable", { path: c.req.path }, error);
    const answer = unavailable();
    c.header("Retry-After", String(RETRY_AFTER_SECONDS));
    return errorJson(c, answer.status, answer.code, answer.message);
  }
  if (error instanceof HTTPException) {
    if (error.status === 413) {
      c.header("Connection", "close");
      return errorJson(c, 413, "body_too_large", "the request body is over 1 MB");
    }
    if (error.status === 415) return errorJson(c, 415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json)");
    const message = error.message || "bad request";
    const code = /json/i.test(message) ? "malformed_json" : "bad_request";
    return errorJson(c, error.status, code, code === "malformed_json" ? "the request body is not valid JSON" : message);
  }
  if (error instanceof SyntaxError) return errorJson(c, 400, "malformed_json", "the request body is not valid JSON");
  log.error("request failed", { path: c.req.path }, error);
  return errorJson(c, 500, "internal_error", "something went wrong on our side; it has been logged");
}

/** zod's issues as `details`, each with the path of the field at fault (prefixed by where it was: body, query, path). */
export function validationDetails(error: z.ZodError, target: string) {
  const where = target === "json" ? "body" : target === "param" ? "path" : target;
  return error.issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
}
