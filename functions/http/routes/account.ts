import { createRoute } from "@hono/zod-openapi";
import { CreatedKey, DaemonPage, OperationStatus, Retention } from "../../../core/responses.js";
import { ApiKey, CreateKeyRequest, ListQuery, RetentionSettings } from "../../../core/models.js";
import { operationStatus } from "../../../core/services/operations.js";
import { changeRetention, cleanupRunsFor, issueKey, keysOf, onlineDaemons, retentionOf, revokeKey } from "../../../core/services/account.js";
import { CleanupRun } from "../../../core/retention/index.js";
import { MAX_OPERATION_WAIT_MS } from "../../../core/relay.js";
import * as z from "zod";
import { bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, pageOf, router } from "../route.js";

export const accountRoutes = router();

const OperationWaitQuery = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_OPERATION_WAIT_MS / 1000)
    .optional()
    .describe("Seconds to wait for a pending operation to settle before answering (long poll); 0 or absent answers at once"),
});

accountRoutes.openapi(
  createRoute({
    operationId: "createKey",
    method: "post",
    path: "/api/v1/keys",
    tags: ["keys"],
    summary: "Create a key (shown once)",
    description:
      "`api` (mk_…): everything you own. `tool` (mkt_…): one contract's supervisor and history endpoints. `daemon` (mkd_…): connect a daemon; nothing over HTTP.",
    security: bearer,
    request: { headers: IdempotencyHeader, body: jsonBody(CreateKeyRequest.strict()) },
    responses: { 201: json(CreatedKey), ...failures({ body: true, idempotent: true, also: [404] }) },
  }),
  async (c) => {
    const key = await issueKey(c.get("service"), c.req.valid("json"));
    // The secret is never kept: a replay gets the key's id and metadata.
    const { key: _secret, ...metadata } = key;
    c.set("replayAnswer", metadata);
    return c.json(key, 201);
  },
);

accountRoutes.openapi(
  createRoute({
    operationId: "listKeys",
    method: "get",
    path: "/api/v1/keys",
    tags: ["keys"],
    summary: "List your keys (no secrets)",
    security: bearer,
    request: { query: ListQuery },
    responses: { 200: json(pageOf(ApiKey, "KeyPage")), ...failures({ input: true }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await keysOf(c.get("service"), limit, cursor), 200);
  },
);

accountRoutes.openapi(
  createRoute({
    operationId: "revokeKey",
    method: "delete",
    path: "/api/v1/keys/{id}",
    tags: ["keys"],
    summary: "Revoke a key",
    description: "Takes effect at once: the key's next request is a 401; a daemon key's open connections are closed, and nothing more is accepted from or sent to them.",
    security: bearer,
    request: { params: IdParam },
    responses: { 204: { description: "Revoked" }, ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    await revokeKey(c.get("service"), c.req.valid("param").id);
    return c.body(null, 204);
  },
);

accountRoutes.openapi(
  createRoute({
    operationId: "listDaemons",
    method: "get",
    path: "/api/v1/daemons",
    tags: ["daemons"],
    summary: "Your daemons online now",
    security: bearer,
    responses: { 200: json(DaemonPage), ...failures({}) },
  }),
  async (c) => c.json(await onlineDaemons(c.get("service")), 200),
);

accountRoutes.openapi(
  createRoute({
    operationId: "getOperation",
    method: "get",
    path: "/api/v1/operations/{id}",
    tags: ["daemons"],
    summary: "A daemon operation's status and result",
    description:
      "An operation the daemon has not answered within the relay timeout is reported `timed_out`. Operations are kept a week; a large result kept in S3 that is gone answers 410 `result_expired`. With `wait=N` (seconds, at most 20) a pending operation is watched for up to N s and answered as soon as it settles: follow a 202 with `?wait=20` rather than polling.",
    security: bearer,
    request: { params: IdParam, query: OperationWaitQuery },
    responses: { 200: json(OperationStatus), ...failures({ input: true, also: [404, 410] }) },
  }),
  async (c) => c.json(await operationStatus(c.get("service"), c.req.valid("param").id, (c.req.valid("query").wait ?? 0) * 1000), 200),
);

accountRoutes.openapi(
  createRoute({
    operationId: "listCleanupRuns",
    method: "get",
    path: "/api/v1/cleanup-runs",
    tags: ["retention"],
    summary: "What the retention job did, run by run, newest first (operators only)",
    description:
      "Each run: snapshots deleted, checkpoint references cleared, snapshots kept longer for an owner's longer retention, orphaned objects removed, and whether work remains for the next run.",
    security: bearer,
    request: { query: ListQuery },
    responses: { 200: json(pageOf(CleanupRun, "CleanupRunPage")), ...failures({ input: true }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await cleanupRunsFor(c.get("service"), c.get("runtime").config.operators, limit, cursor), 200);
  },
);

accountRoutes.openapi(
  createRoute({
    operationId: "getRetention",
    method: "get",
    path: "/api/v1/account/retention",
    tags: ["retention"],
    summary: "How long your snapshots are kept",
    security: bearer,
    responses: { 200: json(Retention), ...failures({}) },
  }),
  async (c) => c.json(await retentionOf(c.get("service")), 200),
);

accountRoutes.openapi(
  createRoute({
    operationId: "setRetention",
    method: "put",
    path: "/api/v1/account/retention",
    tags: ["retention"],
    summary: "Set your own snapshot retention period (1–3650 days)",
    description:
      "New snapshots expire after this many days. Lengthening also protects existing snapshots (the cleanup job re-checks before deleting); shortening applies to snapshots taken from now on. Pinned snapshots never expire.",
    security: bearer,
    request: { body: jsonBody(RetentionSettings.strict()) },
    responses: { 200: json(Retention), ...failures({ body: true }) },
  }),
  async (c) => c.json(await changeRetention(c.get("service"), c.req.valid("json").retentionDays), 200),
);
