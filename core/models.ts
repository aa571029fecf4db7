import { z } from "zod";
import { boundedJson, MESSAGE_JSON } from "./jsonBounds.js";
import { branchNameProblem } from "./gitRefs.js";

/**
 * Every resource and request of the service, defined once. Types are inferred
 * from these schemas; the HTTP layer reuses them for validation and OpenAPI,
 * the store parses what it reads with them.
 */

const uuid = () => z.uuid();
const isoTime = () => z.iso.datetime({ offset: true });

/** A commit SHA in any case, kept lowercase (what git prints and the daemon protocol requires). */
export const CommitSha = z
  .string()
  .regex(/^[0-9a-fA-F]{7,64}$/, "a hex commit SHA")
  .transform((v) => v.toLowerCase());

/** A branch name as `git check-ref-format --branch` accepts it (and not `refs/…`, `@` or a lone surrogate). */
export const BranchName = z.string().superRefine((name, ctx) => {
  const problem = branchNameProblem(name);
  if (problem) ctx.addIssue({ code: "custom", message: `not a valid branch name: it ${problem}` });
});

/** A message id a client chose: at most 200 characters, part of a sort key (`MSGID#<id>`, under DynamoDB's 1,024 bytes). */
export const MessageId = z.string().min(1).max(200);

/** An id a client names a daemon by, kept lowercase like the connections that carry it. */
const daemonId = () => z.uuid().transform((v) => v.toLowerCase());

export const Phase = z.enum(["research", "specify", "plan", "execute", "review"]);
export type Phase = z.infer<typeof Phase>;

export const ContractStatus = z.enum(["active", "paused", "completed", "archived"]);
export const TaskStatus = z.enum(["pending", "running", "paused", "interrupted", "completed", "failed"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

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

/** One run of visible messages: seq `from`..`to` (inclusive; `to` null = open, still growing) of `taskId`'s log. */
export const ConversationSegment = z.object({
  taskId: uuid(),
  from: z.int().min(1),
  to: z.int().min(0).nullable(),
});
export type ConversationSegment = z.infer<typeof ConversationSegment>;

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

/** A task as stored: the resource plus its conversation bookkeeping. */
export const TaskRecord = Task.extend({
  /** Highest sequence number written to this task's own log; moves in the same transaction as the entries. */
  lastSeq: z.int().min(0),
  /** The chain hash of the entry at lastSeq ("" for an empty log). */
  lastChain: z.string().optional(),
  /** The daemon report stream applied to this task, and the last report number applied from it. */
  reportStream: z.string().optional(),
  reportSeq: z.int().min(0).optional(),
  /** The visible conversation: runs of log entries, possibly in ancestors' logs. */
  segments: z.array(ConversationSegment),
  checkpointCount: z.int().min(0),
  /** Extra context a resume asked the agent to start with. */
  resumeContext: z.string().optional(),
  /** A resume from a checkpoint: the daemon moves the task's worktree back there before starting it. */
  restartAtCheckpointId: uuid().optional(),
  startingSince: isoTime().optional(),
});
export type TaskRecord = z.infer<typeof TaskRecord>;

export const ToolCallInfo = z
  .object({ id: z.string().min(1).max(200), name: z.string().min(1).max(200), input: z.unknown() })
  .meta({ id: "ToolCallInfo" });
export type ToolCallInfo = z.infer<typeof ToolCallInfo>;

export const MessageRole = z.enum(["user", "assistant", "system", "tool"]);

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

/**
 * A message as a client (or a daemon) sends it: id and timestamp are filled
 * in when missing, and tool inputs are held to the bounds of free-form JSON
 * (what is already stored is read back as it is).
 */
export const NewConversationMessage = ConversationMessage.omit({ truncated: true, receivedAt: true }).extend({
  id: z.string().min(1).max(200).optional(),
  timestamp: isoTime().optional(),
  toolCalls: z.array(ToolCallInfo.extend({ input: boundedJson(z.unknown(), MESSAGE_JSON) })).max(100).optional(),
  toolInput: boundedJson(z.unknown(), MESSAGE_JSON).optional(),
});
export type NewConversationMessage = z.infer<typeof NewConversationMessage>;

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
    createdAt: isoTime(),
  })
  .meta({ id: "TaskCheckpoint" });
export type TaskCheckpoint = z.infer<typeof TaskCheckpoint>;

export const SnapshotType = z.enum(["auto", "manual", "checkpoint"]);
export type SnapshotType = z.infer<typeof SnapshotType>;

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

/** A snapshot as stored: a small record naming a log prefix, never a copy of the conversation. */
export const SnapshotRecord = ConversationSnapshot.extend({
  ownerId: z.string(),
  segments: z.array(ConversationSegment),
  /** sha256 over the visible messages' ids and bodies, to prove a prefix unchanged. */
  contentHash: z.string(),
  /** Only state that cannot be derived from the log (a supervisor's compacted state) lives in S3. */
  stateBlobKey: z.string().optional(),
  expiresOn: z.string().optional(),
});
export type SnapshotRecord = z.infer<typeof SnapshotRecord>;

export const HistoryEventType = z.enum(["task", "chat", "checkpoint", "phase", "file", "rewind", "fork", "resume"]);
export type HistoryEventType = z.infer<typeof HistoryEventType>;

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


export const Connection = z.object({
  connectionId: z.string(),
  ownerId: z.string(),
  daemonId: uuid(),
  /** The daemon key it connected with: revoking the key closes the connection. */
  keyId: uuid().optional(),
  hostname: z.string().optional(),
  version: z.string().optional(),
  connectedAt: isoTime(),
});
export type Connection = z.infer<typeof Connection>;

export const OperationStatus = z.enum(["pending", "succeeded", "failed", "timed_out"]);
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

/** An operation as stored: what the reply handler needs to finish the request, and a large result's S3 key. */
export const OperationRecord = Operation.extend({
  context: z.record(z.string(), z.unknown()).optional(),
  resultBlobKey: z.string().optional(),
});
export type OperationRecord = z.infer<typeof OperationRecord>;

export const KeyKind = z.enum(["api", "tool", "daemon"]);
export type KeyKind = z.infer<typeof KeyKind>;
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

export const Owner = z.object({
  id: z.string(),
  name: z.string(),
  retentionDays: z.int().min(1).max(3650).optional(),
  createdAt: isoTime(),
});
export type Owner = z.infer<typeof Owner>;

// ---------------------------------------------------------------- requests

const limit = z.coerce.number().int().min(1).max(200).default(50);
/** A query flag: `true`, `false`, `1` or `0`, defaulting to `fallback`. */
const flag = (fallback: "true" | "false") =>
  z.enum(["true", "false", "1", "0"]).default(fallback).transform((v) => v === "true" || v === "1");

export const ListQuery = z.object({ limit, cursor: z.string().optional() });

export const HistoryQueryFilters = z.object({
  phase: Phase.optional(),
  eventTypes: z
    .string()
    .transform((s) => s.split(",").map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(HistoryEventType).min(1))
    .optional(),
  from: isoTime().optional(),
  to: isoTime().optional(),
  limit,
  cursor: z.string().optional(),
});
export type HistoryQueryFilters = z.infer<typeof HistoryQueryFilters>;

export const TimelineQueryFilters = HistoryQueryFilters.omit({ phase: true });

export const TaskConversationQuery = z.object({
  include_tool_calls: flag("true"),
  include_tool_results: flag("true"),
  limit,
  cursor: z.string().optional(),
});

export const CreateContractRequest = z.object({ name: z.string().min(1).max(200), phase: Phase.optional() });
export const UpdateContractRequest = z
  .object({ name: z.string().min(1).max(200).optional(), phase: Phase.optional(), status: ContractStatus.optional() })
  .refine((v) => Object.keys(v).length > 0, { message: "give at least one of name, phase, status" });

export const CreateTaskRequest = z.object({
  name: z.string().min(1).max(200),
  plan: z.string().max(50_000),
  contractId: uuid().optional(),
  isSupervisor: z.boolean().optional(),
  branchName: BranchName.optional(),
  baseSha: CommitSha.optional(),
});
export type CreateTaskRequest = z.infer<typeof CreateTaskRequest>;
export const UpdateTaskRequest = z.object({ status: TaskStatus.optional(), daemonId: uuid().optional() });

export const AppendMessagesRequest = z.object({ messages: z.array(NewConversationMessage).min(1).max(100) });


export const CreateCheckpointRequest = z.object({
  commitSha: CommitSha,
  branchName: BranchName,
  message: z.string().max(10_000),
  filesChanged: boundedJson(z.unknown()).optional(),
  linesAdded: z.int().min(0).optional(),
  linesRemoved: z.int().min(0).optional(),
});
export type CreateCheckpointRequest = z.infer<typeof CreateCheckpointRequest>;

export const CreateSnapshotRequest = z.object({
  metadata: boundedJson(z.record(z.string(), z.unknown())).optional(),
  /** Also ask the task's daemon for its compacted state (a supervisor's memory) and keep it with the snapshot. */
  captureState: z.boolean().optional(),
});

export const ResumeSupervisorRequest = z
  .object({
    targetDaemonId: daemonId().optional(),
    resumeMode: z.enum(["continue", "restart_phase", "from_checkpoint"]),
    checkpointId: uuid().optional(),
    additionalContext: z.string().max(20_000).optional(),
  })
  .refine((r) => r.resumeMode !== "from_checkpoint" || r.checkpointId, {
    message: "checkpointId is required when resumeMode is from_checkpoint",
    path: ["checkpointId"],
  });
export type ResumeSupervisorRequest = z.infer<typeof ResumeSupervisorRequest>;

export const ResumeFromCheckpointRequest = z.object({
  taskName: z.string().min(1).max(200).optional(),
  plan: z.string().max(50_000),
  includeConversation: z.boolean().optional(),
  targetDaemonId: daemonId().optional(),
});
export type ResumeFromCheckpointRequest = z.infer<typeof ResumeFromCheckpointRequest>;

export const ContinueTaskRequest = z
  .object({
    mode: z.enum(["with_context", "clean_restart", "from_checkpoint"]),
    checkpointSha: CommitSha.optional(),
    additionalContext: z.string().max(20_000).optional(),
    targetDaemonId: daemonId().optional(),
  })
  .refine((r) => r.mode !== "from_checkpoint" || r.checkpointSha, {
    message: "checkpointSha is required when mode is from_checkpoint",
    path: ["checkpointSha"],
  });
export type ContinueTaskRequest = z.infer<typeof ContinueTaskRequest>;

export const PreserveMode = z.enum(["discard", "create_branch", "stash"]);
export type PreserveMode = z.infer<typeof PreserveMode>;

export const RewindTaskRequest = z
  .object({
    checkpointId: uuid().optional(),
    checkpointSha: CommitSha.optional(),
    preserveMode: PreserveMode,
    branchName: BranchName.optional(),
    /** Go ahead even if the worktree holds changes the task did not make; they are kept under the safety ref. */
    force: z.boolean().optional(),
  })
  .refine((r) => r.checkpointId || r.checkpointSha, {
    message: "give checkpointId or checkpointSha",
    path: ["checkpointId"],
  });
export type RewindTaskRequest = z.infer<typeof RewindTaskRequest>;

export const UndoRewindRequest = z.object({ rewindId: uuid().optional() });

export const RewindConversationRequest = z
  .object({
    toMessageId: MessageId.optional(),
    toTimestamp: isoTime().optional(),
    byMessageCount: z.int().min(1).optional(),
    rewindCode: z.boolean().optional(),
    /** With rewindCode: go ahead over changes the task did not make (they are kept under the safety ref). */
    force: z.boolean().optional(),
  })
  .refine((r) => [r.toMessageId, r.toTimestamp, r.byMessageCount].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of toMessageId, toTimestamp, byMessageCount",
    path: ["toMessageId"],
  });
export type RewindConversationRequest = z.infer<typeof RewindConversationRequest>;

export const RestoreConversationRequest = z.object({ rewindId: uuid().optional() });

export const ForkTaskRequest = z.object({
  forkFromType: z.enum(["checkpoint", "timestamp", "message_id"]),
  /** A checkpoint id, an ISO time or a message id. */
  forkFromValue: z.string().min(1).max(200),
  newTaskName: z.string().min(1).max(200),
  newTaskPlan: z.string().max(50_000),
  includeConversation: z.boolean().optional(),
  createBranch: z.boolean().optional(),
  branchName: BranchName.optional(),
  targetDaemonId: daemonId().optional(),
});
export type ForkTaskRequest = z.infer<typeof ForkTaskRequest>;

export const BranchFromCheckpointRequest = z.object({ branchName: BranchName });

export const CreateKeyRequest = z
  .object({ kind: KeyKind, contractId: uuid().optional(), name: z.string().min(1).max(100).optional() })
  .refine((r) => r.kind !== "tool" || r.contractId, {
    message: "a tool key needs the contractId it is scoped to",
    path: ["contractId"],
  })
  .refine((r) => r.kind === "tool" || !r.contractId, {
    message: "only a tool key is scoped to a contract; api and daemon keys reach everything you own",
    path: ["contractId"],
  });

export const RetentionSettings = z.object({ retentionDays: z.int().min(1).max(3650) });

// ---------------------------------------------------------------- audit records

/** A conversation rewind: what was visible before, so it can be restored. */
export const ConversationRewind = z.object({
  id: uuid(),
  taskId: uuid(),
  ownerId: z.string(),
  previousSegments: z.array(ConversationSegment),
  segments: z.array(ConversationSegment),
  messageCount: z.int().min(0),
  hiddenCount: z.int().min(0),
  actor: z.string(),
  createdAt: isoTime(),
  restoredAt: isoTime().optional(),
});
export type ConversationRewind = z.infer<typeof ConversationRewind>;

/** A code rewind as the daemon carried it out, with the safety ref that undoes it. */
export const CodeRewind = z.object({
  id: uuid(),
  taskId: uuid(),
  ownerId: z.string(),
  checkpointId: uuid(),
  commitSha: z.string(),
  preserveMode: PreserveMode,
  preservedAs: z.object({ type: z.enum(["branch", "stash"]), reference: z.string() }).optional(),
  /** Absent when the daemon saved none (the plan's wire format): the rewind happened but cannot be undone. */
  safetyRef: z.string().optional(),
  actor: z.string(),
  createdAt: isoTime(),
  undoneAt: isoTime().optional(),
  /**
   * `dispatched`: recorded before the command went to the daemon (the
   * safety ref named is the one the daemon was told to save); `done` once
   * the daemon reported it carried out; `failed` once it reported it did not
   * happen (rolled back). Records older than this field are `done`.
   */
  status: z.enum(["dispatched", "done", "failed"]).default("done"),
  /** The operation that carries the command (`GET /operations/{id}`). */
  operationId: uuid().optional(),
  /** By when the daemon should have answered; a `dispatched` rewind past it is shown as `unknown`. */
  deadline: isoTime().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type CodeRewind = z.infer<typeof CodeRewind>;
