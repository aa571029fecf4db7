import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { Context, MiddlewareHandler } from "hono";
import { createHash, randomUUID } from "node:crypto";
import { addLogContext, withLogContext } from "../../core/log.js";
import { recordMetric, statusClass } from "../../core/metrics.js";
import type { Runtime } from "../../core/runtime.js";
import type { IdempotencyScope } from "../../core/store/idempotency.js";
import { onceByKey } from "../../core/services/idempotency.js";
import { accessProblem } from "../../core/access.js";
import { forbidden } from "../../core/auth.js";
import { routePath } from "hono/route";
import { requestDeadline, type AppEnv } from "./context.js";
import { errorJson, handleError } from "./errors.js";
import { renderDocsPage } from "./docsPage.js";
import { API_DESCRIPTION } from "./apiDescription.js";
import { contractRoutes } from "./routes/contracts.js";
import { taskRoutes } from "./routes/tasks.js";
import { checkpointRoutes } from "./routes/checkpoints.js";
import { supervisorRoutes } from "./routes/supervisor.js";
import { rewindRoutes } from "./routes/rewind.js";
import { accountRoutes } from "./routes/account.js";
import { transcriptRoutes } from "./routes/transcripts.js";
import { failures, json, router } from "./route.js";
import { allowedMethods } from "./methods.js";
import * as z from "zod";

const PUBLIC_PATHS = new Set(["/api/v1/openapi.json", "/api/v1/docs"]);
const MAX_BODY_BYTES = 1024 * 1024;

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

  app.use("*", observe);
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      // The rest of the body is not read: the connection cannot carry another request.
      onError: (c) => {
        c.header("Connection", "close");
        return errorJson(c, 413, "body_too_large", "the request body is over 1 MB");
      },
    }),
  );
  app.use("/api/v1/*", async (c, next) => {
    c.set("runtime", runtime);
    if (PUBLIC_PATHS.has(c.req.path)) return next();
    const principal = await runtime.auth.authenticate(c.req.header("authorization"));
    c.set("principal", principal);
    addLogContext({ ownerId: principal.ownerId });
    // A wait for a daemon ends before the invocation does: the caller gets its 202, not a timeout.
    c.set("service", { db: runtime.db, relay: runtime.relay.until(requestDeadline(c.env)), principal });
    return next();
  });
  app.use("/api/v1/*", keyScope);
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
  app.route("/", transcriptRoutes);
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

/** The route a request matched, as the OpenAPI document names it (`/api/v1/contracts/{id}`); undefined when none did. */
function matchedRoute(c: Context<AppEnv>): string | undefined {
  const path = routePath(c, -1);
  if (!path || path.endsWith("*")) return undefined;
  return path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

const UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const ID_IN_PATH = {
  contractId: new RegExp(`/contracts/(${UUID})(?:/|$)`),
  taskId: new RegExp(`/tasks/(${UUID})(?:/|$)`),
  operationId: new RegExp(`/operations/(${UUID})(?:/|$)`),
} as const;

/**
 * Every request runs in its own log scope (its API Gateway request id, and
 * the contract, task or operation its path names; the owner is added once
 * authenticated), and is counted by route and status class, with its latency.
 */
const observe: MiddlewareHandler<AppEnv> = (c, next) => {
  const ids = Object.fromEntries(Object.entries(ID_IN_PATH).map(([name, pattern]) => [name, pattern.exec(c.req.path)?.[1]]));
  const requestId = c.env?.requestContext?.requestId ?? randomUUID();
  return withLogContext({ requestId, ...ids }, async () => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = matchedRoute(c) ?? "unmatched";
      recordMetric("HttpResponses", 1, { route, statusClass: statusClass(c.res.status) });
      recordMetric("HttpLatency", performance.now() - started, { route });
    }
  });
};

/** Which kind of key may call which route: the table in core/access.ts, checked before anything runs or is replayed. */
const keyScope: MiddlewareHandler<AppEnv> = async (c, next) => {
  const service = c.get("service");
  const route = matchedRoute(c);
  if (!service || !route) return next();
  addLogContext({ route });
  let body: unknown;
  if (service.principal.via === "tool_key" && c.req.method !== "GET" && c.req.method !== "DELETE") {
    // Read as text (kept for the validator and the idempotency hash); a body that is not JSON is the validator's to refuse.
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      body = undefined;
    }
  }
  const problem = accessProblem(service.principal, c.req.method, route, body);
  if (problem) throw forbidden(problem);
  return next();
};

/**
 * `Idempotency-Key` on a POST or PATCH: the first answer is kept for 24 h and
 * replayed to the same credential, method and path. What is kept never holds
 * a secret: a route may name a safer answer to keep (`replayAnswer`).
 */
const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (key === undefined || (c.req.method !== "POST" && c.req.method !== "PATCH") || !c.get("service")) return next();
  if (key.length === 0 || key.length > 200 || !/^[\x21-\x7e]+$/.test(key)) {
    return errorJson(c, 400, "validation_failed", "Idempotency-Key is 1 to 200 visible ASCII characters (no spaces)", [{ path: "header.Idempotency-Key", message: "1 to 200 visible ASCII characters" }]);
  }
  const { db, principal } = c.get("service");
  const scope: IdempotencyScope = {
    ownerId: principal.ownerId,
    credentialId: principal.keyId ?? `${principal.via}:${principal.ownerId}`,
    method: c.req.method,
    route: c.req.path,
  };
  const hash = createHash("sha256").update(`${c.req.method} ${c.req.path}\n${await c.req.text()}`).digest("hex");
  const outcome = await onceByKey(db, scope, key, hash, async () => {
    await next();
    if (c.res.status < 200 || c.res.status >= 300) return undefined;
    const answer = c.get("replayAnswer");
    return { status: c.res.status, body: c.res.status === 204 ? null : answer !== undefined ? answer : await c.res.clone().json() };
  });
  if ("replay" in outcome) {
    c.header("Idempotent-Replayed", "true");
    return c.json(outcome.replay.body as object, outcome.replay.status as 200);
  }
};
