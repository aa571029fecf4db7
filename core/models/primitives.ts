import * as z from "zod";
import { branchNameProblem } from "../gitRefs.js";

/** The small schemas every resource, request and record is built from: ids, times, git names and the enums. */

export const uuid = () => z.uuid();
export const isoTime = () => z.iso.datetime({ offset: true });

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
export const daemonId = () => z.uuid().transform((v) => v.toLowerCase());

export const Phase = z.enum(["research", "specify", "plan", "execute", "review"]);
export type Phase = z.infer<typeof Phase>;

export const ContractStatus = z.enum(["active", "paused", "completed", "archived"]);
export const TaskStatus = z.enum(["pending", "running", "paused", "interrupted", "completed", "failed"]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const MessageRole = z.enum(["user", "assistant", "system", "tool"]);

export const SnapshotType = z.enum(["auto", "manual", "checkpoint"]);
export type SnapshotType = z.infer<typeof SnapshotType>;

export const HistoryEventType = z.enum(["task", "chat", "checkpoint", "phase", "file", "rewind", "fork", "resume"]);
export type HistoryEventType = z.infer<typeof HistoryEventType>;

export const OperationStatus = z.enum(["pending", "succeeded", "failed", "timed_out"]);

export const KeyKind = z.enum(["api", "tool", "daemon"]);
export type KeyKind = z.infer<typeof KeyKind>;

export const PreserveMode = z.enum(["discard", "create_branch", "stash"]);
export type PreserveMode = z.infer<typeof PreserveMode>;
