import * as historyPages from "../store/historyPages.js";
import type { HistoryFilters } from "../store/historyPages.js";
import * as conversationLog from "../store/conversationLog.js";
import * as conversationRewinds from "../store/conversationRewinds.js";
import * as tasks from "../store/tasks.js";
import { ownedContract, ownedSupervisor, ownedTask, requireUser, type ServiceContext } from "./context.js";

export async function contractHistory(ctx: ServiceContext, contractId: string, filters: HistoryFilters) {
  const contract = await ownedContract(ctx, contractId);
  return { contractId: contract.id, ...(await historyPages.contractHistory(ctx.db, contract.id, filters)) };
}

export async function taskHistory(ctx: ServiceContext, taskId: string, filters: HistoryFilters) {
  const task = await ownedTask(ctx, taskId);
  return { taskId: task.id, ...(await historyPages.taskHistory(ctx.db, task, filters)) };
}

/** Everything the caller owns, newest first. */
export async function timeline(ctx: ServiceContext, filters: Omit<HistoryFilters, "phase">) {
  requireUser(ctx);
  return historyPages.timeline(ctx.db, ctx.principal.ownerId, filters);
}

export interface ConversationQuery {
  includeToolCalls: boolean;
  includeToolResults: boolean;
  limit: number;
  cursor?: string;
}

/** Oldest first; oversized fields come truncated (`truncated: true`), whole at the message endpoint. */
export async function taskConversation(ctx: ServiceContext, taskId: string, q: ConversationQuery) {
  const task = await ownedTask(ctx, taskId);
  const page = await conversationLog.readConversation(ctx.db, task.segments, {
    scope: `conversation:${task.id}`,
    cursor: q.cursor,
    limit: q.limit,
    includeToolCalls: q.includeToolCalls,
    includeToolResults: q.includeToolResults,
  });
  return { taskId: task.id, messages: page.items, nextCursor: page.nextCursor };
}

export async function wholeMessage(ctx: ServiceContext, taskId: string, messageId: string) {
  return conversationLog.getWholeMessage(ctx.db, await ownedTask(ctx, taskId), messageId);
}

/** The supervisor's conversation (oldest first) with the tasks it spawned in the contract. */
export async function supervisorConversation(ctx: ServiceContext, contractId: string, limit: number, cursor?: string) {
  const { contract, supervisor } = await ownedSupervisor(ctx, contractId);
  const page = await conversationLog.readConversation(ctx.db, supervisor.segments, { scope: `conversation:${supervisor.id}`, cursor, limit });
  const contractTasks = await tasks.listContractTasks(ctx.db, contract.id, 200);
  return {
    contractId: contract.id,
    supervisorTaskId: supervisor.id,
    messages: page.items,
    spawnedTasks: contractTasks.items
      .filter((t) => t.id !== supervisor.id)
      .map((t) => ({ id: t.id, name: t.name, status: t.status, createdAt: t.createdAt })),
    nextCursor: page.nextCursor,
  };
}

/** A task's conversation rewinds, newest first. */
export async function conversationRewindsOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string) {
  const task = await ownedTask(ctx, taskId);
  return conversationRewinds.listConversationRewinds(ctx.db, task.id, limit, cursor);
}
