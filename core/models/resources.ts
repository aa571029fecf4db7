import * as z from "zod";
import { ContractStatus, HistoryEventType, isoTime, KeyKind, MessageRole, OperationStatus, Phase, SnapshotType, TaskStatus, uuid } from "./primitives.js";

/**
 * The resources the API answers with, each defined once. Types are inferred
 * from these schemas; the HTTP layer reuses them for validation and OpenAPI.
 */

export const Contract = z
  .object({
    id: uuid(),
    ownerId: z.string(),
    name: z.string(),
    phase: Phase,
    status: ContractStatus,
    supervisorTaskId: uuid().optional(),
    createdAt: isoTime(),
    updatedAt: isoTime(),
  })
  .meta({ id: "Contract" });
export type Contract = z.infer<typeof Contract>;

export const Task = z
  .object({
    id: uuid(),
    ownerId: z.string(),
    contractId: uuid().optional(),
    name: z.string(),
    plan: z.string(),
    status: TaskStatus,
    isSupervisor: z.boolean(),
    daemonId: uuid().optional(),
    branchName: z.string().optional(),
    baseSha: z.string().optional(),
    forkedFromTaskId: uuid().optional(),
    forkedAtCheckpointId: uuid().optional(),
    forkedAtMessageId: z.string().optional(),
    messageCount: z.int(),
    /** How many times a daemon was asked to start this task since it last became pending. */
    startAttempts: z.int().min(0).optional(),
    /** The start under way: a daemon was sent `spawnTask` in this operation (GET /api/v1/operations/{id} tells how it went). */
    startingOperationId: uuid().optional(),
    /** Why the latest start did not happen (the task then waits for a daemon again, or failed after the last attempt). */
    lastStartError: z
      .object({ code: z.string(), message: z.string(), attempt: z.int().min(1), at: isoTime() })
      .optional(),
    createdAt: isoTime(),
    updatedAt: isoTime(),
  })
  .meta({ id: "Task" });
export type Task = z.infer<typeof Task>;

/** Where the start of a forked or resumed task stands when the request is answered. */
export const StartState = {
  start: z
    .enum(["starting", "waiting", "failed"])
    .describe("`starting`: a daemon was sent the task (follow `operationId`); `waiting`: no daemon that may start it is online, the next one to connect does; `failed`: it could not be started"),
  startError: z.object({ code: z.string(), message: z.string() }).optional().describe("Why the start did not happen (the task waits for a daemon again, or failed after its last attempt)"),
};

export const ToolCallInfo = z
  .object({ id: z.string().min(1).max(200), name: z.string().min(1).max(200), input: z.unknown() })
  .meta({ id: "ToolCallInfo" });
export type ToolCallInfo = z.infer<typeof ToolCallInfo>;

export const ConversationMessage = z
  .object({
    id: z.string().min(1).max(200),
    role: MessageRole,
    content: z.string(),
    /** When the agent (or client) says the message was written, as reported. */
    timestamp: isoTime(),
    /** When the server stored the message: what time-based cuts (toTimestamp, restart_phase, forks at a time) compare. */
    receivedAt: isoTime().optional(),
    toolCalls: z.array(ToolCallInfo).max(100).optional(),
    toolName: z.string().max(200).optional(),
    toolInput: z.unknown().optional(),
    toolResult: z.string().optional(),
    isError: z.boolean().optional(),
    tokenCount: z.int().min(0).optional(),
    costUsd: z.number().min(0).optional(),
    /** Set when content, toolInput or toolResult was shortened for a page; read the whole message by id. */
    truncated: z.boolean().optional(),
  })
  .meta({ id: "ConversationMessage" });
export type ConversationMessage = z.infer<typeof ConversationMessage>;

export const TaskCheckpoint = z
  .object({
    id: uuid(),
    taskId: uuid(),
    checkpointNumber: z.int().min(1),
    commitSha: z.string(),
    branchName: z.string(),
    message: z.string(),
    filesChanged: z.unknown().optional(),
    linesAdded: z.int().optional(),
    linesRemoved: z.int().optional(),
    conversationSnapshotId: uuid().optional(),
    /** How many messages the task's conversation held when the checkpoint was taken. */
    messageCount: z.int().min(0).optional(),
    /**
     * The commit was made by a git outside the agent's (its daemon found it by
     * polling HEAD): `messageCount` counts the messages printed when it was
     * found, not when it was made. Absent, the count is exact.
     */
    foundByPolling: z.boolean().optional(),
    createdAt: isoTime(),
  })
  .meta({ id: "TaskCheckpoint" });
export type TaskCheckpoint = z.infer<typeof TaskCheckpoint>;

export const ConversationSnapshot = z
  .object({
    id: uuid(),
    taskId: uuid(),
    checkpointId: uuid().optional(),
    snapshotType: SnapshotType,
    messageCount: z.int().min(0),
    metadata: z.record(z.string(), z.unknown()).optional(),
    pinned: z.boolean(),
    createdAt: isoTime(),
  })
  .meta({ id: "ConversationSnapshot" });
export type ConversationSnapshot = z.infer<typeof ConversationSnapshot>;

export const HistoryEvent = z
  .object({
    id: uuid(),
    ownerId: z.string(),
    contractId: uuid().optional(),
    taskId: uuid().optional(),
    eventType: HistoryEventType,
    eventSubtype: z.string().optional(),
    phase: Phase.optional(),
    eventData: z.record(z.string(), z.unknown()),
    createdAt: isoTime(),
  })
  .meta({ id: "HistoryEvent" });
export type HistoryEvent = z.infer<typeof HistoryEvent>;

export const Operation = z
  .object({
    id: uuid(),
    ownerId: z.string(),
    status: OperationStatus,
    commandType: z.string(),
    daemonId: uuid().optional(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    createdAt: isoTime(),
    updatedAt: isoTime(),
  })
  .meta({ id: "Operation" });
export type Operation = z.infer<typeof Operation>;

export const ApiKey = z
  .object({
    id: uuid(),
    ownerId: z.string(),
    kind: KeyKind,
    contractId: uuid().optional(),
    name: z.string().optional(),
    createdAt: isoTime(),
  })
  .meta({ id: "ApiKey" });
export type ApiKey = z.infer<typeof ApiKey>;
