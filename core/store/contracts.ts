import { Contract, type Phase } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { conflict } from "../errors.js";
import { type Db, nextUpdatedAt, nowIso } from "./db.js";
import { isConditionFailure } from "./table.js";
import { queryPage, type Page } from "./paging.js";

export async function createContract(db: Db, ownerId: string, input: { name: string; phase?: Phase }): Promise<Contract> {
  const now = nowIso(db);
  const contract = Contract.parse({
    id: newId(),
    ownerId,
    name: input.name,
    phase: input.phase ?? "research",
    status: "active",
    createdAt: now,
    updatedAt: now,
  });
  await db.table.put({ ...keys.contract(contract.id), gsi1pk: keys.ownerContracts(ownerId), gsi1sk: contract.id, ...contract });
  return contract;
}

/** Another owner's contract is indistinguishable from a missing one. */
export async function getContract(db: Db, ownerId: string, contractId: string): Promise<Contract | undefined> {
  const item = await db.table.get(keys.contract(contractId));
  return item && item.ownerId === ownerId ? Contract.parse(item) : undefined;
}

export function listContracts(db: Db, ownerId: string, limit: number, cursor?: string): Promise<Page<Contract>> {
  return queryPage(db, {
    scope: `contracts:${ownerId}`,
    cursor,
    limit,
    index: "gsi1",
    keyCondition: "gsi1pk = :p",
    values: { ":p": keys.ownerContracts(ownerId) },
    parse: (item) => Contract.parse(item),
  });
}

export async function updateContract(
  db: Db,
  contract: Contract,
  changes: Partial<Pick<Contract, "name" | "phase" | "status" | "supervisorTaskId">>,
): Promise<Contract> {
  const next = Contract.parse({ ...contract, ...changes, updatedAt: nextUpdatedAt(db, contract.updatedAt) });
  try {
    await db.table.put(
      { ...keys.contract(next.id), gsi1pk: keys.ownerContracts(next.ownerId), gsi1sk: next.id, ...next },
      { ConditionExpression: "updatedAt = :prev", ExpressionAttributeValues: { ":prev": contract.updatedAt } },
    );
  } catch (error) {
    if (isConditionFailure(error)) throw conflict("concurrent_update", "the contract changed while this request ran; try again");
    throw error;
  }
  return next;
}
