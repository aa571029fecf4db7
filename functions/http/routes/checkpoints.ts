import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import {
  BranchFromCheckpointRequest,
  ConversationMessage,
  ConversationSnapshot,
  CreateCheckpointRequest,
  CreateSnapshotRequest,
  ListQuery,
  TaskCheckpoint,
} from "../../../core/models.js";
import { DiffStats, FileDiffInfo } from "../../../core/protocol.js";
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
import type { AppEnv } from "../context.js";
import { defineRoute, IdParam, pageOf, relayed, TaskCheckpointParams, TaskSnapshotParams } from "../route.js";

const SnapshotWithConversation = ConversationSnapshot.extend({
  conversationState: z.object({
    messages: z.array(ConversationMessage),
    nextCursor: z.string().nullable(),
    state: z.unknown().optional().describe("A supervisor's compacted state, when the daemon sent one"),
  }),
}).meta({ id: "ConversationSnapshotWithState" });

export function checkpointRoutes(app: OpenAPIHono<AppEnv>) {
  defineRoute(
    app,
    { method: "get", path: "/api/v1/mesh/tasks/{id}/checkpoints", tag: "checkpoints", summary: "List a task's checkpoints, checkpointNumber ascending", params: IdParam, query: ListQuery, status: 200, response: pageOf(TaskCheckpoint, "CheckpointPage"), errors: [404] },
    ({ ctx, params, query }) => checkpointsOf(ctx, params.id!, query.limit, query.cursor),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/checkpoints",
      tag: "checkpoints",
      summary: "Record a checkpoint (and take a `checkpoint` snapshot of the conversation)",
      params: IdParam,
      body: CreateCheckpointRequest,
      status: 201,
      response: z.object({ checkpoint: TaskCheckpoint, snapshot: ConversationSnapshot }).meta({ id: "CheckpointCreated" }),
      errors: [404],
    },
    ({ ctx, params, body }) => createCheckpoint(ctx, params.id!, body),
  );
  defineRoute(
    app,
    { method: "get", path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}", tag: "checkpoints", summary: "Get one checkpoint", params: TaskCheckpointParams, status: 200, response: TaskCheckpoint, errors: [404] },
    ({ ctx, params }) => checkpointOf(ctx, params.id!, params.cid!),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/diff",
      tag: "checkpoints",
      summary: "The code diff a checkpoint made (from the task's daemon)",
      description: "Compared with the previous checkpoint, or with the commit's parent for the first one. Large diffs travel through S3.",
      params: TaskCheckpointParams,
      status: 200,
      relayed: true,
      response: z
        .object({
          taskId: z.uuid(),
          checkpointId: z.uuid(),
          commitSha: z.string(),
          previousSha: z.string().nullable(),
          files: z.array(FileDiffInfo),
          stats: DiffStats,
        })
        .meta({ id: "CheckpointDiff" }),
      errors: [404],
    },
    async ({ ctx, params }) => relayed(await checkpointDiff(ctx, params.id!, params.cid!)),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/branch",
      tag: "checkpoints",
      summary: "Create a git branch at a checkpoint, without starting a task",
      params: TaskCheckpointParams,
      body: BranchFromCheckpointRequest,
      status: 201,
      relayed: true,
      response: z.object({ branchName: z.string(), commitSha: z.string() }).meta({ id: "BranchCreated" }),
      errors: [404, 409],
    },
    async ({ ctx, params, body }) => relayed(await branchFromCheckpoint(ctx, params.id!, params.cid!, body.branchName)),
  );

  defineRoute(
    app,
    { method: "get", path: "/api/v1/mesh/tasks/{id}/snapshots", tag: "snapshots", summary: "List a task's conversation snapshots, newest first", params: IdParam, query: ListQuery, status: 200, response: pageOf(ConversationSnapshot, "SnapshotPage"), errors: [404] },
    ({ ctx, params, query }) => snapshotsOf(ctx, params.id!, query.limit, query.cursor),
  );
  defineRoute(
    app,
    {
      method: "post",
      path: "/api/v1/mesh/tasks/{id}/snapshots",
      tag: "snapshots",
      summary: "Take a manual snapshot of the conversation",
      description:
        "A snapshot names the conversation as it is now (a small record, not a copy); it expires after the retention period unless pinned. With `captureState: true` the task's daemon also sends its compacted state (a supervisor's memory), kept with the snapshot — that needs a daemon online.",
      params: IdParam,
      body: CreateSnapshotRequest,
      optionalBody: true,
      status: 201,
      relayed: true,
      response: ConversationSnapshot,
      errors: [404],
    },
    async ({ ctx, params, body }) => relayed(await createManualSnapshot(ctx, params.id!, body ?? {})),
  );
  defineRoute(
    app,
    {
      method: "get",
      path: "/api/v1/mesh/tasks/{id}/snapshots/{sid}",
      tag: "snapshots",
      summary: "A snapshot with the conversation as it was then",
      description: "`conversationState.messages` is a page (`limit`, `cursor`) of the conversation the snapshot names, exactly as it was, whatever was appended or rewound since.",
      params: TaskSnapshotParams,
      query: ListQuery,
      status: 200,
      response: SnapshotWithConversation,
      errors: [404],
    },
    ({ ctx, params, query }) => snapshotWithConversation(ctx, params.id!, params.sid!, query.limit, query.cursor),
  );
  for (const [method, pinned] of [["post", true], ["delete", false]] as const) {
    defineRoute(
      app,
      {
        method,
        path: "/api/v1/mesh/tasks/{id}/snapshots/{sid}/pin",
        tag: "snapshots",
        summary: pinned ? "Pin a snapshot: retention never removes it" : "Unpin a snapshot: it expires with the retention period again",
        params: TaskSnapshotParams,
        status: 200,
        response: ConversationSnapshot,
        errors: [404],
      },
      ({ ctx, params }) => pinSnapshot(ctx, params.id!, params.sid!, pinned),
    );
  }
}
