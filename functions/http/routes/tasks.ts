import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  AppendMessagesRequest,
  ConversationMessage,
  CreateTaskRequest,
  HistoryEvent,
  HistoryQueryFilters,
  ListQuery,
  Task,
  TaskConversationQuery,
  UpdateTaskRequest,
} from "../../../core/models.js";
import { appendMessages, createTask, getTask, updateTask } from "../../../core/services/tasks.js";
import { taskConversation, taskHistory, wholeMessage } from "../../../core/services/history.js";
import { ownedTask } from "../../../core/services/context.js";
import { listForks, toTask } from "../../../core/store/tasks.js";
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam, pageOf } from "../route.js";

export const HistoryPage = (name: string, context: Record<string, z.ZodType>) =>
  z.object({ ...context, items: z.array(HistoryEvent), nextCursor: z.string().nullable() }).meta({ id: name });

export function taskRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    { method: "post", path: "/api/v1/mesh/tasks", tag: "tasks", summary: "Create a task", body: CreateTaskRequest, status: 201, response: Task, errors: [404] },
    ({ ctx, body }) => createTask(ctx, body),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/mesh/tasks/{id}", tag: "tasks", summary: "Get a task", params: IdParam, status: 200, response: Task, errors: [404] },
    ({ ctx, params }) => getTask(ctx, params.id!),
  );
  defineRoute(
    app,
    {
      method: "patch",
      path: "/api/v1/mesh/tasks/{id}",
      tag: "tasks",
      summary: "Change a task's status",
      description: "A status change is recorded as a `task` history event whose subtype is the new status.",
      params: IdParam,
      body: UpdateTaskRequest,
      status: 200,
      response: Task,
      errors: [404, 409],
    },
    ({ ctx, params, body }) => updateTask(ctx, params.id!, body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/messages",
      tag: "conversation",
      summary: "Append messages to a task's conversation",
      description:
        "Up to 100 messages, appended in order to the task's append-only log. `id` and `timestamp` are filled in when missing. A message id the task already has is skipped, so a resend is harmless.",
      params: IdParam,
      body: AppendMessagesRequest,
      status: 201,
      response: z.object({ appended: z.int(), messageCount: z.int() }).meta({ id: "AppendResult" }),
      errors: [404],
    },
    ({ ctx, params, body }) => appendMessages(ctx, params.id!, body.messages),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/conversation",
      tag: "conversation",
      summary: "Read a task's conversation, oldest first",
      description:
        "The visible conversation (a rewind hides messages; a fork shows its parent's up to the fork point). A page stays under 1 MB: a field over 16 KB comes cut with `truncated: true`; read the whole message at `/messages/{messageId}`.",
      params: IdParam,
      query: TaskConversationQuery,
      status: 200,
      response: z
        .object({ taskId: z.uuid(), messages: z.array(ConversationMessage), nextCursor: z.string().nullable() })
        .meta({ id: "TaskConversation" }),
      errors: [404],
    },
    ({ ctx, params, query }) =>
      taskConversation(ctx, params.id!, {
        includeToolCalls: query.include_tool_calls,
        includeToolResults: query.include_tool_results,
        limit: query.limit,
        cursor: query.cursor,
      }),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/messages/{messageId}",
      tag: "conversation",
      summary: "Read one whole message, never truncated",
      description: "Also answers for messages a rewind hid, so they stay auditable.",
      params: z.object({ id: z.uuid(), messageId: z.string().min(1).max(200) }),
      status: 200,
      response: ConversationMessage,
      errors: [404],
    },
    ({ ctx, params }) => wholeMessage(ctx, params.id!, params.messageId!),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/history",
      tag: "history",
      summary: "A task's history events, newest first",
      params: IdParam,
      query: HistoryQueryFilters,
      status: 200,
      response: HistoryPage("TaskHistory", { taskId: z.uuid() }),
      errors: [404],
    },
    ({ ctx, params, query }) => taskHistory(ctx, params.id!, query as never),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/mesh/tasks/{id}/forks", tag: "fork", summary: "Tasks forked or resumed from this one, newest first", params: IdParam, query: ListQuery, status: 200, response: pageOf(Task, "ForkPage"), errors: [404] },
    async ({ ctx, params, query }) => {
      const task = await ownedTask(ctx, params.id!);
      const page = await listForks(ctx.db, task.id, query.limit, query.cursor);
      return { items: page.items.map(toTask), nextCursor: page.nextCursor };
    },
  );
}
