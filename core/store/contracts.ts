import { Contract, type Phase } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { conflict } from "../errors.js";
import { type Db, nextUpdatedAt, nowIso } from "./db.js";
import { cancellationReasons, isConditionFailure, type Item, type TransactItem } from "./table.js";
import { queryPage, type Page } from "./paging.js";

export async function createContract(
  db: Db,
  ownerId: string,
  input: { name: string; phase?: Phase },
  /** Written in the same transaction (the contract's history event). */
  alsoWrite: (contract: Contract) => TransactItem[] = () => [],
): Promise<Contract> {
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
  const item = { ...keys.contract(contract.id), gsi1pk: keys.ownerContracts(ownerId), gsi1sk: contract.id, ...contract };
  const others = alsoWrite(contract);
  if (others.length === 0) await db.table.put(item);
  else await db.table.transact([{ Put: { Item: item } }, ...others]);
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
  /** Written in the same transaction (the change's history events); given the contract after the change. */
  alsoWrite: (next: Contract) => TransactItem[] = () => [],
): Promise<Contract> {
  const { next, write } = contractUpdate(db, contract, changes);
  const others = alsoWrite(next);
  try {
    if (others.length === 0) await db.table.put(write.Put.Item, { ConditionExpression: write.Put.ConditionExpression, ExpressionAttributeValues: write.Put.ExpressionAttributeValues });
    else await db.table.transact([write, ...others]);
  } catch (error) {
    const reasons = cancellationReasons(error);
    if (isConditionFailure(error) || reasons?.some((r) => r === "ConditionalCheckFailed" || r === "TransactionConflict")) {
      throw conflict("concurrent_update", "the contract changed while this request ran; try again");
    }
    throw error;
  }
  return next;
}

/** A contract's change as a write of a transaction, conditional on the contract as read. */
export function contractUpdate(
  db: Db,
  contract: Contract,
  changes: Partial<Pick<Contract, "name" | "phase" | "status" | "supervisorTaskId">>,
): { next: Contract; write: { Put: { Item: Item; ConditionExpression: string; ExpressionAttributeValues: Record<string, unknown> } } } {
  const next = Contract.parse({ ...contract, ...changes, updatedAt: nextUpdatedAt(db, contract.updatedAt) });
  return {
    next,
    write: {
      Put: {
        Item: { ...keys.contract(next.id), gsi1pk: keys.ownerContracts(next.ownerId), gsi1sk: next.id, ...next },
        ConditionExpression: "updatedAt = :prev",
        ExpressionAttributeValues: { ":prev": contract.updatedAt },
      },
    },
  };
}
