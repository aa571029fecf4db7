import type { z } from "zod";
import type { ApiKey, CreateKeyRequest } from "../models.js";
import { forbidden } from "../auth.js";
import * as owners from "../store/owners.js";
import * as connections from "../store/connections.js";
import { listCleanupRuns, type CleanupRun } from "../retention/index.js";
import type { Page } from "../store/paging.js";
import { ownedContract, requireUser, type ServiceContext } from "./context.js";
import { closeKeyConnections } from "./daemon/sessions.js";

/** A new key with its secret, shown this once. */
export async function issueKey(ctx: ServiceContext, input: z.infer<typeof CreateKeyRequest>): Promise<Omit<ApiKey, "ownerId"> & { key: string }> {
  requireUser(ctx);
  if (input.contractId) await ownedContract(ctx, input.contractId);
  const { ownerId: _owner, ...key } = await owners.createApiKey(ctx.db, ctx.principal.ownerId, input);
  return key;
}

export async function keysOf(ctx: ServiceContext, limit: number, cursor?: string): Promise<Page<ApiKey>> {
  requireUser(ctx);
  return owners.listApiKeys(ctx.db, ctx.principal.ownerId, limit, cursor);
}

/** Takes effect at once: a daemon key's open connections are closed and nothing more is taken from or sent to them. */
export async function revokeKey(ctx: ServiceContext, keyId: string): Promise<void> {
  requireUser(ctx);
  const key = await owners.revokeApiKey(ctx.db, ctx.principal.ownerId, keyId);
  if (key.kind === "daemon") await closeKeyConnections(ctx, ctx.principal.ownerId, key.id);
}

/** The caller's daemons connected now. */
export async function onlineDaemons(ctx: ServiceContext) {
  requireUser(ctx);
  const online = await connections.listConnections(ctx.db, ctx.principal.ownerId);
  return {
    items: online.map(({ daemonId, connectedAt, hostname, version }) => ({ daemonId, connectedAt, hostname, version })),
    nextCursor: null,
  };
}

/** The retention job's runs count every owner's snapshots: an operator's view, not an owner's. */
export async function cleanupRunsFor(ctx: ServiceContext, operators: string[], limit: number, cursor?: string): Promise<Page<CleanupRun>> {
  requireUser(ctx);
  if (!operators.includes(ctx.principal.ownerId)) {
    throw forbidden("the cleanup job's runs are for operators (MAKIMA_OPERATORS)");
  }
  return listCleanupRuns(ctx.db, limit, cursor);
}

export async function retentionOf(ctx: ServiceContext): Promise<{ retentionDays: number; defaultRetentionDays: number }> {
  requireUser(ctx);
  return { retentionDays: await owners.retentionDaysOf(ctx.db, ctx.principal.ownerId), defaultRetentionDays: ctx.db.retentionDays };
}

export async function changeRetention(ctx: ServiceContext, retentionDays: number): Promise<{ retentionDays: number; defaultRetentionDays: number }> {
  requireUser(ctx);
  const owner = await owners.setRetention(ctx.db, ctx.principal.ownerId, retentionDays);
  return { retentionDays: owner.retentionDays ?? retentionDays, defaultRetentionDays: ctx.db.retentionDays };
}
