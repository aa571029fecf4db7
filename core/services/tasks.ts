import type { CreateTaskRequest, NewConversationMessage, Task, TaskRecord, TaskStatus } from "../models.js";
import { badRequest, conflict } from "../errors.js";
import { actorOf } from "../auth.js";
import { createTask as storeTask, saveTask, toTask, getTaskRecord, listForks } from "../store/tasks.js";
import { getContract, updateContract } from "../store/contracts.js";
import { appendMessages as storeMessages } from "../store/conversation.js";
import { recordHistoryEvent, type NewHistoryEvent } from "../store/history.js";
import type { Db } from "../store/db.js";
import type { Page } from "../store/paging.js";
import { ownedContract, ownedTask, type ServiceContext } from "./context.js";

export async function createTask(ctx: ServiceContext, input: CreateTaskRequest): Promise<Task> {
  const contract = input.contractId ? await ownedContract(ctx, input.contractId) : undefined;
  if (ctx.principal.contractId && !contract) throw badRequest("a tool key's tasks belong to its contract: give contractId", "contractId");
  if (input.isSupervisor && !contract) throw badRequest("a supervisor task needs the contract it supervises", "contractId");
  const task = await storeTask(ctx.db, ctx.principal.ownerId, input);
  if (input.isSupervisor && contract) await updateContract(ctx.db, contract, { supervisorTaskId: task.id });
  await recordTaskEvent(ctx.db, task, {
    eventType: "task",
    eventSubtype: "created",
    phase: contract?.phase,
    eventData: { name: task.name, isSupervisor: task.isSupervisor, actor: actorOf(ctx.principal) },
  });
  return toTask(task);
}

export async function getTask(ctx: ServiceContext, taskId: string): Promise<Task> {
  return toTask(await ownedTask(ctx, taskId));
}

async function phaseOf(ctx: Pick<ServiceContext, "db">, task: Pick<TaskRecord, "ownerId" | "contractId">) {
  return task.contractId ? (await getContract(ctx.db, task.ownerId, task.contractId))?.phase : undefined;
}

/** A history event about a task: its owner and contract filled in, and the contract's phase unless given. */
export async function recordTaskEvent(
  db: Db,
  task: Pick<TaskRecord, "id" | "ownerId" | "contractId">,
  event: Omit<NewHistoryEvent, "ownerId" | "contractId" | "taskId">,
): Promise<void> {
  await recordHistoryEvent(db, {
    ...event,
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    phase: event.phase ?? (await phaseOf({ db }, task)),
  });
}

/** A status change is a history event (`task`/<new status>, with from and to). */
export async function setTaskStatus(
  ctx: ServiceContext,
  task: TaskRecord,
  status: TaskStatus,
  extra: Partial<Pick<TaskRecord, "daemonId">> = {},
): Promise<TaskRecord> {
  if (task.status === status && !extra.daemonId) return task;
  const updated = await saveTask(ctx.db, task, { status, ...extra });
  if (task.status !== status) {
    await recordTaskEvent(ctx.db, task, {
      eventType: "task",
      eventSubtype: status,
      eventData: { from: task.status, to: status, actor: actorOf(ctx.principal) },
    });
  }
  return updated;
}

export async function updateTask(ctx: ServiceContext, taskId: string, changes: { status?: TaskStatus; daemonId?: string }): Promise<Task> {
  const task = await ownedTask(ctx, taskId);
  if (!changes.status && !changes.daemonId) throw badRequest("give status or daemonId", "status");
  return toTask(await setTaskStatus(ctx, task, changes.status ?? task.status, { daemonId: changes.daemonId }));
}

/** Appends to the task's log; one `chat` history event per call that added anything. */
export async function appendMessages(
  ctx: ServiceContext,
  taskId: string,
  messages: NewConversationMessage[],
): Promise<{ appended: number; messageCount: number }> {
  const task = await ownedTask(ctx, taskId);
  const out = await storeMessages(ctx.db, task, messages);
  if (out.appended > 0) {
    await recordTaskEvent(ctx.db, task, {
      eventType: "chat",
      eventSubtype: "messages",
      eventData: {
        count: out.appended,
        firstMessageId: out.messageIds[0],
        lastMessageId: out.messageIds.at(-1),
        roles: [...new Set(messages.map((m) => m.role))],
      },
    });
  }
  const after = await getTaskRecord(ctx.db, task.ownerId, task.id);
  return { appended: out.appended, messageCount: toTask(after ?? task).messageCount };
}

/** Rewinding or resuming a task its agent is running would pull the ground from under it. */
export function assertNotRunning(task: TaskRecord, what: string): void {
  if (task.status === "running") {
    throw conflict("task_running", `task ${task.id} is running; interrupt it first (\`makima task interrupt ${task.id}\`) before ${what}`);
  }
}

export { phaseOf };

/** Tasks forked or resumed from this one, newest first. */
export async function forksOf(ctx: ServiceContext, taskId: string, limit: number, cursor?: string): Promise<Page<Task>> {
  const task = await ownedTask(ctx, taskId);
  const page = await listForks(ctx.db, task.id, limit, cursor);
  return { items: page.items.map(toTask), nextCursor: page.nextCursor };
}
