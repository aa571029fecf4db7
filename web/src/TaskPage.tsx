import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";
import { Conversation } from "./Conversation.js";
import { short, when } from "./format.js";
import { useTask } from "./live.js";
import { CheckpointActions, RestoreHidden } from "./Actions.js";
import { TaskActions } from "./TaskActions.js";
import type { Page, Task } from "./types.js";

function Forks({ task }: { task: Task }) {
  const [forks, setForks] = useState<Task[]>([]);
  useEffect(() => {
    get<Page<Task>>(`/api/v1/mesh/tasks/${task.id}/forks?limit=50`).then((p) => setForks(p.items), () => setForks([]));
  }, [task.id, task.updatedAt]);
  if (forks.length === 0 && !task.forkedFromTaskId) return null;
  return (
    <section aria-labelledby="forks-h" class="card">
      <h2 id="forks-h">Forks</h2>
      <ul>
        {task.forkedFromTaskId && (
          <li>
            Forked from <a href={`#/task/${task.forkedFromTaskId}`}>task {short(task.forkedFromTaskId)}</a> —{" "}
            <a href={`#/compare/${task.forkedFromTaskId}/${task.id}`}>compare side by side</a>
          </li>
        )}
        {forks.map((f) => (
          <li key={f.id}>
            <a href={`#/task/${f.id}`}>{f.name}</a> ({f.status}) — <a href={`#/compare/${task.id}/${f.id}`}>compare with this task</a>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A task: its facts, its conversation (live), its checkpoints, forks and actions. */
export function TaskPage({ taskId }: { taskId: string }) {
  const view = useTask(taskId);
  const { task } = view;
  useEffect(() => {
    document.title = task ? `${task.name} — makima history` : "Task — makima history";
  }, [task?.name]);
  if (!task) return view.error ? <p role="alert" class="error">{view.error}</p> : <p aria-busy="true">Loading the task…</p>;
  return (
    <div class="task-page">
      <h1>{task.name}</h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <span class={`badge st-${task.status}`}>{task.status}</span>
          {task.status === "running" && <span class="live" aria-live="polite"> live</span>}
        </dd>
        <dt>Messages</dt>
        <dd>{task.messageCount}</dd>
        {task.contractId && (
          <>
            <dt>Contract</dt>
            <dd>
              <a href={`#/contract/${task.contractId}`}>{short(task.contractId)}</a>
            </dd>
          </>
        )}
        {task.branchName && (
          <>
            <dt>Branch</dt>
            <dd>
              <code>{task.branchName}</code>
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{when(task.createdAt)}</dd>
      </dl>
      <details class="plan">
        <summary>Plan</summary>
        <p class="pre-wrap">{task.plan}</p>
      </details>
      {view.error && <p role="alert" class="error">{view.error} (retrying)</p>}
      <TaskActions task={task} view={view} />
      <Forks task={task} />
      <section aria-labelledby="conv-h">
        <h2 id="conv-h">Conversation</h2>
        <Conversation
          taskId={task.id}
          messages={view.messages}
          checkpoints={view.checkpoints}
          rewinds={view.rewinds}
          checkpointExtra={(c) => <CheckpointActions task={task} checkpoint={c} view={view} />}
          hiddenExtra={(r) => <RestoreHidden task={task} rewind={r} view={view} />}
        />
        {!view.complete && <p aria-busy="true">Reading the conversation…</p>}
      </section>
    </div>
  );
}
