import type { Phase, TaskRecord } from "../models.js";
import * as contracts from "../store/contracts.js";
import * as history from "../store/history.js";
import type { NewHistoryEvent } from "../store/history.js";
import type { AppendOptions } from "../store/conversationAppend.js";
import type { TransactItem } from "../store/table.js";
import type { Db } from "../store/db.js";
import type { ServiceContext } from "./context.js";

/**
 * History events about a task: whom they are about (its owner, contract and
 * the contract's phase), written with the change they describe or on their
 * own.
 */

/** The phase of the task's contract, when it has one. */
export async function phaseOf(ctx: Pick<ServiceContext, "db">, task: Pick<TaskRecord, "ownerId" | "contractId">) {
  return task.contractId ? (await contracts.getContract(ctx.db, task.ownerId, task.contractId))?.phase : undefined;
}

/** A history event about a task: its owner and contract filled in, and the contract's phase unless given. */
export async function recordTaskEvent(
  db: Db,
  task: Pick<TaskRecord, "id" | "ownerId" | "contractId">,
  event: Omit<NewHistoryEvent, "ownerId" | "contractId" | "taskId">,
): Promise<void> {
  await history.recordHistoryEvent(db, {
    ...event,
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    phase: event.phase ?? (await phaseOf({ db }, task)),
  });
}

/**
 * The items of a history event about a task, as writes of a transaction: an
 * event goes in with the change it describes, or not at all.
 */
export async function taskEventWrites(
  db: Db,
  task: Pick<TaskRecord, "id" | "ownerId" | "contractId">,
  event: Omit<NewHistoryEvent, "ownerId" | "contractId" | "taskId">,
): Promise<TransactItem[]> {
  return eventWrites(db, { ...event, ...aboutTask(task, event.phase ?? (await phaseOf({ db }, task))) });
}

/** Whom a task's history event is about: its owner, its contract, the task, and the phase it happened in. */
export function aboutTask(task: Pick<TaskRecord, "id" | "ownerId" | "contractId">, phase: NewHistoryEvent["phase"]) {
  return { ownerId: task.ownerId, contractId: task.contractId, taskId: task.id, phase };
}

/**
 * A history event's items as Puts (a new id each time, so never a condition
 * to fail). The `nth` of several events written together is dated `nth` ms
 * later, so they read back in the order they were written.
 */
export function eventWrites(db: Db, input: NewHistoryEvent, nth = 0): TransactItem[] {
  return history.historyEventItems(history.newHistoryEvent(input, new Date(db.clock().getTime() + nth))).map((Item) => ({ Put: { Item } }));
}

/** What the history says of a batch of a task's messages (`chat`/`messages`), one event a batch. */
export const chatEvent =
  (task: TaskRecord, phase: Phase | undefined): NonNullable<AppendOptions["event"]> =>
  (batch) => ({ ownerId: task.ownerId, contractId: task.contractId, taskId: task.id, eventType: "chat", eventSubtype: "messages", phase, eventData: batch });
