import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiKey, CreateKeyRequest, ListQuery, Operation, RetentionSettings } from "../../../core/models.js";
import { createApiKey, listApiKeys, retentionDaysOf, revokeApiKey, setRetention } from "../../../core/store/owners.js";
import { listConnections } from "../../../core/store/connections.js";
import { operationStatus } from "../../../core/services/operations.js";
import { closeKeyConnections } from "../../../core/services/daemonSessions.js";
import { forbidden } from "../../../core/auth.js";
import { ownedContract, requireUser } from "../../../core/services/context.js";
import { CleanupRun, listCleanupRuns } from "../../../core/retention.js";
import { MAX_OPERATION_WAIT_MS } from "../../../core/relay.js";
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam, pageOf } from "../route.js";

const OperationWaitQuery = z.object({
  wait: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_OPERATION_WAIT_MS / 1000)
    .optional()
    .describe("Seconds to wait for a pending operation to settle before answering (long poll); 0 or absent answers at once"),
});

export function accountRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/keys",
      tag: "keys",
      summary: "Create a key (shown once)",
      description: "`api` (mk_…): everything you own. `tool` (mkt_…): one contract's supervisor and history endpoints. `daemon` (mkd_…): connect a daemon; nothing over HTTP.",
      body: CreateKeyRequest,
      status: 201,
      response: ApiKey.omit({ ownerId: true })
        .extend({ key: z.string().optional().describe("The secret: shown this once (absent when an Idempotency-Key replays the answer)") })
        .meta({ id: "CreatedKey" }),
      errors: [404],
    },
    async ({ ctx, body, c }) => {
      requireUser(ctx);
      if (body.contractId) await ownedContract(ctx, body.contractId);
      const { ownerId: _o, ...key } = await createApiKey(ctx.db, ctx.principal.ownerId, body);
      // The secret is never kept: a replay gets the key's id and metadata.
      const { key: _secret, ...metadata } = key;
      c.set("replayAnswer", metadata);
      return key;
    },
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/keys", tag: "keys", summary: "List your keys (no secrets)", query: ListQuery, status: 200, response: pageOf(ApiKey, "KeyPage") },
    async ({ ctx, query }) => {
      requireUser(ctx);
      return listApiKeys(ctx.db, ctx.principal.ownerId, query.limit, query.cursor);
    },
  );
  defineRoute(
    app,
    {
      method: "delete",
      path: "/api/v1/keys/{id}",
      tag: "keys",
      summary: "Revoke a key",
      description: "Takes effect at once: the key's next request is a 401; a daemon key's open connections are closed, and nothing more is accepted from or sent to them.",
      params: IdParam,
      status: 204,
      errors: [404],
    },
    async ({ ctx, params }) => {
      requireUser(ctx);
      const key = await revokeApiKey(ctx.db, ctx.principal.ownerId, params.id!);
      if (key.kind === "daemon") await closeKeyConnections(ctx, ctx.principal.ownerId, key.id);
    },
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/daemons",
      tag: "daemons",
      summary: "Your daemons online now",
      status: 200,
      response: pageOf(
        z.object({ daemonId: z.uuid(), connectedAt: z.string(), hostname: z.string().optional(), version: z.string().optional() }),
        "DaemonPage",
      ),
    },
    async ({ ctx }) => {
      requireUser(ctx);
      const connections = await listConnections(ctx.db, ctx.principal.ownerId);
      return {
        items: connections.map(({ daemonId, connectedAt, hostname, version }) => ({ daemonId, connectedAt, hostname, version })),
        nextCursor: null,
      };
    },
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/operations/{id}",
      tag: "daemons",
      summary: "A daemon operation's status and result",
      description:
        "An operation the daemon has not answered within the relay timeout is reported `timed_out`. Operations are kept a week; a large result kept in S3 that is gone answers 410 `result_expired`. With `wait=N` (seconds, at most 20) a pending operation is watched for up to N s and answered as soon as it settles: follow a 202 with `?wait=20` rather than polling.",
      params: IdParam,
      query: OperationWaitQuery,
      status: 200,
      response: Operation.omit({ ownerId: true }).meta({ id: "OperationStatus" }),
      errors: [404, 410],
    },
    ({ ctx, params, query }) => operationStatus(ctx, params.id!, (query.wait ?? 0) * 1000),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/cleanup-runs",
      tag: "retention",
      summary: "What the retention job did, run by run, newest first (operators only)",
      description: "Each run: snapshots deleted, checkpoint references cleared, snapshots kept longer for an owner's longer retention, orphaned objects removed, and whether work remains for the next run.",
      query: ListQuery,
      status: 200,
      response: pageOf(CleanupRun, "CleanupRunPage"),
    },
    async ({ ctx, query, c }) => {
      requireUser(ctx);
      // Runs count every owner's snapshots: an operator's view, not an owner's.
      if (!c.get("runtime").config.operators.includes(ctx.principal.ownerId)) {
        throw forbidden("the cleanup job's runs are for operators (MAKIMA_OPERATORS)");
      }
      return listCleanupRuns(ctx.db, query.limit, query.cursor);
    },
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/account/retention",
      tag: "retention",
      summary: "How long your snapshots are kept",
      status: 200,
      response: z.object({ retentionDays: z.int(), defaultRetentionDays: z.int() }).meta({ id: "Retention" }),
    },
    async ({ ctx }) => {
      requireUser(ctx);
      return { retentionDays: await retentionDaysOf(ctx.db, ctx.principal.ownerId), defaultRetentionDays: ctx.db.retentionDays };
    },
  );
  defineRoute(
    app,
    {
      method: "put",
      path: "/api/v1/account/retention",
      tag: "retention",
      summary: "Set your own snapshot retention period (1–3650 days)",
      description:
        "New snapshots expire after this many days. Lengthening also protects existing snapshots (the cleanup job re-checks before deleting); shortening applies to snapshots taken from now on. Pinned snapshots never expire.",
      body: RetentionSettings,
      status: 200,
      response: z.object({ retentionDays: z.int(), defaultRetentionDays: z.int() }),
    },
    async ({ ctx, body }) => {
      requireUser(ctx);
      const owner = await setRetention(ctx.db, ctx.principal.ownerId, body.retentionDays);
      return { retentionDays: owner.retentionDays!, defaultRetentionDays: ctx.db.retentionDays };
    },
  );
}
