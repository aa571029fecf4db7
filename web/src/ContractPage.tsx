import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";
import { Message } from "./Message.js";
import { when } from "./format.js";
import type { Contract, ConversationMessage, HistoryEvent, Page, Task } from "./types.js";

const PHASES = ["research", "specify", "plan", "execute", "review"] as const;

function TaskTree({ tasks, parent }: { tasks: Task[]; parent?: string }) {
  const ids = new Set(tasks.map((t) => t.id));
  const children = tasks.filter((t) => (parent ? t.forkedFromTaskId === parent : !t.forkedFromTaskId || !ids.has(t.forkedFromTaskId)));
  if (children.length === 0) return null;
  return (
    <ul class="tree">
      {children.map((t) => (
        <li key={t.id}>
          <a href={`#/task/${t.id}`}>{t.name}</a> <span class={`badge st-${t.status}`}>{t.status}</span>
          {t.isSupervisor && <span class="badge">supervisor</span>}
          {t.branchName && <code class="branch">{t.branchName}</code>}
          {parent && (
            <>
              {" "}
              <a href={`#/compare/${parent}/${t.id}`}>compare with its parent</a>
            </>
          )}
          <TaskTree tasks={tasks} parent={t.id} />
        </li>
      ))}
    </ul>
  );
}

/** A contract: its phases, its supervisor's conversation, its tasks as a tree of forks. */
export function ContractPage({ contractId }: { contractId: string }) {
  const [contract, setContract] = useState<Contract | undefined>();
  const [tasks, setTasks] = useState<Task[]>([]);
  const [phases, setPhases] = useState<HistoryEvent[]>([]);
  const [supervisor, setSupervisor] = useState<{ supervisorTaskId: string; messages: ConversationMessage[] } | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    get<Contract>(`/api/v1/contracts/${contractId}`).then(
      (c) => {
        setContract(c);
        document.title = `${c.name} — makima history`;
      },
      (e: Error) => setError(e.message),
    );
    get<Page<Task>>(`/api/v1/contracts/${contractId}/tasks?limit=200`).then((p) => setTasks(p.items), () => undefined);
    get<Page<HistoryEvent>>(`/api/v1/contracts/${contractId}/history?eventTypes=phase&limit=200`).then((p) => setPhases(p.items), () => undefined);
    get<{ supervisorTaskId: string; messages: ConversationMessage[] }>(`/api/v1/contracts/${contractId}/supervisor/conversation?limit=200`).then(setSupervisor, () => setSupervisor(undefined));
  }, [contractId]);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!contract) return <p aria-busy="true">Loading the contract…</p>;
  const current = PHASES.indexOf(contract.phase);
  return (
    <div>
      <h1>{contract.name}</h1>
      <ol class="phases" aria-label="Phases">
        {PHASES.map((p, i) => (
          <li key={p} class={i < current ? "past" : i === current ? "current" : "future"} aria-current={i === current ? "step" : undefined}>
            {p}
          </li>
        ))}
      </ol>
      <p>
        Status {contract.status}; created {when(contract.createdAt)}. <a href={`#/?contract=${contract.id}`}>Timeline</a>
      </p>
      {phases.length > 0 && (
        <details>
          <summary>Phase changes ({phases.length})</summary>
          <ul>
            {phases.map((e) => (
              <li key={e.id}>
                {when(e.createdAt)}: {e.eventSubtype} {e.phase}
              </li>
            ))}
          </ul>
        </details>
      )}
      <section aria-labelledby="tasks-h">
        <h2 id="tasks-h">Tasks</h2>
        {tasks.length ? <TaskTree tasks={tasks} /> : <p class="muted">No tasks yet.</p>}
      </section>
      <section aria-labelledby="sup-h">
        <h2 id="sup-h">Supervisor conversation</h2>
        {supervisor ? (
          <div class="conversation">
            {supervisor.messages.map((m) => (
              <Message key={m.id} taskId={supervisor.supervisorTaskId} message={m} />
            ))}
            {supervisor.messages.length === 0 && <p class="muted">No messages yet.</p>}
          </div>
        ) : (
          <p class="muted">This contract has no supervisor.</p>
        )}
      </section>
    </div>
  );
}
