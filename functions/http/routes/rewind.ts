import { createRoute } from "@hono/zod-openapi";
import { CheckpointDiff, CodeRewindResult, CodeRewindView, ContinueTaskResult, ConversationRewindResult, ForkResult, RestoreResult, ResumeFromCheckpointResult, UndoRewindResult } from "../../../core/responses.js";
import {
  ContinueTaskRequest,
  ForkTaskRequest,
  ListQuery,
  RestoreConversationRequest,
  ResumeFromCheckpointRequest,
  RewindConversationRequest,
  RewindTaskRequest,
  UndoRewindRequest,
} from "../../../core/models.js";
import { codeRewindsOf, restoreTaskConversation, rewindTask, rewindTaskConversation, undoRewind } from "../../../core/services/rewind.js";
import { forkTask, resumeFromCheckpoint } from "../../../core/services/fork.js";
import { continueTask } from "../../../core/services/resume.js";
import { previewRewind } from "../../../core/services/rewindPreview.js";
import * as z from "zod";
import { ownedTask } from "../../../core/services/context.js";
import { conversationRewindsOf } from "../../../core/services/history.js";
import { ConversationRewind } from "../../../core/models.js";
import { accepted, acceptedResponse, bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, pageOf, router, TaskCheckpointParams } from "../route.js";


export const rewindRoutes = router();

rewindRoutes.openapi(
  createRoute({
    operationId: "rewindTask",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/rewind",
    tags: ["rewind"],
    summary: "Rewind a task's code to a checkpoint",
    description:
      "Before anything changes, the daemon saves the worktree (commits, staged, unstaged and untracked files) under `safetyRef`, whatever `preserveMode`: `discard` keeps nothing else, `create_branch` also keeps it on a branch, `stash` in a stash. Changes in the worktree that the task did not make refuse the rewind (409 `foreign_changes`) unless `force: true`. Undo with POST …/rewind/undo. With `dryRun: true` nothing changes and nothing is recorded: the answer is what the rewind would do, as a diff from the worktree as it is now to the checkpoint (a `CheckpointDiff` whose files carry `setAside` for uncommitted work the rewind takes out of the worktree and `foreign` for changes the task did not make).",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(RewindTaskRequest.strict()) },
    responses: {
      200: json(z.union([CodeRewindResult, CheckpointDiff])),
      202: acceptedResponse,
      ...failures({ body: true, idempotent: true, relayed: true, also: [404, 409] }),
    },
  }),
  async (c) => {
    const request = c.req.valid("json");
    if (request.dryRun) {
      const preview = await previewRewind(c.get("service"), c.req.valid("param").id, request);
      return preview.pending ? c.json(accepted(preview.operationId), 202) : c.json(preview.result, 200);
    }
    const outcome = await rewindTask(c.get("service"), c.req.valid("param").id, request);
    return outcome.pending ? c.json(accepted(outcome.operationId), 202) : c.json(outcome.result, 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "undoRewind",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/rewind/undo",
    tags: ["rewind"],
    summary: "Undo a code rewind: the worktree as it was just before it, uncommitted files included",
    description:
      "The latest rewind not undone (and not `failed`) among the task's 25 latest by default, or `rewindId`. A rewind still `dispatched` or `unknown` (see GET …/rewinds) is attempted: the daemon puts the worktree back if its safety ref exists, else 409 `safety_ref_missing`. A `failed` rewind is 409 `rewind_failed`; one saved without a safety ref 409 `not_undoable`.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(UndoRewindRequest.strict(), false) },
    responses: {
      200: json(UndoRewindResult),
      202: acceptedResponse,
      ...failures({ body: true, idempotent: true, relayed: true, also: [404, 409] }),
    },
  }),
  async (c) => {
    const outcome = await undoRewind(c.get("service"), c.req.valid("param").id, c.req.valid("json")?.rewindId);
    return outcome.pending ? c.json(accepted(outcome.operationId), 202) : c.json(outcome.result, 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "listCodeRewinds",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/rewinds",
    tags: ["rewind"],
    summary: "A task's code rewinds, newest first, each with its status and safety ref",
    description:
      "A code rewind is recorded (`dispatched`, naming the safety ref the daemon is told to save) before its command is sent, and settled `done` or `failed` by the daemon's answer, however late (a daemon restarted mid-rewind completes or rolls it back, then reports). One the daemon has not answered by its `deadline` is `unknown`: `next` says what to do.",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: {
      200: json(pageOf(CodeRewindView, "CodeRewindPage")),
      ...failures({ input: true, also: [404] }),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await codeRewindsOf(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "rewindTaskConversation",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/conversation/rewind",
    tags: ["rewind"],
    summary: "Rewind a task's conversation (to a message, a time, or by N messages)",
    description: "Hides messages without deleting them; undo with POST …/conversation/restore.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(RewindConversationRequest.strict()) },
    responses: { 200: json(ConversationRewindResult), ...failures({ body: true, idempotent: true, also: [404, 409, 503] }) },
  }),
  async (c) => {
    const ctx = c.get("service");
    return c.json(await rewindTaskConversation(ctx, await ownedTask(ctx, c.req.valid("param").id), c.req.valid("json")), 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "restoreTaskConversation",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/conversation/restore",
    tags: ["rewind"],
    summary: "Undo a conversation rewind (the latest not restored among the 25 latest, or `rewindId`)",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(RestoreConversationRequest.strict(), false) },
    responses: { 200: json(RestoreResult), ...failures({ body: true, idempotent: true, also: [404, 409] }) },
  }),
  async (c) => {
    const ctx = c.get("service");
    return c.json(await restoreTaskConversation(ctx, await ownedTask(ctx, c.req.valid("param").id), c.req.valid("json")?.rewindId), 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "listConversationRewinds",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/conversation/rewinds",
    tags: ["rewind"],
    summary: "A task's conversation rewinds, newest first (what each hid, and whether it was restored)",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: {
      200: json(pageOf(ConversationRewind.meta({ id: "ConversationRewind" }), "ConversationRewindPage")),
      ...failures({ input: true, also: [404] }),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await conversationRewindsOf(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "forkTask",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/fork",
    tags: ["fork"],
    summary: "Fork a task from a checkpoint, a time or a message",
    description:
      "`forkFromType` checkpoint (value: checkpoint id or number), timestamp (ISO 8601) or message_id. The new task shares the parent's conversation up to that point (unless `includeConversation: false`) and works on `branchName` (default `makima/fork/<parent>-<point>-<fork>`, unique; a name the parent or one of its forks uses is 409 `branch_exists`) at the point's commit. The task and its history events are created together; `start` says whether a daemon was sent it (`starting`, follow `operationId`), it waits for one (`waiting`), or it `failed`. A start that fails puts the task back to wait (see `lastStartError` on the task), and after three attempts marks it failed.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(ForkTaskRequest.strict()) },
    responses: { 201: json(ForkResult), ...failures({ body: true, idempotent: true, also: [404, 409, 503] }) },
  }),
  async (c) => c.json(await forkTask(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 201),
);

rewindRoutes.openapi(
  createRoute({
    operationId: "resumeFromCheckpoint",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/resume",
    tags: ["resume"],
    summary: "Start a new task from a checkpoint",
    description:
      "The new task's worktree starts at the checkpoint's commit; with `includeConversation` it also starts with the conversation as it was there. It starts on a daemon when one is online (`daemonId` and `operationId` in the answer), else stays `pending` until one connects.",
    security: bearer,
    request: { params: TaskCheckpointParams, headers: IdempotencyHeader, body: jsonBody(ResumeFromCheckpointRequest.strict()) },
    responses: { 201: json(ResumeFromCheckpointResult), ...failures({ body: true, idempotent: true, also: [404, 503] }) },
  }),
  async (c) => {
    const { id, cid } = c.req.valid("param");
    return c.json(await resumeFromCheckpoint(c.get("service"), id, cid, c.req.valid("json")), 201);
  },
);

rewindRoutes.openapi(
  createRoute({
    operationId: "continueTask",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/continue",
    tags: ["resume"],
    summary: "Continue an interrupted task",
    description:
      "`with_context` keeps the conversation (plus `additionalContext`); `clean_restart` starts with none (hidden, restorable); `from_checkpoint` goes back to the checkpoint at `checkpointSha`. It starts on a daemon when one is online (`daemonId` and `operationId` in the answer), else stays `pending` until one connects.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(ContinueTaskRequest.strict()) },
    responses: { 200: json(ContinueTaskResult), ...failures({ body: true, idempotent: true, also: [404, 409, 503] }) },
  }),
  async (c) => c.json(await continueTask(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 200),
);
