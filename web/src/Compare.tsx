import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";
import { Message } from "./Message.js";
import { DiffFiles } from "./CheckpointDiff.js";
import { useTask } from "./live.js";
import type { FileDiffInfo, Task, TaskCheckpoint } from "./types.js";

/** How many leading messages two conversations share (a fork reads its parent's prefix by reference: same ids). */
export function commonPrefix(a: Array<{ id: string }>, b: Array<{ id: string }>): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n]!.id === b[n]!.id) n++;
  return n;
}

function Side({ task, messages, from }: { task?: Task; messages: Array<Parameters<typeof Message>[0]["message"]>; from: number }) {
  const rest = messages.slice(from);
  return (
    <section class="side" aria-label={task ? `After the fork: ${task.name}` : "Loading"}>
      <h2>{task ? <a href={`#/task/${task.id}`}>{task.name}</a> : "…"}</h2>
      <p class="muted">{rest.length} messages after the common point</p>
      {task && rest.map((m) => <Message key={m.id} taskId={task.id} message={m} />)}
    </section>
  );
}

function CodeBetween({ left, right }: { left?: TaskCheckpoint; right?: TaskCheckpoint }) {
  const [files, setFiles] = useState<FileDiffInfo[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [shown, setShown] = useState(25);
  useEffect(() => {
    if (!left || !right) return;
    get<{ files: FileDiffInfo[] }>(`/api/v1/mesh/tasks/${right.taskId}/checkpoints/${right.id}/diff?againstTaskId=${left.taskId}&againstCheckpointId=${left.id}`).then(
      (d) => setFiles(d.files),
      (e: Error) => setError(e.message),
    );
  }, [left?.id, right?.id]);
  if (!left || !right) return <p class="muted">Both tasks need a checkpoint to compare their code.</p>;
  return (
    <>
      <p>
        From checkpoint {left.checkpointNumber} (<code>{left.commitSha.slice(0, 7)}</code>) of the left task to checkpoint {right.checkpointNumber} (
        <code>{right.commitSha.slice(0, 7)}</code>) of the right one.
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!files && !error && <p aria-busy="true">Asking the daemon for the diff…</p>}
      {files && (files.length ? <DiffFiles files={files} sideBySide={false} shown={shown} setShown={setShown} /> : <p>The code is the same.</p>)}
    </>
  );
}

/** Two tasks of one lineage side by side: the conversations from their common point, and the code between their latest checkpoints. */
export function Compare({ left, right }: { left: string; right: string }) {
  const a = useTask(left);
  const b = useTask(right);
  useEffect(() => {
    document.title = "Compare — makima history";
  }, []);
  const common = commonPrefix(a.messages, b.messages);
  return (
    <div>
      <h1>Side by side</h1>
      {(a.error || b.error) && (
        <p role="alert" class="error">
          {a.error ?? b.error}
        </p>
      )}
      <details class="common">
        <summary>{common} messages in common (up to the fork)</summary>
        {a.task && a.messages.slice(0, common).map((m) => <Message key={m.id} taskId={a.task!.id} message={m} />)}
      </details>
      <div class="sides">
        <Side task={a.task} messages={a.messages} from={common} />
        <Side task={b.task} messages={b.messages} from={common} />
      </div>
      <section aria-labelledby="code-h">
        <h2 id="code-h">Code between their latest checkpoints</h2>
        <CodeBetween left={a.checkpoints.at(-1)} right={b.checkpoints.at(-1)} />
      </section>
    </div>
  );
}
