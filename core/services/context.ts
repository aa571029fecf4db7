import type { Principal } from "../auth.js";
import { addLogContext, logContext } from "../log.js";
import { forbidden } from "../auth.js";
import type { Relay } from "../relay.js";
import type { Db } from "../store/db.js";
import type { Contract, TaskRecord } from "../models.js";
import { notFound } from "../errors.js";
import * as contracts from "../store/contracts.js";
import * as tasks from "../store/tasks.js";

/** What every service call gets: storage, the daemon relay, and who is asking. */
export interface ServiceContext {
  db: Db;
  relay: Relay;
  principal: Principal;
}

const outOfScope = () => forbidden("this tool key is scoped to another contract");

/** The caller's contract; another owner's is a 404, outside a tool key's scope a 403. */
export async function ownedContract(ctx: ServiceContext, contractId: string): Promise<Contract> {
  const contract = await contracts.getContract(ctx.db, ctx.principal.ownerId, contractId);
  if (!contract) throw notFound("contract");
  if (ctx.principal.contractId && ctx.principal.contractId !== contract.id) throw outOfScope();
  return contract;
}

export async function ownedTask(ctx: ServiceContext, taskId: string): Promise<TaskRecord> {
  const task = await tasks.getTaskRecord(ctx.db, ctx.principal.ownerId, taskId);
  if (!task) throw notFound("task");
  if (ctx.principal.contractId && ctx.principal.contractId !== task.contractId) throw outOfScope();
  // The first task a request or message reaches is the one its log lines are about.
  if (!logContext().taskId) addLogContext({ taskId: task.id, contractId: task.contractId });
  return task;
}

/** Endpoints beyond one contract (keys, timeline, daemons) are for the user, not a tool key. */
export function requireUser(ctx: ServiceContext): void {
  if (ctx.principal.via === "tool_key") throw forbidden("a tool key may only use its contract's supervisor and history endpoints");
}

/** A contract of the caller's and its supervisor task; a contract without one answers 404. */
export async function ownedSupervisor(ctx: ServiceContext, contractId: string): Promise<{ contract: Contract; supervisor: TaskRecord }> {
  const contract = await ownedContract(ctx, contractId);
  const supervisor = contract.supervisorTaskId ? await tasks.getTaskRecord(ctx.db, contract.ownerId, contract.supervisorTaskId) : undefined;
  if (!supervisor) throw notFound("supervisor of this contract");
  return { contract, supervisor };
}
