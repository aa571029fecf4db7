import type { ComponentChildren } from "preact";
import { Message } from "./Message.js";
import { when } from "./format.js";
import type { ConversationMessage, ConversationRewind, TaskCheckpoint } from "./types.js";

export interface ConversationProps {
  taskId: string;
  messages: ConversationMessage[];
  checkpoints: TaskCheckpoint[];
  rewinds: ConversationRewind[];
  /** What to put under a checkpoint (its diff link, actions). */
  checkpointExtra?: (c: TaskCheckpoint) => ComponentChildren;
  /** What to put under a hidden stretch (restore). */
  hiddenExtra?: (r: ConversationRewind) => ComponentChildren;
}

function CheckpointMark({ checkpoint, extra }: { checkpoint: TaskCheckpoint; extra?: ComponentChildren }) {
  return (
    <aside class="checkpoint" aria-label={`Checkpoint ${checkpoint.checkpointNumber}`}>
      <strong>Checkpoint {checkpoint.checkpointNumber}</strong> <code>{checkpoint.commitSha.slice(0, 7)}</code> on <code>{checkpoint.branchName}</code>
      <span class="cp-msg"> “{checkpoint.message}”</span>
      {checkpoint.linesAdded !== undefined && (
        <span class="stat">
          {" "}
          <span class="add">+{checkpoint.linesAdded}</span> <span class="del">−{checkpoint.linesRemoved ?? 0}</span>
        </span>
      )}
      <time dateTime={checkpoint.createdAt}> {when(checkpoint.createdAt)}</time>
      {extra}
    </aside>
  );
}

function HiddenMark({ rewind, extra }: { rewind: ConversationRewind; extra?: ComponentChildren }) {
  return (
    <aside class="hidden-mark" aria-label="Hidden messages">
      {rewind.hiddenCount} message{rewind.hiddenCount === 1 ? "" : "s"} hidden by a rewind at {when(rewind.createdAt)} (kept, not deleted).
      {extra}
    </aside>
  );
}

/** A conversation, oldest first, with each checkpoint where it was taken and each stretch a rewind hid. */
export function Conversation({ taskId, messages, checkpoints, rewinds, checkpointExtra, hiddenExtra }: ConversationProps) {
  const at = new Map<number, TaskCheckpoint[]>();
  for (const c of checkpoints) {
    const place = Math.min(c.messageCount ?? messages.length, messages.length);
    at.set(place, [...(at.get(place) ?? []), c]);
  }
  const hidden = rewinds.filter((r) => !r.restoredAt && r.hiddenCount > 0);
  const hiddenAt = new Map<number, ConversationRewind[]>();
  for (const r of hidden) {
    const place = Math.min(r.messageCount, messages.length);
    hiddenAt.set(place, [...(hiddenAt.get(place) ?? []), r]);
  }
  const marks = (place: number) => (
    <>
      {at.get(place)?.map((c) => <CheckpointMark key={c.id} checkpoint={c} extra={checkpointExtra?.(c)} />)}
      {hiddenAt.get(place)?.map((r) => <HiddenMark key={r.id} rewind={r} extra={hiddenExtra?.(r)} />)}
    </>
  );
  return (
    <div class="conversation">
      {marks(0)}
      {messages.map((m, i) => (
        <div class="slot" key={m.id}>
          <Message taskId={taskId} message={m} />
          {marks(i + 1)}
        </div>
      ))}
      {messages.length === 0 && <p class="muted">No messages yet.</p>}
    </div>
  );
}
