import * as z from "zod";
import { isoTime, PreserveMode, uuid } from "./primitives.js";
import { ConversationSnapshot, Operation, Task } from "./resources.js";

/**
 * What the store keeps beyond the resources it serves: conversation
 * bookkeeping, connections, owners and the audit records of rewinds. The
 * store parses what it reads with these.
 */

/** One run of visible messages: seq `from`..`to` (inclusive; `to` null = open, still growing) of `taskId`'s log. */
export const ConversationSegment = z.object({
  taskId: uuid(),
  from: z.int().min(1),
  to: z.int().min(0).nullable(),
});
export type ConversationSegment = z.infer<typeof ConversationSegment>;

/** A task as stored: the resource plus its conversation bookkeeping. */
export const TaskRecord = Task.extend({
  /** Highest sequence number written to this task's own log; moves in the same transaction as the entries. */
  lastSeq: z.int().min(0),
  /** The chain hash of the entry at lastSeq ("" for an empty log). */
  lastChain: z.string().optional(),
  /** When the server received the batch ending at lastSeq (epoch ms). */
  lastReceivedAt: z.number().optional(),
  /** The log is sealed into S3 chunks up to this sequence number (see store/logSeal.ts). */
  sealedTo: z.int().min(0).optional(),
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

/** A snapshot as stored: a small record naming a log prefix, never a copy of the conversation. */
export const SnapshotRecord = ConversationSnapshot.extend({
  ownerId: z.string(),
  segments: z.array(ConversationSegment),
  /** sha256 over the visible messages' ids and bodies, to prove a prefix unchanged. */
  contentHash: z.string(),
  /** Only state that cannot be derived from the log (a supervisor's compacted state) lives in S3. */
  stateBlobKey: z.string().optional(),
  expiresOn: z.string().optional(),
  /**
   * A checkpoint's snapshot written before its checkpoint (store/checkpoints.ts):
   * the number it was written for; it counts only once that checkpoint names it.
   */
  checkpointNumber: z.int().min(1).optional(),
});
export type SnapshotRecord = z.infer<typeof SnapshotRecord>;

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

/** An operation as stored: what the reply handler needs to finish the request, and a large result's S3 key. */
export const OperationRecord = Operation.extend({
  context: z.record(z.string(), z.unknown()).optional(),
  resultBlobKey: z.string().optional(),
});
export type OperationRecord = z.infer<typeof OperationRecord>;

export const Owner = z.object({
  id: z.string(),
  name: z.string(),
  retentionDays: z.int().min(1).max(3650).optional(),
  createdAt: isoTime(),
});
export type Owner = z.infer<typeof Owner>;

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
   * happen (rolled back).
   */
  status: z.enum(["dispatched", "done", "failed"]),
  /** The operation that carries the command (`GET /operations/{id}`). */
  operationId: uuid().optional(),
  /** By when the daemon should have answered; a `dispatched` rewind past it is shown as `unknown`. */
  deadline: isoTime().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type CodeRewind = z.infer<typeof CodeRewind>;
