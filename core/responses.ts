import * as z from "zod";
import { ApiKey, ConversationMessage, ConversationSnapshot, HistoryEvent, Operation, StartState, Task, TaskCheckpoint, TaskStatus } from "./models.js";
import { DiffStats, FileDiffInfo, PreservedState } from "./protocol.js";

/**
 * The API's answers that are not a resource of core/models.ts: the HTTP
 * routes document and check their responses with these, and the CLI reads
 * them with the types inferred here.
 */

/** Every failure: `{"error": {code, message, details?}}`. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: "Error" });

export const Accepted = z
  .object({
    operationId: z.uuid(),
    status: z.literal("pending"),
    statusUrl: z.string(),
  })
  .meta({ id: "Accepted", description: "The daemon is still working; poll GET /api/v1/operations/{operationId}" });

/** `{items, nextCursor}` for a list of T. */
export const pageOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id: name });

export const HistoryPage = <C extends z.ZodRawShape>(name: string, context: C) =>
  z.object({ ...context, items: z.array(HistoryEvent), nextCursor: z.string().nullable() }).meta({ id: name });

export const TaskHistory = HistoryPage("TaskHistory", { taskId: z.uuid() });

export const AppendResult = z.object({ appended: z.int(), messageCount: z.int() }).meta({ id: "AppendResult" });

export const TaskConversation = z
  .object({ taskId: z.uuid(), messages: z.array(ConversationMessage), nextCursor: z.string().nullable() })
  .meta({ id: "TaskConversation" });

export const CheckpointCreated = z.object({ checkpoint: TaskCheckpoint, snapshot: ConversationSnapshot }).meta({ id: "CheckpointCreated" });

export const CheckpointDiff = z
  .object({
    taskId: z.uuid(),
    checkpointId: z.uuid(),
    commitSha: z.string(),
    previousSha: z.string().nullable(),
    files: z.array(FileDiffInfo),
    stats: DiffStats,
  })
  .meta({ id: "CheckpointDiff" });

export const SnapshotWithConversation = ConversationSnapshot.extend({
  conversationState: z.object({
    messages: z.array(ConversationMessage),
    nextCursor: z.string().nullable(),
    state: z.unknown().optional().describe("A supervisor's compacted state, when the daemon sent one"),
  }),
}).meta({ id: "ConversationSnapshotWithState" });

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

export const CodeRewindView = z
  .object({
    id: z.uuid(),
    taskId: z.uuid(),
    checkpointId: z.uuid(),
    commitSha: z.string(),
    preserveMode: z.enum(["discard", "create_branch", "stash"]),
    preservedAs: PreservedState.optional(),
    safetyRef: z.string().optional().describe("Where the daemon saved (or, while `dispatched`/`unknown`, was told to save) the worktree before the rewind"),
    actor: z.string(),
    createdAt: z.string(),
    undoneAt: z.string().optional(),
    status: z
      .enum(["dispatched", "done", "failed", "unknown"])
      .describe(
        "`dispatched`: sent, the daemon has not answered yet; `done`: carried out; `failed`: did not happen; `unknown`: the daemon did not answer by `deadline` — it may have rewound (it reports the outcome when it comes back), and POST …/rewind/undo with this `rewindId` puts the worktree back if the safety ref exists (409 `safety_ref_missing` if it never got that far)",
      ),
    operationId: z.uuid().optional(),
    deadline: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    next: z.string().optional().describe("The way forward, for an `unknown` rewind"),
  })
  .meta({ id: "CodeRewind" });
export type CodeRewindView = z.infer<typeof CodeRewindView>;

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

export const UndoRewindResult = z.object({ taskId: z.uuid(), restoredFrom: z.string() }).meta({ id: "UndoRewindResponse" });

export const StartedOn = { daemonId: z.uuid().optional(), operationId: z.uuid().optional(), ...StartState };

export const ForkResult = z
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
  .meta({ id: "ForkTaskResponse" });

export const ContinueTaskResult = Task.extend(StartedOn)
  .describe("The task; `start` says whether a daemon was sent it (`starting`, follow `operationId`), it waits for one (`waiting`), or it `failed`")
  .meta({ id: "ContinueTaskResponse" });

export const ResumeFromCheckpointResult = z
  .object({ task: Task, sourceTaskId: z.uuid(), checkpointId: z.uuid(), ...StartedOn })
  .meta({ id: "ResumeFromCheckpointResponse" });

export const SupervisorConversation = z
  .object({
    contractId: z.uuid(),
    supervisorTaskId: z.uuid(),
    messages: z.array(ConversationMessage),
    spawnedTasks: z.array(z.object({ id: z.uuid(), name: z.string(), status: TaskStatus, createdAt: z.string() })),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: "SupervisorConversation" });

export const ResumeSupervisorResult = z
  .object({
    contractId: z.uuid(),
    supervisorTaskId: z.uuid(),
    resumeMode: z.string(),
    daemonId: z.uuid().optional(),
    operationId: z.uuid().optional(),
    ...StartState,
  })
  .meta({ id: "ResumeSupervisorResponse" });

export const SupervisorRewindResult = ConversationRewindResult.omit({ taskId: true })
  .extend({ contractId: z.uuid(), supervisorTaskId: z.uuid() })
  .meta({ id: "SupervisorConversationRewind" });

export const CreatedKey = ApiKey.omit({ ownerId: true })
  .extend({ key: z.string().optional().describe("The secret: shown this once (absent when an Idempotency-Key replays the answer)") })
  .meta({ id: "CreatedKey" });

export const DaemonPage = pageOf(
  z.object({ daemonId: z.uuid(), connectedAt: z.string(), hostname: z.string().optional(), version: z.string().optional() }),
  "DaemonPage",
);

export const OperationStatus = Operation.omit({ ownerId: true }).meta({ id: "OperationStatus" });

export const Retention = z.object({ retentionDays: z.int(), defaultRetentionDays: z.int() }).meta({ id: "Retention" });

export type TaskHistory = z.infer<typeof TaskHistory>;
export type AppendResult = z.infer<typeof AppendResult>;
export type TaskConversation = z.infer<typeof TaskConversation>;
export type CheckpointCreated = z.infer<typeof CheckpointCreated>;
export type CheckpointDiff = z.infer<typeof CheckpointDiff>;
export type SnapshotWithConversation = z.infer<typeof SnapshotWithConversation>;
export type CodeRewindResult = z.infer<typeof CodeRewindResult>;
export type ConversationRewindResult = z.infer<typeof ConversationRewindResult>;
export type RestoreResult = z.infer<typeof RestoreResult>;
export type UndoRewindResult = z.infer<typeof UndoRewindResult>;
export type ForkResult = z.infer<typeof ForkResult>;
export type ContinueTaskResult = z.infer<typeof ContinueTaskResult>;
export type ResumeFromCheckpointResult = z.infer<typeof ResumeFromCheckpointResult>;
export type SupervisorConversation = z.infer<typeof SupervisorConversation>;
export type ResumeSupervisorResult = z.infer<typeof ResumeSupervisorResult>;
export type SupervisorRewindResult = z.infer<typeof SupervisorRewindResult>;
export type CreatedKey = z.infer<typeof CreatedKey>;
export type DaemonPage = z.infer<typeof DaemonPage>;
export type OperationStatus = z.infer<typeof OperationStatus>;
export type Retention = z.infer<typeof Retention>;
