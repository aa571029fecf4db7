import type { Operation } from "../models.js";
import { notFound } from "../errors.js";
import * as operations from "../store/operations.js";
import { ownedTask, type ServiceContext } from "./context.js";
import { spawnOperationFailed } from "./spawn.js";

/**
 * A daemon operation's status and result. One the daemon has not answered in
 * time is settled as timed out here, so nothing reads as pending forever. A
 * tool key sees only its contract's operations. With `waitMs`, a pending
 * operation is watched until it settles or the wait (bounded by the
 * request's deadline) ends: a long poll.
 */
export async function operationStatus(ctx: ServiceContext, operationId: string, waitMs = 0): Promise<Omit<Operation, "ownerId">> {
  const record = await operations.getOperationRecord(ctx.db, ctx.principal.ownerId, operationId);
  if (!record) throw notFound("operation");
  if (ctx.principal.contractId) {
    const taskId = record.context?.taskId;
    if (typeof taskId !== "string") throw notFound("operation");
    await ownedTask(ctx, taskId);
  }
  const settled = waitMs > 0 && record.status === "pending" ? await ctx.relay.waitFor(record, waitMs) : await ctx.relay.expireIfOverdue(record);
  if (record.status === "pending" && settled.status === "timed_out" && settled.error) await spawnOperationFailed(ctx.db, record, settled.error);
  const { ownerId: _owner, ...op } = (await operations.getOperation(ctx.db, ctx.principal.ownerId, operationId))!;
  return op;
}
