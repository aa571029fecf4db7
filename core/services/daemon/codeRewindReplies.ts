import { CodeRewind, type OperationRecord, type Phase, type TaskCheckpoint, type TaskRecord } from "../../models.js";
import type { DaemonReply, PreservedState } from "../../protocol.js";
import { newId } from "../../ids.js";
import type { Db } from "../../store/db.js";
import type { TransactItem } from "../../store/table.js";
import * as checkpoints from "../../store/checkpoints.js";
import * as codeRewinds from "../../store/codeRewinds.js";
import { aboutTask, eventWrites } from "../taskEvents.js";
import { applyConversationRewind, type PendingConversationCut } from "../rewind.js";
import { withFreshTask } from "../freshTask.js";
import { str } from "./replyOperation.js";

/** A `rewindResult`: the code rewind recorded and, when the command carried a conversation cut, the conversation following it. */
export async function rewindCompleted(
  db: Db,
  op: OperationRecord,
  reply: Extract<DaemonReply, { type: "rewindResult" }>,
  task: TaskRecord,
  phase: Phase | undefined,
): Promise<unknown> {
  const checkpoint = await checkpoints.getCheckpoint(db, task, str(op, "checkpointId"));
  const cut = op.context?.conversationCut as PendingConversationCut | undefined;
  const done = {
    id: typeof op.context?.codeRewindId === "string" ? op.context.codeRewindId : undefined,
    operationId: op.id,
    preserveMode: op.context?.preserveMode,
    preservedAs: reply.preservedAs,
    safetyRef: reply.safetyRef,
    actor: str(op, "actor"),
  };
  if (!cut) {
    const rewind = await recordCodeRewind(db, task, checkpoint, phase, done);
    return { taskId: task.id, rewindId: rewind.id, checkpoint, preservedAs: rewind.preservedAs, safetyRef: rewind.safetyRef };
  }
  // The code is back: now the conversation follows it, in the same transaction as both records.
  const code = codeRewindWrites(db, task, checkpoint, phase, done);
  await withFreshTask(db, task.ownerId, task.id, (current) =>
    applyConversationRewind(db, current, cut.kept, done.actor, cut.request, { id: cut.rewindId, alsoWrite: code.writes }),
  );
  return { taskId: task.id, rewindId: code.rewind.id, checkpoint, preservedAs: code.rewind.preservedAs, safetyRef: code.rewind.safetyRef };
}

/** An `undoRewindResult`: the code rewind marked undone, with its history event. */
export async function undoRewindCompleted(
  db: Db,
  op: OperationRecord,
  reply: Extract<DaemonReply, { type: "undoRewindResult" }>,
  task: TaskRecord,
  phase: Phase | undefined,
): Promise<unknown> {
  const rewindId = str(op, "rewindId");
  const restoredFrom = reply.restoredFrom ?? "";
  await db.table.transact([
    codeRewinds.markCodeRewindUndone(db, task.id, rewindId),
    ...eventWrites(db, {
      ...aboutTask(task, phase),
      eventType: "rewind",
      eventSubtype: "code_undone",
      eventData: { rewindId, restoredFrom, actor: str(op, "actor") },
    }),
  ]);
  return { taskId: task.id, restoredFrom };
}

/** The code rewind recorded before a `rewindToCheckpoint` was sent, settled `failed`: it did not happen. */
export async function codeRewindFailed(db: Db, op: OperationRecord, error: { code: string; message: string }): Promise<void> {
  const rewindId = op.context?.codeRewindId;
  const taskId = op.context?.taskId;
  if (op.commandType !== "rewindToCheckpoint" || typeof rewindId !== "string" || typeof taskId !== "string") return;
  await codeRewinds.failCodeRewind(db, taskId, rewindId, error);
}

/** What the daemon reported of a code rewind it carried out, and the record it settles (`id`, when one was written before dispatch). */
interface CodeRewindDone {
  id?: string;
  operationId?: string;
  preserveMode: unknown;
  preservedAs?: PreservedState;
  safetyRef?: string;
  actor: string;
}

/** A code rewind the daemon carried out: its record (the way back, when it saved one) and its history event. */
function codeRewindWrites(
  db: Db,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  phase: Phase | undefined,
  done: CodeRewindDone,
): { rewind: CodeRewind; writes: TransactItem[] } {
  const rewind = CodeRewind.parse({
    id: done.id ?? newId(),
    operationId: done.operationId,
    status: "done",
    taskId: task.id,
    ownerId: task.ownerId,
    checkpointId: checkpoint.id,
    commitSha: checkpoint.commitSha,
    preserveMode: done.preserveMode,
    preservedAs: done.preservedAs,
    safetyRef: done.safetyRef,
    actor: done.actor,
    createdAt: db.clock().toISOString(),
  });
  const event = eventWrites(db, {
    ...aboutTask(task, phase),
    eventType: "rewind",
    eventSubtype: "code",
    eventData: {
      rewindId: rewind.id,
      checkpointId: checkpoint.id,
      checkpointNumber: checkpoint.checkpointNumber,
      commitSha: checkpoint.commitSha,
      preserveMode: rewind.preserveMode,
      preservedAs: rewind.preservedAs,
      safetyRef: rewind.safetyRef,
      undoable: rewind.safetyRef !== undefined,
      actor: rewind.actor,
    },
  });
  return { rewind, writes: [codeRewinds.codeRewindWrite(rewind), ...event] };
}
/** Records a code rewind and its event in one transaction. */
export async function recordCodeRewind(
  db: Db,
  task: TaskRecord,
  checkpoint: TaskCheckpoint,
  phase: Phase | undefined,
  done: CodeRewindDone,
): Promise<CodeRewind> {
  const { rewind, writes } = codeRewindWrites(db, task, checkpoint, phase, done);
  await db.table.transact(writes);
  return rewind;
}
