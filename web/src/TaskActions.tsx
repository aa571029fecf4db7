import { useState } from "preact/hooks";
import { get, post } from "./api.js";
import { Confirm } from "./Confirm.js";
import { short, when } from "./format.js";
import type { TaskView } from "./live.js";
import type { CodeRewindView, ContinueTaskResult, Page, Task } from "./types.js";

function UndoRewind({ task, view, onClose }: { task: Task; view: TaskView; onClose: () => void }) {
  let target: CodeRewindView | undefined;
  return (
    <Confirm
      title="Undo the latest code rewind"
      confirmLabel="Undo the rewind"
      onClose={onClose}
      preview={async () => {
        const rewinds = await get<Page<CodeRewindView>>(`/api/v1/mesh/tasks/${task.id}/rewinds?limit=25`);
        target = rewinds.items.find((r) => !r.undoneAt && r.status !== "failed");
        if (!target) throw new Error("This task has no code rewind to undo.");
        return (
          <p>
            The worktree goes back to how it was just before the rewind of {when(target.createdAt)} to <code>{short(target.commitSha, 7)}</code>, uncommitted files included
            (saved as <code>{target.safetyRef ?? "its safety ref"}</code>).
          </p>
        );
      }}
      run={async () => {
        const r = await post<{ restoredFrom: string }>(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, target ? { rewindId: target.id } : {});
        view.reload();
        return (
          <p>
            Rewind undone: the worktree is back as saved in <code>{r.restoredFrom}</code>.
          </p>
        );
      }}
    />
  );
}

type ResumeMode = "with_context" | "clean_restart";

function Resume({ task, view, onClose }: { task: Task; view: TaskView; onClose: () => void }) {
  const [mode, setMode] = useState<ResumeMode>("with_context");
  return (
    <Confirm
      title="Resume the task"
      confirmLabel="Resume"
      deps={[mode]}
      onClose={onClose}
      preview={async () => {
        if (task.status !== "interrupted" && task.status !== "paused" && task.status !== "failed") throw new Error(`The task is ${task.status}: only an interrupted, paused or failed task resumes.`);
        return mode === "with_context" ? (
          <p>The task starts again on a daemon with its {task.messageCount} messages as context. Nothing is hidden or deleted.</p>
        ) : (
          <p>The task starts again from its plan alone, without its conversation (which stays stored).</p>
        );
      }}
      run={async () => {
        const r = await post<ContinueTaskResult>(`/api/v1/mesh/tasks/${task.id}/continue`, { mode });
        view.reload();
        return <p>The task is {r.status}{r.start ? ` (${r.start})` : ""}.</p>;
      }}
    >
      <label for="resume-mode">Resume</label>
      <select id="resume-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as ResumeMode)}>
        <option value="with_context">with its conversation</option>
        <option value="clean_restart">from its plan only</option>
      </select>
    </Confirm>
  );
}

/** The task's own actions: undo a code rewind, resume. */
export function TaskActions({ task, view }: { task: Task; view: TaskView }) {
  const [open, setOpen] = useState<"undo" | "resume" | undefined>();
  return (
    <div class="task-actions">
      <button type="button" onClick={() => setOpen("undo")}>
        Undo code rewind…
      </button>
      <button type="button" onClick={() => setOpen("resume")}>
        Resume…
      </button>
      {open === "undo" && <UndoRewind task={task} view={view} onClose={() => setOpen(undefined)} />}
      {open === "resume" && <Resume task={task} view={view} onClose={() => setOpen(undefined)} />}
    </div>
  );
}
