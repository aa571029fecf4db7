import type { CreateTaskRequest, NewConversationMessage, Task, TaskRecord, TaskStatus } from "../models.js";
import { badRequest, conflict } from "../errors.js";
import { actorOf } from "../auth.js";
import * as tasks from "../store/tasks.js";
import * as contracts from "../store/contracts.js";
import { recordMetric } from "../metrics.js";
import * as conversationAppend from "../store/conversationAppend.js";
import type { ReportPosition } from "../store/reportOrder.js";
import type { AgentExit } from "../protocol.js";
import * as table from "../store/table.js";
import type { Page } from "../store/paging.js";
import { ownedContract, ownedTask, type ServiceContext } from "./context.js";
import { expireStaleStart } from "./spawn.js";
import { chatEvent, eventWrites, phaseOf, taskEventWrites } from "./taskEvents.js";

export async function createTask(ctx: ServiceContext, input: CreateTaskRequest): Promise<Task> {
  const contract = input.contractId ? await ownedContract(ctx, input.contractId) : undefined;
  if (ctx.principal.contractId && !contract) throw badRequest("a tool key's tasks belong to its contract: give contractId", "contractId");
  if (input.isSupervisor && !contract) throw badRequest("a supervisor task needs the contract it supervises", "contractId");
  // The task, its history event and a supervisor's link from its contract: one transaction.
  const task = await tasks.createTask(ctx.db, ctx.principal.ownerId, input, (task) => [
    ...eventWrites(ctx.db, {
      ownerId: task.ownerId,
      contractId: task.contractId,
      taskId: task.id,
      eventType: "task",
      eventSubtype: "created",
      phase: contract?.phase,
      eventData: { name: task.name, isSupervisor: task.isSupervisor, actor: actorOf(ctx.principal) },
    }),
    ...(input.isSupervisor && contract ? [contracts.contractUpdate(ctx.db, contract, { supervisorTaskId: task.id }).write] : []),
  ]).catch((error: unknown) => {
    if (table.cancellationReasons(error)?.some((r) => r === "ConditionalCheckFailed" || r === "TransactionConflict")) {
      throw conflict("concurrent_update", "the contract changed while this request ran; try again");
    }
    throw error;
  });
  return tasks.toTask(task);
}

/** A task; a start its daemon never answered in time is ended on the way (the task waits again, with the reason). */
export async function getTask(ctx: ServiceContext, taskId: string): Promise<Task> {
  return tasks.toTask(await expireStaleStart(ctx.db, ctx.relay, await ownedTask(ctx, taskId)));
}

/** A status change and its history event (`task`/<new status>, with from and to), in one transaction. */
export async function setTaskStatus(
  ctx: ServiceContext,
  task: TaskRecord,
  status: TaskStatus,
  extra: Partial<Pick<TaskRecord, "daemonId" | "reportStream" | "reportSeq">> = {},
  /** How its agent ended, when a daemon says: kept in the history event. */
  exit?: AgentExit,
): Promise<TaskRecord> {
  if (task.status === status && !extra.daemonId) return task;
  if (task.status === status) return tasks.saveTask(ctx.db, task, extra);
  const event = await taskEventWrites(ctx.db, task, {
    eventType: "task",
    eventSubtype: status,
    eventData: { from: task.status, to: status, actor: actorOf(ctx.principal), ...exit },
  });
  return tasks.saveTaskWith(ctx.db, task, { status, ...extra }, event);
}

export async function updateTask(ctx: ServiceContext, taskId: string, changes: { status?: TaskStatus; daemonId?: string }): Promise<Task> {
  const task = await ownedTask(ctx, taskId);
  if (!changes.status && !changes.daemonId) throw badRequest("give status or daemonId", "status");
  return tasks.toTask(await setTaskStatus(ctx, task, changes.status ?? task.status, { daemonId: changes.daemonId }));
}

/**
 * Appends to the task's log; each transaction of messages carries its `chat`
 * history event. A daemon report (`report`) is applied once and in order
 * (ReportOutOfOrder otherwise; see store/reportOrder.ts).
 */
export async function appendMessages(
  ctx: ServiceContext,
  taskId: string,
  messages: NewConversationMessage[],
): Promise<{ appended: number; messageCount: number }> {
  const task = await ownedTask(ctx, taskId);
  const out = await appendToTask(ctx, task, messages);
  const after = await tasks.getTaskRecord(ctx.db, task.ownerId, task.id);
  return { appended: out.appended, messageCount: tasks.toTask(after ?? task).messageCount };
}

/** Appends to a task already read (a daemon report's, applied once and in order when numbered). */
export async function appendToTask(
  ctx: ServiceContext,
  task: TaskRecord,
  messages: NewConversationMessage[],
  report?: ReportPosition,
): Promise<{ appended: number }> {
  const phase = await phaseOf(ctx, task);
  const started = performance.now();
  const out = await conversationAppend.appendMessages(ctx.db, task, messages, { report, event: chatEvent(task, phase) });
  const source = ctx.principal.via === "daemon" ? "daemon" : "api";
  recordMetric("AppendLatency", performance.now() - started, { source });
  recordMetric("AppendBatchSize", messages.length, { source });
  return { appended: out.appended };
}

/** Rewinding or resuming a task its agent is running would pull the ground from under it. */
export function assertNotRunning(task: TaskRecord, what: string): void {
  if (task.status === "running") {
    throw conflict("task_running", `task ${task.id} is running; interrupt it first (\`makima task interrupt ${task.id}\`) before ${what}`);
  }
}

/** Tasks forked or resumed from this one, newest first. */
export async function forksOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string): Promise<Page<Task>> {
  const task = await ownedTask(ctx, taskId);
  const page = await tasks.listForks(ctx.db, task.id, limit, cursor);
  return { items: page.items.map(tasks.toTask), nextCursor: page.nextCursor };
}
