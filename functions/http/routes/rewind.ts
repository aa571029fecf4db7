import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  ContinueTaskRequest,
  ForkTaskRequest,
  ListQuery,
  RestoreConversationRequest,
  ResumeFromCheckpointRequest,
  RewindConversationRequest,
  RewindTaskRequest,
  StartState,
  Task,
  TaskCheckpoint,
  UndoRewindRequest,
} from "../../../core/models.js";
import { PreservedState } from "../../../core/protocol.js";
import { restoreTaskConversation, rewindTask, rewindTaskConversation, undoRewind } from "../../../core/services/rewind.js";
import { forkTask, resumeFromCheckpoint } from "../../../core/services/fork.js";
import { continueTask } from "../../../core/services/resume.js";
import { ownedTask } from "../../../core/services/context.js";
import { listConversationRewinds } from "../../../core/store/conversation.js";
import { ConversationRewind } from "../../../core/models.js";
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam, pageOf, relayed, TaskCheckpointParams } from "../route.js";

export const CodeRewindResult = z
  .object({
    taskId: z.uuid(),
    rewindId: z.uuid(),
    checkpoint: TaskCheckpoint,
    preservedAs: PreservedState.optional(),
    safetyRef: z
      .string()
      .optional()
      .describe("Holds the worktree exactly as it was before the rewind; POST …/rewind/undo puts it back. Absent when the daemon saved none: that rewind cannot be undone (409 `not_undoable`)"),
  })
  .meta({ id: "RewindTaskResponse" });

export const ConversationRewindResult = z
  .object({
    taskId: z.uuid(),
    rewindId: z.uuid(),
    messageCount: z.int(),
    hiddenCount: z.int(),
    codeRewind: z
      .union([CodeRewindResult, z.object({ operationId: z.uuid(), status: z.literal("pending") })])
      .optional(),
  })
  .meta({ id: "ConversationRewindResponse" });

export const RestoreResult = z
  .object({ taskId: z.uuid(), rewindId: z.uuid(), messageCount: z.int() })
  .meta({ id: "ConversationRestoreResponse" });

const StartedOn = { daemonId: z.uuid().optional(), operationId: z.uuid().optional(), ...StartState };

export function rewindRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/rewind",
      tag: "rewind",
      summary: "Rewind a task's code to a checkpoint",
      description:
        "Before anything changes, the daemon saves the worktree (commits, staged, unstaged and untracked files) under `safetyRef`, whatever `preserveMode`: `discard` keeps nothing else, `create_branch` also keeps it on a branch, `stash` in a stash. Changes in the worktree that the task did not make refuse the rewind (409 `foreign_changes`) unless `force: true`. Undo with POST …/rewind/undo.",
      params: IdParam,
      body: RewindTaskRequest,
      status: 200,
      relayed: true,
      response: CodeRewindResult,
      errors: [404, 409],
    },
    async ({ ctx, params, body }) => relayed(await rewindTask(ctx, params.id!, body)),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/rewind/undo",
      tag: "rewind",
      summary: "Undo a code rewind: the worktree as it was just before it, uncommitted files included",
      params: IdParam,
      body: UndoRewindRequest,
      optionalBody: true,
      status: 200,
      relayed: true,
      response: z.object({ taskId: z.uuid(), restoredFrom: z.string() }).meta({ id: "UndoRewindResponse" }),
      errors: [404, 409],
    },
    async ({ ctx, params, body }) => relayed(await undoRewind(ctx, params.id!, body?.rewindId)),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/conversation/rewind",
      tag: "rewind",
      summary: "Rewind a task's conversation (to a message, a time, or by N messages)",
      description: "Hides messages without deleting them; undo with POST …/conversation/restore.",
      params: IdParam,
      body: RewindConversationRequest,
      status: 200,
      response: ConversationRewindResult,
      errors: [404, 409, 503],
    },
    async ({ ctx, params, body }) => rewindTaskConversation(ctx, await ownedTask(ctx, params.id!), body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/conversation/restore",
      tag: "rewind",
      summary: "Undo a conversation rewind (the latest, or `rewindId`)",
      params: IdParam,
      body: RestoreConversationRequest,
      optionalBody: true,
      status: 200,
      response: RestoreResult,
      errors: [404, 409],
    },
    async ({ ctx, params, body }) => restoreTaskConversation(ctx, await ownedTask(ctx, params.id!), body?.rewindId),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/conversation/rewinds",
      tag: "rewind",
      summary: "A task's conversation rewinds, newest first (what each hid, and whether it was restored)",
      params: IdParam,
      query: ListQuery,
      status: 200,
      response: pageOf(ConversationRewind.meta({ id: "ConversationRewind" }), "ConversationRewindPage"),
      errors: [404],
    },
    async ({ ctx, params, query }) => listConversationRewinds(ctx.db, (await ownedTask(ctx, params.id!)).id, query.limit, query.cursor),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/fork",
      tag: "fork",
      summary: "Fork a task from a checkpoint, a time or a message",
      description:
        "`forkFromType` checkpoint (value: checkpoint id or number), timestamp (ISO 8601) or message_id. The new task shares the parent's conversation up to that point (unless `includeConversation: false`) and works on `branchName` (default `makima/fork/<parent>-<point>-<fork>`, unique; a name the parent or one of its forks uses is 409 `branch_exists`) at the point's commit. The task and its history events are created together; `start` says whether a daemon was sent it (`starting`, follow `operationId`), it waits for one (`waiting`), or it `failed`. A start that fails puts the task back to wait (see `lastStartError` on the task), and after three attempts marks it failed.",
      params: IdParam,
      body: ForkTaskRequest,
      status: 201,
      response: z
        .object({
          task: Task,
          sourceTaskId: z.uuid(),
          forkPoint: z.object({
            type: z.string(),
            value: z.string(),
            checkpointId: z.uuid().optional(),
            messageCount: z.int(),
            conversationApproximate: z
              .literal(true)
              .optional()
              .describe("The checkpoint's snapshot is gone (retention): the shared conversation is the parent's first `messageCount` messages as they are now, not necessarily what the checkpoint saw"),
          }),
          branchName: z.string().optional(),
          ...StartedOn,
        })
        .meta({ id: "ForkTaskResponse" }),
      errors: [404, 409, 503],
    },
    ({ ctx, params, body }) => forkTask(ctx, params.id!, body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/resume",
      tag: "resume",
      summary: "Start a new task from a checkpoint",
      description: "The new task's worktree starts at the checkpoint's commit; with `includeConversation` it also starts with the conversation as it was there.",
      params: TaskCheckpointParams,
      body: ResumeFromCheckpointRequest,
      status: 201,
      response: z
        .object({ task: Task, sourceTaskId: z.uuid(), checkpointId: z.uuid(), ...StartedOn })
        .meta({ id: "ResumeFromCheckpointResponse" }),
      errors: [404, 503],
    },
    ({ ctx, params, body }) => resumeFromCheckpoint(ctx, params.id!, params.cid!, body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/continue",
      tag: "resume",
      summary: "Continue an interrupted task",
      description:
        "`with_context` keeps the conversation (plus `additionalContext`); `clean_restart` starts with none (hidden, restorable); `from_checkpoint` goes back to the checkpoint at `checkpointSha`.",
      params: IdParam,
      body: ContinueTaskRequest,
      status: 200,
      response: Task,
      errors: [404, 409, 503],
    },
    ({ ctx, params, body }) => continueTask(ctx, params.id!, body),
  );
}
