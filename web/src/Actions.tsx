import { useState } from "preact/hooks";
import { post } from "./api.js";
import { Confirm } from "./Confirm.js";
import { short } from "./format.js";
import type { TaskView } from "./live.js";
import type { ConversationRewind, FileDiffInfo, Task, TaskCheckpoint } from "./types.js";

type PreserveMode = "create_branch" | "stash" | "discard";

/** What a dry run of a code rewind answers: the diff from the worktree as it is to the checkpoint. */
interface RewindPreview {
  files: FileDiffInfo[];
}

function FileList({ label, paths }: { label: string; paths: string[] }) {
  if (paths.length === 0) return <p>{label}: none.</p>;
  return (
    <>
      <p>
        {label} ({paths.length}):
      </p>
      <ul class="files">
        {paths.slice(0, 200).map((p) => (
          <li key={p}>
            <code>{p}</code>
          </li>
        ))}
        {paths.length > 200 && <li>… and {paths.length - 200} more</li>}
      </ul>
    </>
  );
}

function RewindCode({ task, checkpoint, view, onClose }: { task: Task; checkpoint: TaskCheckpoint; view: TaskView; onClose: () => void }) {
  const [mode, setMode] = useState<PreserveMode>("create_branch");
  const [force, setForce] = useState(false);
  const body = { checkpointId: checkpoint.id, preserveMode: mode };
  return (
    <Confirm
      title={`Rewind the code to checkpoint ${checkpoint.checkpointNumber}`}
      confirmLabel="Rewind the code"
      deps={[mode]}
      onClose={onClose}
      preview={async () => {
        const p = await post<RewindPreview>(`/api/v1/mesh/tasks/${task.id}/rewind`, { ...body, dryRun: true });
        const kept = mode === "create_branch" ? "kept on a new branch" : mode === "stash" ? "kept in a stash" : "kept under the safety ref only";
        const foreign = p.files.filter((f) => f.foreign).map((f) => f.path);
        return (
          <>
            <p>
              The worktree goes back to <code>{short(checkpoint.commitSha, 7)}</code>; everything is first saved under a safety ref (undo brings it back).
            </p>
            <FileList label="Files that would change" paths={p.files.map((f) => `${f.path} (${f.action})`)} />
            <FileList label={`Uncommitted work set aside (${kept})`} paths={p.files.filter((f) => f.setAside).map((f) => f.path)} />
            {foreign.length > 0 && <FileList label="Changes the task did not make (refused unless you go ahead over them)" paths={foreign} />}
          </>
        );
      }}
      run={async () => {
        const r = await post<{ safetyRef: string; preservedAs?: { type: string; reference: string } }>(`/api/v1/mesh/tasks/${task.id}/rewind`, { ...body, force });
        view.reload();
        return (
          <p>
            Rewound. The previous state is saved as <code>{r.safetyRef}</code>
            {r.preservedAs && (
              <>
                {" "}
                and kept as {r.preservedAs.type} <code>{r.preservedAs.reference}</code>
              </>
            )}
            . Undo brings it back.
          </p>
        );
      }}
    >
      <fieldset>
        <legend>Keep the current work as</legend>
        {(["create_branch", "stash", "discard"] as const).map((m) => (
          <label key={m} class="radio">
            <input type="radio" name="preserve" value={m} checked={mode === m} onChange={() => setMode(m)} />
            {m === "create_branch" ? "a branch" : m === "stash" ? "a stash" : "nothing (the safety ref only)"}
          </label>
        ))}
      </fieldset>
      <label class="radio">
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
        Go ahead over changes the task did not make (they are kept under the safety ref)
      </label>
    </Confirm>
  );
}

function Fork({ task, checkpoint, view, onClose }: { task: Task; checkpoint: TaskCheckpoint; view: TaskView; onClose: () => void }) {
  const [name, setName] = useState(`${task.name} (fork at ${checkpoint.checkpointNumber})`);
  return (
    <Confirm
      title={`Fork from checkpoint ${checkpoint.checkpointNumber}`}
      confirmLabel="Fork"
      onClose={onClose}
      preview={async () => (
        <p>
          A new task “{name}” starts at commit <code>{short(checkpoint.commitSha, 7)}</code> on a new branch, with the first {checkpoint.messageCount ?? "?"} messages
          of this conversation. This task does not change.
        </p>
      )}
      deps={[name]}
      run={async () => {
        const r = await post<{ task: Task }>(`/api/v1/mesh/tasks/${task.id}/fork`, {
          forkFromType: "checkpoint",
          forkFromValue: checkpoint.id,
          newTaskName: name,
          newTaskPlan: task.plan,
          includeConversation: true,
          createBranch: true,
        });
        view.reload();
        return (
          <p>
            Forked as <a href={`#/task/${r.task.id}`}>{r.task.name}</a> — <a href={`#/compare/${task.id}/${r.task.id}`}>compare side by side</a>.
          </p>
        );
      }}
    >
      <label for="fork-name">Name of the new task</label>
      <input id="fork-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
    </Confirm>
  );
}

function RewindConversation({ task, checkpoint, view, onClose }: { task: Task; checkpoint: TaskCheckpoint; view: TaskView; onClose: () => void }) {
  const keep = checkpoint.messageCount ?? 0;
  const last = view.messages[keep - 1];
  return (
    <Confirm
      title={`Rewind the conversation to checkpoint ${checkpoint.checkpointNumber}`}
      confirmLabel="Rewind the conversation"
      onClose={onClose}
      preview={async () => {
        if (!last) throw new Error("This checkpoint has no message before it to rewind to.");
        const hidden = view.messages.length - keep;
        return <p>{hidden} message{hidden === 1 ? "" : "s"} after “{last.content.slice(0, 80)}” will be hidden (kept, and can be restored). The code does not change.</p>;
      }}
      run={async () => {
        const r = await post<{ messageCount: number; hiddenCount: number }>(`/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { toMessageId: last!.id });
        view.reload();
        return <p>Conversation rewound: {r.messageCount} messages kept, {r.hiddenCount} hidden.</p>;
      }}
    />
  );
}

export function CheckpointActions({ task, checkpoint, view }: { task: Task; checkpoint: TaskCheckpoint; view: TaskView }) {
  const [open, setOpen] = useState<"code" | "conversation" | "fork" | undefined>();
  const close = () => setOpen(undefined);
  const label = `checkpoint ${checkpoint.checkpointNumber}`;
  return (
    <div class="cp-actions">
      <a href={`#/task/${task.id}/checkpoint/${checkpoint.id}`}>Diff of {label}</a>
      <button type="button" onClick={() => setOpen("code")} aria-label={`Rewind code to ${label}`}>Rewind code…</button>
      <button type="button" onClick={() => setOpen("conversation")} aria-label={`Rewind conversation to ${label}`}>Rewind conversation…</button>
      <button type="button" onClick={() => setOpen("fork")} aria-label={`Fork from ${label}`}>Fork…</button>
      {open === "code" && <RewindCode task={task} checkpoint={checkpoint} view={view} onClose={close} />}
      {open === "conversation" && <RewindConversation task={task} checkpoint={checkpoint} view={view} onClose={close} />}
      {open === "fork" && <Fork task={task} checkpoint={checkpoint} view={view} onClose={close} />}
    </div>
  );
}

export function RestoreHidden({ task, rewind, view }: { task: Task; rewind: ConversationRewind; view: TaskView }) {
  const [open, setOpen] = useState(false);
  if (!open) return <button type="button" onClick={() => setOpen(true)}>Restore…</button>;
  return (
    <Confirm
      title="Restore hidden messages"
      confirmLabel="Restore"
      onClose={() => setOpen(false)}
      preview={async () => <p>{rewind.hiddenCount} hidden message{rewind.hiddenCount === 1 ? "" : "s"} become{rewind.hiddenCount === 1 ? "s" : ""} visible again.</p>}
      run={async () => {
        await post(`/api/v1/mesh/tasks/${task.id}/conversation/restore`, { rewindId: rewind.id });
        view.reload();
        return <p>Restored.</p>;
      }}
    />
  );
}
