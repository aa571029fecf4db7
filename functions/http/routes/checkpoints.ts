import { createRoute } from "@hono/zod-openapi";
import { CheckpointCreated, CheckpointDiff, SnapshotWithConversation } from "../../../core/responses.js";
import * as z from "zod";
import {
  BranchFromCheckpointRequest,
  ConversationSnapshot,
  CreateCheckpointRequest,
  CreateSnapshotRequest,
  ListQuery,
  TaskCheckpoint,
} from "../../../core/models.js";
import {
  branchFromCheckpoint,
  checkpointDiff,
  checkpointOf,
  checkpointsOf,
  createCheckpoint,
  createManualSnapshot,
  pinSnapshot,
  snapshotsOf,
  snapshotWithConversation,
} from "../../../core/services/checkpoints.js";
import {
  accepted,
  acceptedResponse,
  bearer,
  failures,
  IdempotencyHeader,
  IdParam,
  json,
  jsonBody,
  pageOf,
  router,
  TaskCheckpointParams,
  TaskSnapshotParams,
} from "../route.js";

const DiffAgainstQuery = z
  .object({
    againstTaskId: z.uuid().optional().describe("With againstCheckpointId: compare with that task's checkpoint instead of the previous one"),
    againstCheckpointId: z.uuid().optional(),
  })
  .refine((q) => (q.againstTaskId === undefined) === (q.againstCheckpointId === undefined), {
    message: "give againstTaskId and againstCheckpointId together",
    path: ["againstCheckpointId"],
  });

export const checkpointRoutes = router();

checkpointRoutes.openapi(
  createRoute({
    operationId: "listCheckpoints",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/checkpoints",
    tags: ["checkpoints"],
    summary: "List a task's checkpoints, checkpointNumber ascending",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(pageOf(TaskCheckpoint, "CheckpointPage")), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await checkpointsOf(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "createCheckpoint",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/checkpoints",
    tags: ["checkpoints"],
    summary: "Record a checkpoint (and take a `checkpoint` snapshot of the conversation)",
    description: "Checkpoints of a task are numbered 1, 2, 3, … without gaps, however many are recorded at once. The snapshot names the conversation as it is now (a small record, not a copy); `branchName` is judged as `git check-ref-format --branch` judges it.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(CreateCheckpointRequest.strict()) },
    responses: { 201: json(CheckpointCreated), ...failures({ body: true, idempotent: true, also: [404] }) },
  }),
  async (c) => c.json(await createCheckpoint(c.get("service"), c.req.valid("param").id, c.req.valid("json")), 201),
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "getCheckpoint",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}",
    tags: ["checkpoints"],
    summary: "Get one checkpoint",
    security: bearer,
    request: { params: TaskCheckpointParams },
    responses: { 200: json(TaskCheckpoint), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { id, cid } = c.req.valid("param");
    return c.json(await checkpointOf(c.get("service"), id, cid), 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "getCheckpointDiff",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/diff",
    tags: ["checkpoints"],
    summary: "The code diff a checkpoint made (from the task's daemon)",
    description:
      "Compared with the previous checkpoint, or with the commit's parent for the first one; with `againstTaskId` and `againstCheckpointId`, with that checkpoint of another of your tasks (a fork and its source: two lines of work side by side). Large diffs travel through S3.",
    security: bearer,
    request: { params: TaskCheckpointParams, query: DiffAgainstQuery },
    responses: { 200: json(CheckpointDiff), 202: acceptedResponse, ...failures({ input: true, relayed: true, also: [404] }) },
  }),
  async (c) => {
    const { id, cid } = c.req.valid("param");
    const { againstTaskId, againstCheckpointId } = c.req.valid("query");
    const outcome = await checkpointDiff(c.get("service"), id, cid, againstTaskId && againstCheckpointId ? { taskId: againstTaskId, checkpointId: againstCheckpointId } : undefined);
    return outcome.pending ? c.json(accepted(outcome.operationId), 202) : c.json(outcome.result, 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "branchFromCheckpoint",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/branch",
    tags: ["checkpoints"],
    summary: "Create a git branch at a checkpoint, without starting a task",
    security: bearer,
    request: { params: TaskCheckpointParams, headers: IdempotencyHeader, body: jsonBody(BranchFromCheckpointRequest.strict()) },
    responses: {
      201: json(z.object({ branchName: z.string(), commitSha: z.string() }).meta({ id: "BranchCreated" })),
      202: acceptedResponse,
      ...failures({ body: true, idempotent: true, relayed: true, also: [404, 409] }),
    },
  }),
  async (c) => {
    const { id, cid } = c.req.valid("param");
    const outcome = await branchFromCheckpoint(c.get("service"), id, cid, c.req.valid("json").branchName);
    return outcome.pending ? c.json(accepted(outcome.operationId), 202) : c.json(outcome.result, 201);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "listSnapshots",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/snapshots",
    tags: ["snapshots"],
    summary: "List a task's conversation snapshots, newest first",
    security: bearer,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: json(pageOf(ConversationSnapshot, "SnapshotPage")), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await snapshotsOf(c.get("service"), c.req.valid("param").id, limit, cursor), 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "createSnapshot",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/snapshots",
    tags: ["snapshots"],
    summary: "Take a manual snapshot of the conversation",
    description:
      "A snapshot names the conversation as it is now (a small record, not a copy); it expires after the retention period unless pinned. With `captureState: true` the task's daemon also sends its compacted state (a supervisor's memory), kept with the snapshot — that needs a daemon online.",
    security: bearer,
    request: { params: IdParam, headers: IdempotencyHeader, body: jsonBody(CreateSnapshotRequest.strict(), false) },
    responses: {
      201: json(ConversationSnapshot),
      202: acceptedResponse,
      ...failures({ body: true, idempotent: true, relayed: true, also: [404] }),
    },
  }),
  async (c) => {
    const outcome = await createManualSnapshot(c.get("service"), c.req.valid("param").id, c.req.valid("json") ?? {});
    return outcome.pending ? c.json(accepted(outcome.operationId), 202) : c.json(outcome.result, 201);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "getSnapshot",
    method: "get",
    path: "/api/v1/mesh/tasks/{id}/snapshots/{sid}",
    tags: ["snapshots"],
    summary: "A snapshot with the conversation as it was then",
    description:
      "`conversationState.messages` is a page (`limit`, `cursor`) of the conversation the snapshot names, exactly as it was, whatever was appended or rewound since.",
    security: bearer,
    request: { params: TaskSnapshotParams, query: ListQuery },
    responses: { 200: json(SnapshotWithConversation), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { id, sid } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    return c.json(await snapshotWithConversation(c.get("service"), id, sid, limit, cursor), 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "pinSnapshot",
    method: "post",
    path: "/api/v1/mesh/tasks/{id}/snapshots/{sid}/pin",
    tags: ["snapshots"],
    summary: "Pin a snapshot: retention never removes it",
    security: bearer,
    request: { params: TaskSnapshotParams },
    responses: { 200: json(ConversationSnapshot), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { id, sid } = c.req.valid("param");
    return c.json(await pinSnapshot(c.get("service"), id, sid, true), 200);
  },
);

checkpointRoutes.openapi(
  createRoute({
    operationId: "unpinSnapshot",
    method: "delete",
    path: "/api/v1/mesh/tasks/{id}/snapshots/{sid}/pin",
    tags: ["snapshots"],
    summary: "Unpin a snapshot: it expires with the retention period again",
    security: bearer,
    request: { params: TaskSnapshotParams },
    responses: { 200: json(ConversationSnapshot), ...failures({ input: true, also: [404] }) },
  }),
  async (c) => {
    const { id, sid } = c.req.valid("param");
    return c.json(await pinSnapshot(c.get("service"), id, sid, false), 200);
  },
);
