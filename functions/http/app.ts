import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { MiddlewareHandler } from "hono";
import { createHash } from "node:crypto";
import type { Runtime } from "../../core/runtime.js";
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey } from "../../core/store/idempotency.js";
import type { AppEnv } from "./context.js";
import { errorJson, handleError } from "./errors.js";
import { renderDocsPage } from "./docsPage.js";
import { contractRoutes } from "./routes/contracts.js";
import { taskRoutes } from "./routes/tasks.js";
import { checkpointRoutes } from "./routes/checkpoints.js";
import { supervisorRoutes } from "./routes/supervisor.js";
import { rewindRoutes } from "./routes/rewind.js";
import { accountRoutes } from "./routes/account.js";
import { failures, json, router } from "./route.js";
import { allowedMethods } from "./methods.js";
import { z } from "zod";

const PUBLIC_PATHS = new Set(["/api/v1/openapi.json", "/api/v1/docs"]);
const MAX_BODY_BYTES = 1024 * 1024;

export const API_DESCRIPTION = `The history, resume, rewind and fork service of the Makima agent platform.

Every /api/v1 request needs \`Authorization: Bearer <key>\` (a user key mk_…, a contract's tool key mkt_…, or a JWT from the configured issuer). Errors are \`{"error": {"code", "message", "details"?}}\`. Lists are \`{"items", "nextCursor"}\`, newest first unless stated; a cursor belongs to the list that gave it.

Nothing is lost by going back: a conversation rewind hides messages (restore it with \`…/conversation/restore\`), a code rewind saves the worktree under a safety ref first (undo with \`…/rewind/undo\`). Creating or changing POST/PATCH requests accept an \`Idempotency-Key\` header: the same key and body within 24 h return the first answer and do nothing again; the same key with another body is a 409.`;

/** The whole HTTP API as one Hono app: the `api` Lambda and the local server both serve it. */
export function createApp(runtime: Runtime): OpenAPIHono<AppEnv> {
  const app = router();
  app.onError(handleError);
  app.notFound((c) => {
    const allowed = allowedMethods(app.routes, c.req.path);
    if (allowed.length > 0) {
      c.header("Allow", allowed.join(", "));
      return errorJson(c, 405, "method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(", ")}`);
    }
    return errorJson(c, 404, "route_not_found", `no route ${c.req.method} ${c.req.path}`);
  });

  app.use("*", bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => errorJson(c, 413, "body_too_large", "the request body is over 1 MB") }));
  app.use("/api/v1/*", async (c, next) => {
    c.set("runtime", runtime);
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const principal = await runtime.auth.authenticate(c.req.header("authorization"));
    c.set("principal", principal);
    c.set("service", { db: runtime.db, relay: runtime.relay, principal });
    return next();
  });
  app.use("/api/v1/*", idempotency);

  app.openapi(
    createRoute({
      operationId: "getHealth",
      method: "get",
      path: "/health",
      tags: ["health"],
      summary: "Is the service up (no key needed)",
      security: [],
      responses: { 200: json(z.object({ ok: z.literal(true) }).meta({ id: "Health" })), ...failures({ public: true }) },
    }),
    (c) => c.json({ ok: true as const }, 200),
  );
  app.route("/", contractRoutes);
  app.route("/", supervisorRoutes);
  app.route("/", taskRoutes);
  app.route("/", checkpointRoutes);
  app.route("/", rewindRoutes);
  app.route("/", accountRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  const document = () =>
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: { title: "makima-history", version: "1.0.0", description: API_DESCRIPTION },
      servers: [{ url: "/" }],
    });
  app.get("/api/v1/openapi.json", (c) => c.json(document()));
  app.get("/api/v1/docs", (c) => c.html(renderDocsPage(document())));
  return app;
}

/** `Idempotency-Key` on a POST or PATCH: the first answer is kept for 24 h and replayed. */
const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (!key || (c.req.method !== "POST" && c.req.method !== "PATCH") || !c.get("service")) return next();
  if (key.length > 200) return errorJson(c, 400, "validation_failed", "Idempotency-Key is at most 200 characters", [{ path: "header.Idempotency-Key", message: "too long" }]);
  const { db, principal } = c.get("service");
  const hash = createHash("sha256").update(`${c.req.method} ${c.req.path}\n${await c.req.text()}`).digest("hex");
  const earlier = await claimIdempotencyKey(db, principal.ownerId, key, hash);
  if (earlier) {
    c.header("Idempotent-Replayed", "true");
    return c.json(earlier.body as object, earlier.status as 200);
  }
  try {
    await next();
  } catch (error) {
    await releaseIdempotencyKey(db, principal.ownerId, key);
    throw error;
  }
  if (c.res.status >= 200 && c.res.status < 300) {
    const body = c.res.status === 204 ? null : await c.res.clone().json();
    await completeIdempotencyKey(db, principal.ownerId, key, { status: c.res.status, body });
  } else {
    await releaseIdempotencyKey(db, principal.ownerId, key);
  }
};
