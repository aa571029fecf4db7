import * as z from "zod";
import { BranchName, ConversationMessage, NewConversationMessage, PreserveMode, TaskStatus } from "./models.js";
import { ATTRIBUTE_JSON, boundedJson, STATE_JSON } from "./jsonBounds.js";

/**
 * The daemon wire format: `DaemonCommand` (server → daemon) and `DaemonMessage`
 * (daemon → server), JSON tagged by a camelCase `type`, and the server's
 * notices (notices.ts, exported from here too). These two files are the only
 * definition; the server's relay and the daemon both parse with them.
 */

export * from "./notices.js";

export const Sha = z.string().regex(/^[0-9a-f]{7,64}$/, "a lowercase hex commit SHA");

export const DiffHunk = z.object({ header: z.string(), lines: z.array(z.string()) }).meta({ id: "DiffHunk" });
export const FileDiffInfo = z
  .object({
    path: z.string(),
    oldPath: z.string().optional(),
    action: z.enum(["added", "modified", "deleted", "renamed"]),
    binary: z.boolean().optional(),
    additions: z.int(),
    deletions: z.int(),
    hunks: z.array(DiffHunk).optional(),
    /** In a rewind's preview: the file holds uncommitted work the rewind takes out of the worktree (kept under the safety ref, and on the branch or in the stash). */
    setAside: z.boolean().optional(),
    /** In a rewind's preview: a change the task did not make; the rewind refuses it unless forced. */
    foreign: z.boolean().optional(),
  })
  .meta({ id: "FileDiffInfo" });
export const DiffStats = z
  .object({ filesChanged: z.int(), insertions: z.int(), deletions: z.int() })
  .meta({ id: "DiffStats" });
export const GitDiffInfo = z.object({ files: z.array(FileDiffInfo), stats: DiffStats }).meta({ id: "GitDiffInfo" });
export type FileDiffInfo = z.infer<typeof FileDiffInfo>;
export type DiffStats = z.infer<typeof DiffStats>;
export type GitDiffInfo = z.infer<typeof GitDiffInfo>;

export const PreservedState = z.object({ type: z.enum(["branch", "stash"]), reference: z.string() });
export type PreservedState = z.infer<typeof PreservedState>;

const requestId = z.uuid();
/** How many of its last stderr lines an agent's exit carries. */
export const STDERR_TAIL_LINES = 20;
const taskId = z.uuid();

// ------------------------------------------------------------ server → daemon

export const RewindToCheckpoint = z.object({
  type: z.literal("rewindToCheckpoint"),
  requestId,
  taskId,
  checkpointSha: Sha,
  preserveMode: PreserveMode,
  branchName: z.string().optional(),
  /** Overwrite changes the task did not make (they still go under the safety ref). */
  force: z.boolean().optional(),
  /**
   * The name to save the safety ref under (`refs/makima/safety/<taskId>/…`),
   * chosen by the server, which records it before sending the command. A
   * command without one lets the daemon choose.
   */
  safetyRef: z.string().max(300).optional(),
});
export const UndoRewind = z.object({
  type: z.literal("undoRewind"),
  requestId,
  taskId,
  safetyRef: z.string(),
});
export const CreateConversationSnapshot = z.object({
  type: z.literal("createConversationSnapshot"),
  requestId,
  taskId,
  /** Presigned PUT for the compacted state when it is large. */
  uploadUrl: z.url().optional(),
});
export const GetCheckpointDiff = z.object({
  type: z.literal("getCheckpointDiff"),
  requestId,
  taskId,
  checkpointSha: Sha,
  previousSha: Sha.optional(),
  /** Presigned PUT the daemon uses when the diff would not fit in a WebSocket message. */
  uploadUrl: z.url().optional(),
});
/**
 * A rewind's dry run: what `rewindToCheckpoint` to this commit would do to
 * the worktree, nothing changed. Answered by `checkpointDiffResult`, its diff
 * going from the worktree as it is now (uncommitted and untracked files
 * included) to the commit, each file marked `setAside` / `foreign`.
 */
export const PreviewRewind = z.object({
  type: z.literal("previewRewind"),
  requestId,
  taskId,
  checkpointSha: Sha,
  /** Presigned PUT the daemon uses when the preview would not fit in a WebSocket message. */
  uploadUrl: z.url().optional(),
});
export const CreateBranch = z.object({
  type: z.literal("createBranch"),
  requestId,
  taskId,
  branchName: z.string(),
  commitSha: Sha,
});
export const SpawnTask = z.object({
  type: z.literal("spawnTask"),
  requestId,
  taskId,
  name: z.string(),
  plan: z.string(),
  /** The task whose repository the new worktree comes from (fork or resume). */
  sourceTaskId: z.uuid().optional(),
  commitSha: Sha.optional(),
  /**
   * The task already has a worktree and goes back to `commitSha` (a resume
   * from a checkpoint): the daemon rewinds it like rewindToCheckpoint with
   * create_branch, safety ref first, before starting the agent.
   */
  resetToCommit: z.boolean().optional(),
  /** With `resetToCommit`: the safety ref to save first (as in rewindToCheckpoint). */
  safetyRef: z.string().max(300).optional(),
  branchName: z.string().optional(),
  additionalContext: z.string().optional(),
  /** Presigned GET of the conversation to start with (JSON `{messages}`), if any. */
  conversationUrl: z.url().optional(),
  /**
   * Presigned GET of `{plan, additionalContext}` when they would not fit in a
   * WebSocket message; `plan` and `additionalContext` above are then empty.
   */
  briefUrl: z.url().optional(),
});

export const DaemonCommand = z.discriminatedUnion("type", [
  RewindToCheckpoint,
  UndoRewind,
  CreateConversationSnapshot,
  GetCheckpointDiff,
  CreateBranch,
  SpawnTask,
  PreviewRewind,
]);
export type DaemonCommand = z.infer<typeof DaemonCommand>;

/** What a transfer through S3 carries: the conversation a spawned task starts with, and a long brief. */
export const ConversationTransfer = z.object({ messages: z.array(z.lazy(() => ConversationMessage)) });
export const BriefTransfer = z.object({ plan: z.string(), additionalContext: z.string().optional() });
export type DaemonCommandType = DaemonCommand["type"];

// ------------------------------------------------------------ daemon → server

const reply = { requestId, taskId, success: z.boolean(), error: z.string().optional() };

export const RewindResult = z.object({
  type: z.literal("rewindResult"),
  ...reply,
  message: z.string(),
  preservedAs: PreservedState.optional(),
  /** Ref holding the worktree exactly as it was before the rewind. */
  safetyRef: z.string().optional(),
  /** Set when the rewind was refused because of changes the task did not make. */
  foreignChanges: z.array(z.string()).optional(),
});
export const UndoRewindResult = z.object({
  type: z.literal("undoRewindResult"),
  ...reply,
  restoredFrom: z.string().optional(),
});
export const ConversationSnapshotCreated = z.object({
  type: z.literal("conversationSnapshotCreated"),
  ...reply,
  messageCount: z.int().min(0).optional(),
  /** Small compacted state inline; larger goes to the command's uploadUrl. */
  state: boundedJson(z.unknown(), STATE_JSON).optional(),
  stateUploaded: z.boolean().optional(),
});
export const CheckpointDiffResult = z.object({
  type: z.literal("checkpointDiffResult"),
  ...reply,
  diff: GitDiffInfo.optional(),
  diffUploaded: z.boolean().optional(),
});
export const BranchCreated = z.object({
  type: z.literal("branchCreated"),
  ...reply,
  branchName: z.string().optional(),
  commitSha: z.string().optional(),
});
export const TaskSpawned = z.object({
  type: z.literal("taskSpawned"),
  ...reply,
  branchName: z.string().optional(),
  commitSha: z.string().optional(),
  /** Set when the worktree was rewound first (resetToCommit): how to undo it. */
  safetyRef: z.string().optional(),
  preservedAs: PreservedState.optional(),
});

/**
 * A report's place in its task's report stream. The daemon numbers each
 * task's reports 1, 2, 3, … in the order they happened, under a stream id
 * it picks once per task (a UUIDv7, kept with its outbox: a newer stream
 * takes over from an older one, never the reverse); the server applies report
 * n only after n − 1 and at most once, and answers each with a `reportAck`.
 * A report without it (an older daemon) is applied on arrival, unordered
 * and unacknowledged.
 */
export const ReportPosition = z
  .object({
    stream: z.uuid(),
    seq: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  })
  .meta({ id: "ReportPosition" });
export type ReportPosition = z.infer<typeof ReportPosition>;

export const Hello = z.object({
  type: z.literal("hello"),
  hostname: z.string().max(255),
  version: z.string().max(50),
});
export const Heartbeat = z.object({ type: z.literal("heartbeat") });
/**
 * Sent on a connection the daemon is about to close because it has opened
 * another (before API Gateway's 2-hour limit): the server moves the
 * operations waiting on this connection to the daemon's newest one, stops
 * sending commands here, and answers `handedOver`. A reply then arriving on
 * the new connection settles them; nothing fails as `daemon_disconnected`.
 */
export const Handover = z.object({ type: z.literal("handover") });
/** A message a daemon reports. It needs an id so that a resend is appended once. */
export const ReportedMessage = NewConversationMessage.required({ id: true }).extend({ uploaded: z.literal(true).optional() });
export type ReportedMessage = z.infer<typeof ReportedMessage>;
/**
 * Messages a daemon reports, in the order its agent printed them. The server
 * screens each one before the report is parsed (services/daemon/reportScreen.ts):
 * what it refuses is named in the acknowledgement, and a report may be left
 * with none.
 */
const ReportedMessages = z.array(ReportedMessage).max(100);
export const CheckpointCreated = z.object({
  type: z.literal("checkpointCreated"),
  taskId,
  commitSha: Sha,
  branchName: BranchName,
  message: z.string().max(10_000),
  /** Held to the same bounds as the HTTP API's checkpoint `filesChanged`. */
  filesChanged: boundedJson(z.unknown(), ATTRIBUTE_JSON).optional(),
  linesAdded: z.int().min(0).optional(),
  linesRemoved: z.int().min(0).optional(),
  /** The commit was made by a git outside the agent's and found by polling HEAD (see TaskCheckpoint). */
  foundByPolling: z.literal(true).optional(),
  /**
   * The messages the agent printed since the daemon's previous report, stored
   * before the checkpoint: one report where `taskMessages` and then
   * `checkpointCreated` would be two.
   */
  messages: ReportedMessages.optional(),
  report: ReportPosition.optional(),
});
/**
 * Asks where to upload a message too large for a WebSocket message; the
 * server answers `uploadGranted` with a presigned PUT. The message then goes
 * in `taskMessages` with `uploaded: true` (and its id, role and timestamp):
 * the server takes it whole from the upload.
 */
export const UploadRequest = z.object({
  type: z.literal("uploadRequest"),
  requestId,
  taskId,
  messageId: z.string().min(1).max(200),
});
export const TaskMessages = z.object({
  type: z.literal("taskMessages"),
  taskId,
  messages: ReportedMessages,
  report: ReportPosition.optional(),
});
/** How the agent ended: its exit code or signal, and the last lines it wrote to stderr (kept in the task's history). */
export const AgentExit = z.object({
  exitCode: z.int().nullable(),
  signal: z.string().max(30).nullable(),
  stderrTail: z.array(z.string().max(1000)).max(STDERR_TAIL_LINES),
});
export type AgentExit = z.infer<typeof AgentExit>;
export const TaskStatusMessage = z.object({ type: z.literal("taskStatus"), taskId, status: TaskStatus, exit: AgentExit.optional(), report: ReportPosition.optional() });
export const DaemonError = z.object({
  type: z.literal("error"),
  requestId: requestId.optional(),
  code: z.string().max(100),
  message: z.string().max(10_000),
});

export const DaemonReply = z.discriminatedUnion("type", [
  RewindResult,
  UndoRewindResult,
  ConversationSnapshotCreated,
  CheckpointDiffResult,
  BranchCreated,
  TaskSpawned,
]);
export type DaemonReply = z.infer<typeof DaemonReply>;

export const DaemonMessage = z.discriminatedUnion("type", [
  RewindResult,
  UndoRewindResult,
  ConversationSnapshotCreated,
  CheckpointDiffResult,
  BranchCreated,
  TaskSpawned,
  Hello,
  Heartbeat,
  Handover,
  UploadRequest,
  CheckpointCreated,
  TaskMessages,
  TaskStatusMessage,
  DaemonError,
]);
export type DaemonMessage = z.infer<typeof DaemonMessage>;

/** API Gateway caps a WebSocket message at 128 KB; anything bigger travels through S3. */
export const MAX_INLINE_PAYLOAD_BYTES = 100 * 1024;
