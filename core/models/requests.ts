import * as z from "zod";
import { boundedJson, MESSAGE_JSON } from "../jsonBounds.js";
import { BranchName, CommitSha, ContractStatus, daemonId, HistoryEventType, isoTime, KeyKind, MessageId, Phase, PreserveMode, TaskStatus, uuid } from "./primitives.js";
import { ConversationMessage, ToolCallInfo } from "./resources.js";

/** What clients send: query strings and request bodies, with the bounds each field is held to. */

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

export const RewindTaskRequest = z
  .object({
    checkpointId: uuid().optional(),
    checkpointSha: CommitSha.optional(),
    preserveMode: PreserveMode,
    branchName: BranchName.optional(),
    /** Go ahead even if the worktree holds changes the task did not make; they are kept under the safety ref. */
    force: z.boolean().optional(),
    /** Change nothing: answer what the rewind would do to the worktree (a diff from it as it is to the checkpoint, files set aside and foreign changes marked). */
    dryRun: z.boolean().optional(),
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
