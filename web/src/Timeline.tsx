import { useEffect, useRef, useState } from "preact/hooks";
import { get, query } from "./api.js";
import { ago, short, when } from "./format.js";
import { POLL_MS } from "./live.js";
import type { Contract, HistoryEvent, Page } from "./types.js";

const EVENT_TYPES = ["task", "chat", "checkpoint", "phase", "file", "rewind", "fork", "resume"] as const;
const PHASES = ["research", "specify", "plan", "execute", "review"] as const;
const SPANS: Record<string, number> = { "last hour": 3_600_000, "last 24 h": 86_400_000, "last 7 days": 604_800_000, "last 30 days": 2_592_000_000 };

interface Filters {
  contractId: string;
  taskId: string;
  eventType: string;
  phase: string;
  span: string;
}

/** The list a set of filters reads: a task's, a contract's or the owner's whole timeline. */
function source(f: Filters, cursor?: string): string {
  const params = {
    eventTypes: f.eventType,
    from: f.span ? new Date(Date.now() - SPANS[f.span]!).toISOString() : undefined,
    limit: 50,
    cursor,
  };
  if (/^[0-9a-f-]{36}$/i.test(f.taskId.trim())) return `/api/v1/mesh/tasks/${f.taskId.trim()}/history${query({ ...params, phase: f.phase })}`;
  if (f.contractId) return `/api/v1/contracts/${f.contractId}/history${query({ ...params, phase: f.phase })}`;
  return `/api/v1/timeline${query(params)}`;
}

/** One line about an event, from its data (text only: agent-written). */
function summary(e: HistoryEvent): string {
  const d = e.eventData;
  const pick = (...keys: string[]) => keys.map((k) => d[k]).find((v) => typeof v === "string" || typeof v === "number");
  const s = pick("name", "message", "summary", "taskName", "contractName", "branchName", "count", "messageCount");
  return s === undefined ? "" : String(s);
}

function Row({ e }: { e: HistoryEvent }) {
  return (
    <li class="event" data-event-id={e.id}>
      <time dateTime={e.createdAt} title={when(e.createdAt)}>
        {ago(e.createdAt)}
      </time>
      <span class={`badge ev-${e.eventType}`}>{e.eventType}</span>
      {e.eventSubtype && <span class="subtype">{e.eventSubtype}</span>}
      {e.phase && <span class="phase">{e.phase}</span>}
      <span class="summary">{summary(e)}</span>
      <span class="links">
        {e.taskId && <a href={`#/task/${e.taskId}`}>task {short(e.taskId)}</a>}
        {e.contractId && <a href={`#/contract/${e.contractId}`}>contract {short(e.contractId)}</a>}
      </span>
    </li>
  );
}

function Select({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: Array<[string, string]>; onChange: (v: string) => void }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

function FilterForm({ f, set, contracts }: { f: Filters; set: (k: keyof Filters) => (v: string) => void; contracts: Contract[] }) {
  return (
    <form class="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
      <Select id="f-contract" label="Contract" value={f.contractId} onChange={set("contractId")} options={[["", "all"], ...contracts.map((c): [string, string] => [c.id, c.name])]} />
      <div class="field">
        <label for="f-task">Task id</label>
        <input id="f-task" value={f.taskId} placeholder="any" onChange={(e) => set("taskId")(e.currentTarget.value)} />
      </div>
      <Select id="f-type" label="Event type" value={f.eventType} onChange={set("eventType")} options={[["", "all"], ...EVENT_TYPES.map((t): [string, string] => [t, t])]} />
      <Select id="f-phase" label="Phase" value={f.phase} onChange={set("phase")} options={[["", "all"], ...PHASES.map((p): [string, string] => [p, p])]} />
      <Select id="f-span" label="Time" value={f.span} onChange={set("span")} options={[["", "any time"], ...Object.keys(SPANS).map((s): [string, string] => [s, s])]} />
    </form>
  );
}

/** Everything the owner has, newest first: filters, infinite scroll on the API's cursors, new events as they come. */
export function Timeline() {
  // `#/?contract=<id>` opens the timeline filtered to a contract (the contract page links so).
  const [f, setF] = useState<Filters>(() => ({ contractId: new URLSearchParams(location.hash.split("?")[1] ?? "").get("contract") ?? "", taskId: "", eventType: "", phase: "", span: "" }));
  const [contracts, setContracts] = useState<Contract[]>([]);
  const [items, setItems] = useState<HistoryEvent[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<string | undefined>();
  const loading = useRef(false);
  const sentinel = useRef<HTMLDivElement>(null);
  const set = (k: keyof Filters) => (v: string) => setF((old) => ({ ...old, [k]: v }));
  // Without a contract the API cannot filter by phase: events are kept by their own phase here.
  const shown = items.filter((e) => !f.phase || f.contractId || e.phase === f.phase);

  useEffect(() => {
    document.title = "Timeline — makima history";
    get<Page<Contract>>("/api/v1/contracts?limit=200").then((p) => setContracts(p.items), () => undefined);
  }, []);

  const more = async (from: string | undefined, replace: boolean) => {
    if (loading.current) return;
    loading.current = true;
    try {
      const page = await get<Page<HistoryEvent>>(source(f, from));
      setItems((old) => (replace ? page.items : [...old, ...page.items.filter((e) => !old.some((o) => o.id === e.id))]));
      setCursor(page.nextCursor);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      loading.current = false;
    }
  };

  useEffect(() => {
    setItems([]);
    setCursor(undefined);
    void more(undefined, true);
    // New events: the first page again, what is not shown yet goes on top.
    const timer = setInterval(async () => {
      try {
        const page = await get<Page<HistoryEvent>>(source(f));
        setItems((old) => {
          const fresh = page.items.filter((e) => !old.some((o) => o.id === e.id));
          return fresh.length ? [...fresh, ...old] : old;
        });
      } catch {
        /* the next poll tries again */
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [f]);

  useEffect(() => {
    const el = sentinel.current;
    if (!el || !cursor) return;
    const observer = new IntersectionObserver((entries) => entries.some((x) => x.isIntersecting) && void more(cursor, false));
    observer.observe(el);
    return () => observer.disconnect();
  }, [cursor, f]);

  return (
    <div>
      <h1>Timeline</h1>
      <FilterForm f={f} set={set} contracts={contracts} />
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <ol class="events" aria-label="Events, newest first">
        {shown.map((e) => (
          <Row key={e.id} e={e} />
        ))}
      </ol>
      {cursor === undefined && <p aria-busy="true">Loading…</p>}
      {cursor === null && <p class="muted">{shown.length ? "That is everything." : "Nothing here yet."}</p>}
      {cursor && (
        <div ref={sentinel}>
          <button type="button" onClick={() => void more(cursor, false)}>
            Load more
          </button>
        </div>
      )}
    </div>
  );
}
