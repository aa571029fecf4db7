import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  ConversationMessage,
  HistoryQueryFilters,
  ListQuery,
  RestoreConversationRequest,
  ResumeSupervisorRequest,
  RewindConversationRequest,
  StartState,
  TaskStatus,
  TimelineQueryFilters,
} from "../../../core/models.js";
import { contractHistory, supervisorConversation, timeline } from "../../../core/services/history.js";
import { resumeSupervisor } from "../../../core/services/resume.js";
import { restoreSupervisorConversation, rewindSupervisorConversation } from "../../../core/services/rewind.js";
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam } from "../route.js";
import { HistoryPage } from "./tasks.js";
import { ConversationRewindResult, RestoreResult } from "./rewind.js";

export function supervisorRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/contracts/{id}/history",
      tag: "history",
      summary: "A contract's timeline, newest first",
      description: "Filters: `phase`, `eventTypes` (comma list of task, chat, checkpoint, phase, file, rewind, fork, resume), `from`, `to` (ISO 8601).",
      params: IdParam,
      query: HistoryQueryFilters,
      status: 200,
      response: HistoryPage("ContractHistory", { contractId: z.uuid() }),
      errors: [404],
    },
    ({ ctx, params, query }) => contractHistory(ctx, params.id!, query as never),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/timeline",
      tag: "history",
      summary: "Everything you own, one timeline, newest first",
      query: TimelineQueryFilters,
      status: 200,
      response: HistoryPage("Timeline", {}),
    },
    ({ ctx, query }) => timeline(ctx, query as never),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/contracts/{id}/supervisor/conversation",
      tag: "supervisor",
      summary: "The supervisor's conversation (oldest first) and the tasks it spawned",
      params: IdParam,
      query: ListQuery,
      status: 200,
      response: z
        .object({
          contractId: z.uuid(),
          supervisorTaskId: z.uuid(),
          messages: z.array(ConversationMessage),
          spawnedTasks: z.array(z.object({ id: z.uuid(), name: z.string(), status: TaskStatus, createdAt: z.string() })),
          nextCursor: z.string().nullable(),
        })
        .meta({ id: "SupervisorConversation" }),
      errors: [404],
    },
    ({ ctx, params, query }) => supervisorConversation(ctx, params.id!, query.limit, query.cursor),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/contracts/{id}/supervisor/resume",
      tag: "supervisor",
      summary: "Resume an interrupted supervisor",
      description:
        "`continue` keeps its conversation; `restart_phase` hides what it said since the current phase began; `from_checkpoint` goes back to a checkpoint's conversation and commit. Hidden messages stay stored (see conversation/restore). The supervisor is started on a daemon if one is online (`operationId`), else it waits, `pending`, for the next daemon.",
      params: IdParam,
      body: ResumeSupervisorRequest,
      status: 200,
      response: z
        .object({
          contractId: z.uuid(),
          supervisorTaskId: z.uuid(),
          resumeMode: z.string(),
          daemonId: z.uuid().optional(),
          operationId: z.uuid().optional(),
          ...StartState,
        })
        .meta({ id: "ResumeSupervisorResponse" }),
      errors: [404, 409, 503],
    },
    ({ ctx, params, body }) => resumeSupervisor(ctx, params.id!, body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/contracts/{id}/supervisor/conversation/rewind",
      tag: "supervisor",
      summary: "Rewind the supervisor's conversation (to a message, a time, or by N messages)",
      description:
        "Hides the messages after the point without deleting them; new messages follow the kept ones. Undo with `POST …/supervisor/conversation/restore` (the latest rewind, or `rewindId`). With `rewindCode`, the supervisor's worktree also goes back to the checkpoint taken at or before that point (the current state is kept on a branch and under a safety ref).",
      params: IdParam,
      body: RewindConversationRequest,
      status: 200,
      response: ConversationRewindResult.omit({ taskId: true })
        .extend({ contractId: z.uuid(), supervisorTaskId: z.uuid() })
        .meta({ id: "SupervisorConversationRewind" }),
      errors: [404, 409, 503],
    },
    ({ ctx, params, body }) => rewindSupervisorConversation(ctx, params.id!, body),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/contracts/{id}/supervisor/conversation/restore",
      tag: "supervisor",
      summary: "Undo a supervisor conversation rewind: hidden messages are visible again",
      params: IdParam,
      body: RestoreConversationRequest,
      optionalBody: true,
      status: 200,
      response: RestoreResult,
      errors: [404, 409],
    },
    ({ ctx, params, body }) => restoreSupervisorConversation(ctx, params.id!, body?.rewindId),
  );

}
