import type { Contract, Phase, Task } from "../models.js";
import type { Page } from "../store/paging.js";
import * as tasks from "../store/tasks.js";
import * as contracts from "../store/contracts.js";
import { actorOf } from "../auth.js";
import { ownedContract, requireUser, type ServiceContext } from "./context.js";
import { eventWrites } from "./taskEvents.js";

export async function createContract(ctx: ServiceContext, input: { name: string; phase?: Phase }): Promise<Contract> {
  requireUser(ctx);
  // The contract and its history event: one transaction.
  return contracts.createContract(ctx.db, ctx.principal.ownerId, input, (contract) =>
    eventWrites(ctx.db, {
      ownerId: contract.ownerId,
      contractId: contract.id,
      eventType: "phase",
      eventSubtype: "contract_created",
      phase: contract.phase,
      eventData: { name: contract.name, phase: contract.phase, actor: actorOf(ctx.principal) },
    }),
  );
}

export async function contractsOf(ctx: ServiceContext, limit: number, cursor?: string) {
  requireUser(ctx);
  return contracts.listContracts(ctx.db, ctx.principal.ownerId, limit, cursor);
}

/** A phase change is a history event (`phase`/`changed`, with from and to). */
export async function changeContract(
  ctx: ServiceContext,
  contractId: string,
  changes: { name?: string; phase?: Phase; status?: Contract["status"] },
): Promise<Contract> {
  const before = await ownedContract(ctx, contractId);
  // The change and its history events: one transaction.
  return contracts.updateContract(ctx.db, before, changes, (after) => [
    ...(changes.phase && changes.phase !== before.phase
      ? eventWrites(ctx.db, {
          ownerId: after.ownerId,
          contractId: after.id,
          eventType: "phase",
          eventSubtype: "changed",
          phase: after.phase,
          eventData: { from: before.phase, to: after.phase, actor: actorOf(ctx.principal) },
        })
      : []),
    ...(changes.status && changes.status !== before.status
      ? eventWrites(
          ctx.db,
          {
            ownerId: after.ownerId,
            contractId: after.id,
            eventType: "phase",
            eventSubtype: `contract_${after.status}`,
            phase: after.phase,
            eventData: { from: before.status, to: after.status, actor: actorOf(ctx.principal) },
          },
          1,
        )
      : []),
  ]);
}

/** A contract's tasks, newest first. */
export async function contractTasks(ctx: ServiceContext, contractId: string, limit: number, cursor?: string): Promise<Page<Task>> {
  const contract = await ownedContract(ctx, contractId);
  const page = await tasks.listContractTasks(ctx.db, contract.id, limit, cursor);
  return { items: page.items.map(tasks.toTask), nextCursor: page.nextCursor };
}
