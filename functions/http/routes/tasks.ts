import { createRoute } from "@hono/zod-openapi";
import { AppendResult, TaskConversation, TaskHistory } from "../../../core/responses.js";
import * as z from "zod";
import {
  AppendMessagesRequest,
  ConversationMessage,
  CreateTaskRequest,
  HistoryQueryFilters,
  ListQuery,
  Task,
  TaskConversationQuery,
  UpdateTaskRequest,
} from "../../../core/models.js";
import { appendMessages, createTask, forksOf, getTask, updateTask } from "../../../core/services/tasks.js";
import { taskConversation, taskHistory, wholeMessage } from "../../../core/services/history.js";
import { bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, pageOf, router } from "../route.js";

export const taskRoutes = router();

taskRoutes.openapi(
  createRoute({
    operationId: "createTask",
    method: "post",
    path: "/api/v1/mesh/tasks",
    tags: ["tasks"],
    summary: "Create a task",
    description: "A task with `isSupervisor` becomes its contract's supervisor. A tool key creates tasks only in its own contract, and never a supervisor. The task and its `task`/`created` history event are written together.",
    security: bearer,
    request: { headers: IdempotencyHeader, body: jsonBody(CreateTaskRequest.strict()) },
    responses: { 201: json(Task, "The new task"), ...failures({ body: true, idempotent: true, also: [404] }) },
  }),
  async (c) => c.json(await createTask(c.get("service"), c.req.valid("json")), 201),
);

taskRoutes.openapi(
  createRoute({
    operationId: "getTask",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}",
    tags: ["tasks"],
    summary: "Get a task",
    security: bearer,
    request: { params: IdParam },
    responses: { 200: json(Task), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => c.json(await getTask(c.get("service"), c.req.valid("param").id), 200),
);

taskRoutes.openapi(
  createRoute({
    operationId: "updateTask",
    method: "patch",
    path: "/api/v1/mesh/tasks/{id}",
    tags: ["tasks"],
    summary: "Change a task's status",
    description:
      "A status change is recorded as a `task` history event whose subtype is the new status. Setting `interrupted` or `paused` on a running task is how to stop it before a rewind, resume or fork.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(UpdateTaskRequest.strict()) },
    responses: { 200: json(Task), ...failures({ body: true, idempotent: true, also: [404, 409] }) },
  }),
  async (c) => c.json(await updateTask(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 200),
);

taskRoutes.openapi(
  createRoute({
    operationId: "appendMessages",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/messages",
    tags: ["conversation"],
    summary: "Append messages to a task's conversation",
    description:
      "Up to 100 messages, appended in order to the task's append-only log. `id` and `timestamp` are filled in when missing. A message id the task already has is skipped, so a resend is harmless.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(AppendMessagesRequest.strict()) },
    responses: { 201: json(AppendResult), ...failures({ body: true, idempotent: true, also: [404] }) },
  }),
  async (c) => c.json(await appendMessages(c.get("service"), c.req.valid("param").id, c.req.valid("json").messages), 201),
);

taskRoutes.openapi(
  createRoute({
    operationId: "getTaskConversation",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/conversation",
    tags: ["conversation"],
    summary: "Read a task's conversation, oldest first",
    description:
      "The visible conversation (a rewind hides messages; a fork shows its parent's up to the fork point). A page stays under 1 MB: a field over 16 KB comes cut with `truncated: true`; read the whole message at `/messages/{messageId}`.",
    security: bearer,
    request: { params: IdParam, query: TaskConversationQuery },
    responses: { 200: json(TaskConversation), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const query = c.req.valid("query");
    const conversation = await taskConversation(c.get("service"), c.req.valid("param").id, {
      includeToolCalls: query.include_tool_calls,
      includeToolResults: query.include_tool_results,
      limit: query.limit,
      cursor: query.cursor,
    });
    return c.json(conversation, 200);
  },
);

taskRoutes.openapi(
  createRoute({
    operationId: "getTaskMessage",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/messages/{messageId}",
    tags: ["conversation"],
    summary: "Read one whole message, never truncated",
    description: "Also answers for messages a rewind hid, so they stay auditable.",
    security: bearer,
    request: { params: z.object({ id: z.uuid(), messageId: z.string().min(1).max(200) }) },
    responses: { 200: json(ConversationMessage), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { id, messageId } = c.req.valid("param");
    return c.json(await wholeMessage(c.get("service"), id, messageId), 200);
  },
);

taskRoutes.openapi(
  createRoute({
    operationId: "getTaskHistory",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/history",
    tags: ["history"],
    summary: "A task's history events, newest first",
    description: "Filters: `phase`, `eventTypes` (comma list), `from`, `to` (ISO 8601). A page filtered by both `phase` and `eventTypes` reads at most 1,000 events and may come back short, with a `nextCursor`.",
    security: bearer,
    request: { params: IdParam, query: HistoryQueryFilters },
    responses: { 200: json(TaskHistory), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => c.json(await taskHistory(c.get("service"), c.req.valid("param").id, c.req.valid("query")), 200),
);

taskRoutes.openapi(
  createRoute({
    operationId: "listTaskForks",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/forks",
    tags: ["fork"],
    summary: "Tasks forked or resumed from this one, newest first",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(pageOf(Task, "ForkPage")), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await forksOf(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);
