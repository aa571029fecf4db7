import { createRoute } from "@hono/zod-openapi";
import { HistoryPage, RestoreResult, ResumeSupervisorResult, SupervisorConversation, SupervisorRewindResult } from "../../../core/responses.js";
import * as z from "zod";
import {
  HistoryQueryFilters,
  ListQuery,
  RestoreConversationRequest,
  ResumeSupervisorRequest,
  RewindConversationRequest,
  TimelineQueryFilters,
} from "../../../core/models.js";
import { contractHistory, supervisorConversation, timeline } from "../../../core/services/history.js";
import { resumeSupervisor } from "../../../core/services/resume.js";
import { restoreSupervisorConversation, rewindSupervisorConversation } from "../../../core/services/rewind.js";
import { bearer, failures, IdempotencyHeader, IdParam, json, jsonBody, router } from "../route.js";

export const supervisorRoutes = router();

supervisorRoutes.openapi(
  createRoute({
    operationId: "getContractHistory",
    method: "get",
    path: "/api/v1/contracts/{id}/history",
    tags: ["history"],
    summary: "A contract's timeline, newest first",
    description: "Filters: `phase`, `eventTypes` (comma list of task, chat, checkpoint, phase, file, rewind, fork, resume), `from`, `to` (ISO 8601).",
    security: bearer,
    request: { params: IdParam, query: HistoryQueryFilters },
    responses: { 200: json(HistoryPage("ContractHistory", { contractId: z.uuid() })), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => c.json(await contractHistory(c.get("service"), c.req.valid("param").id, c.req.valid("query")), 200),
);

supervisorRoutes.openapi(
  createRoute({
    operationId: "getTimeline",
    method: "get",
    path: "/api/v1/timeline",
    tags: ["history"],
    summary: "Everything you own, one timeline, newest first",
    description: "Filters: `eventTypes` (comma list), `from`, `to` (ISO 8601). Each filter is a key condition: a page costs the same however long the timeline grows.",
    security: bearer,
    request: { query: TimelineQueryFilters },
    responses: { 200: json(HistoryPage("Timeline", {})), ...failures({ input: true }) },
  }),
  async (c) => c.json(await timeline(c.get("service"), c.req.valid("query")), 200),
);

supervisorRoutes.openapi(
  createRoute({
    operationId: "getSupervisorConversation",
    method: "get",
    path: "/api/v1/contracts/{id}/supervisor/conversation",
    tags: ["supervisor"],
    summary: "The supervisor's conversation (oldest first) and the tasks it spawned",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(SupervisorConversation), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await supervisorConversation(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);

supervisorRoutes.openapi(
  createRoute({
    operationId: "resumeSupervisor",
    method: "post",
    path: "/api/v1/contracts/{id}/supervisor/resume",
    tags: ["supervisor"],
    summary: "Resume an interrupted supervisor",
    description:
      "`continue` keeps its conversation; `restart_phase` hides what it said since the current phase began; `from_checkpoint` goes back to a checkpoint's conversation and commit. Hidden messages stay stored (see conversation/restore). The supervisor is started on a daemon if one is online (`operationId`), else it waits, `pending`, for the next daemon.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(ResumeSupervisorRequest.strict()) },
    responses: { 200: json(ResumeSupervisorResult), ...failures({ body: true, idempotent: true, also: [404, 409, 503] }) },
  }),
  async (c) => c.json(await resumeSupervisor(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 200),
);

supervisorRoutes.openapi(
  createRoute({
    operationId: "rewindSupervisorConversation",
    method: "post",
    path: "/api/v1/contracts/{id}/supervisor/conversation/rewind",
    tags: ["supervisor"],
    summary: "Rewind the supervisor's conversation (to a message, a time, or by N messages)",
    description:
      "Hides the messages after the point without deleting them; new messages follow the kept ones. Undo with `POST …/supervisor/conversation/restore` (the latest rewind not restored among the 25 latest, or `rewindId`). With `rewindCode`, the supervisor's worktree also goes back to the checkpoint taken at or before that point (the current state is kept on a branch and under a safety ref).",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(RewindConversationRequest.strict()) },
    responses: { 200: json(SupervisorRewindResult), ...failures({ body: true, idempotent: true, also: [404, 409, 503] }) },
  }),
  async (c) => c.json(await rewindSupervisorConversation(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 200),
);

supervisorRoutes.openapi(
  createRoute({
    operationId: "restoreSupervisorConversation",
    method: "post",
    path: "/api/v1/contracts/{id}/supervisor/conversation/restore",
    tags: ["supervisor"],
    summary: "Undo a supervisor conversation rewind: hidden messages are visible again",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(RestoreConversationRequest.strict(), false) },
    responses: { 200: json(RestoreResult), ...failures({ body: true, idempotent: true, also: [404, 409] }) },
  }),
  async (c) => c.json(await restoreSupervisorConversation(c.get("service"), c.req.valid("param").id, c.req.valid("json")?.rewindId), 200),
);
