import { HistoryEvent, type HistoryEventType, type Phase } from "../models.js";
import { keys } from "../keys.js";
import { highestIdAt, lowestIdAt, newId } from "../ids.js";
import { type Db } from "./db.js";
import { queryPage, type Page } from "./paging.js";
import type { IndexName } from "../keys.js";

export interface NewHistoryEvent {
  ownerId: string;
  contractId?: string;
  taskId?: string;
  eventType: HistoryEventType;
  eventSubtype?: string;
  phase?: Phase;
  eventData: Record<string, unknown>;
}

/**
 * One item per event, in the owner's timeline partition, indexed by contract
 * (gsi1) and by task (gsi2). Ids are UUIDv7, so every timeline is ordered by
 * its sort key and a time range is a key range.
 */
export async function recordHistoryEvent(db: Db, input: NewHistoryEvent): Promise<HistoryEvent> {
  const now = db.clock();
  const event = HistoryEvent.parse({ id: newId(now), ...input, createdAt: now.toISOString() });
  await db.table.put({
    pk: keys.ownerEvents(event.ownerId),
    sk: event.id,
    ...(event.contractId ? { gsi1pk: keys.contractEvents(event.contractId), gsi1sk: event.id } : {}),
    ...(event.taskId ? { gsi2pk: keys.taskEvents(event.taskId), gsi2sk: event.id } : {}),
    ...event,
  });
  return event;
}

export interface HistoryFilters {
  phase?: Phase;
  eventTypes?: HistoryEventType[];
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

function historyPage(db: Db, scope: string, index: IndexName | undefined, partition: string, f: HistoryFilters) {
  const [hash, range] = index ? [`${index}pk`, `${index}sk`] : ["pk", "sk"];
  const values: Record<string, unknown> = {
    ":p": partition,
    ":lo": lowestIdAt(f.from ? new Date(f.from) : new Date(0)),
    ":hi": highestIdAt(f.to ? new Date(f.to) : new Date(8.64e15)),
  };
  const filters: string[] = [];
  const names: Record<string, string> = { "#h": hash, "#r": range };
  if (f.eventTypes?.length) {
    filters.push(`eventType IN (${f.eventTypes.map((_, i) => `:t${i}`).join(", ")})`);
    f.eventTypes.forEach((t, i) => (values[`:t${i}`] = t));
  }
  if (f.phase) {
    filters.push("#phase = :phase");
    names["#phase"] = "phase";
    values[":phase"] = f.phase;
  }
  return queryPage(db, {
    scope,
    cursor: f.cursor,
    limit: f.limit,
    index,
    keyCondition: "#h = :p AND #r BETWEEN :lo AND :hi",
    names,
    values,
    filter: filters.length ? filters.join(" AND ") : undefined,
    parse: (item) => HistoryEvent.parse(item),
  });
}

/** Newest first. The caller has checked the contract is the owner's. */
export function contractHistory(db: Db, contractId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, `contractHistory:${contractId}`, "gsi1", keys.contractEvents(contractId), filters);
}

export function taskHistory(db: Db, taskId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, `taskHistory:${taskId}`, "gsi2", keys.taskEvents(taskId), filters);
}

export function timeline(db: Db, ownerId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, `timeline:${ownerId}`, undefined, keys.ownerEvents(ownerId), filters);
}
