import { handle } from "hono/aws-lambda";
import { loadConfig } from "../core/config.js";
import { withInvocation } from "./lambda.js";
import { createRuntime } from "../core/runtime.js";
import { createApp } from "./http/app.js";

/** The `api` Lambda: every /api/v1 route, behind API Gateway's HTTP API ($default route). */
export const app = createApp(createRuntime(loadConfig()));
const serve = handle(app);

type LambdaEvent = Parameters<typeof serve>[0];

/**
 * A GET or HEAD that carries a body (API Gateway passes it on) has it
 * dropped, as HTTP lets a server do: a Request cannot hold one, and the
 * request is then answered like any other instead of with a plain-text 400.
 */
function withoutBodyOnRead(event: LambdaEvent): LambdaEvent {
  const shape = event as { httpMethod?: string; body?: string | null; requestContext?: { http?: { method?: string } } };
  const method = (shape.requestContext?.http?.method ?? shape.httpMethod ?? "").toUpperCase();
  if (!shape.body || (method !== "GET" && method !== "HEAD")) return event;
  // An empty body is no body to the adapter.
  return { ...event, body: "", isBase64Encoded: false };
}

export const handler = withInvocation((event: LambdaEvent, context: Parameters<typeof serve>[1]) => serve(withoutBodyOnRead(event), context));
