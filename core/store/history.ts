import { HistoryEvent, type HistoryEventType, type Phase } from "../models.js";
import { keys, type IndexName } from "../keys.js";
import { highestIdAt, idBefore, lowestIdAt, newId } from "../ids.js";
import { type Db } from "./db.js";
import type { Page } from "./paging.js";
import type { Item } from "./table.js";

/**
 * History events. Each event is one item in its owner's timeline partition,
 * indexed by contract (gsi1) and task (gsi2), plus one copy in the partition
 * of its type and one in that of its phase. Every filter is then a key
 * condition: a page reads about `limit` items whatever the history holds.
 * Ids are UUIDv7, so each partition is in time order and a time range is a
 * key range.
 */

export interface NewHistoryEvent {
  ownerId: string;
  contractId?: string;
  taskId?: string;
  eventType: HistoryEventType;
  eventSubtype?: string;
  phase?: Phase;
  eventData: Record<string, unknown>;
}

export function newHistoryEvent(input: NewHistoryEvent, at: Date): HistoryEvent {
  return HistoryEvent.parse({ id: newId(at), ...input, createdAt: at.toISOString() });
}

const typeFacet = (type: string) => `T#${type}`;
const phaseFacet = (phase: string) => `P#${phase}`;

/** The stored items of an event: the event in its timelines, and its copies by type and by phase. */
export function historyEventItems(event: HistoryEvent): Item[] {
  const facets = [undefined, typeFacet(event.eventType), ...(event.phase ? [phaseFacet(event.phase)] : [])];
  return facets.map((facet) => ({
    pk: keys.ownerEvents(event.ownerId, facet),
    sk: event.id,
    ...(event.contractId ? { gsi1pk: keys.contractEvents(event.contractId, facet), gsi1sk: event.id } : {}),
    ...(event.taskId ? { gsi2pk: keys.taskEvents(event.taskId, facet), gsi2sk: event.id } : {}),
    ...event,
  }));
}

export async function recordHistoryEvent(db: Db, input: NewHistoryEvent): Promise<HistoryEvent> {
  const event = newHistoryEvent(input, db.clock());
  await db.table.batchWrite(historyEventItems(event).map((put) => ({ put })));
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

/** Which timeline: an owner's (table), a contract's (gsi1) or a task's (gsi2). */
interface Timeline {
  scope: string;
  index?: IndexName;
  partition: (facet?: string) => string;
}

/** With both a phase and types, the type partitions are filtered by phase; a page then reads at most this many. */
const MAX_EVALUATED = 1000;

interface Lane {
  partition: string;
  items: Item[];
  /** The lowest id this lane has looked at when it stopped early; undefined when it ran out. */
  frontier?: string;
}

/**
 * One page, newest first, merged from the partitions the filters name. The
 * cursor is the last id returned: older pages are key ranges below it.
 */
async function historyPage(db: Db, timeline: Timeline, f: HistoryFilters): Promise<Page<HistoryEvent>> {
  const before = db.cursors.decode<string>(timeline.scope, f.cursor);
  const lo = lowestIdAt(f.from ? new Date(f.from) : new Date(0));
  let hi = highestIdAt(f.to ? new Date(f.to) : new Date(8.64e15));
  if (before && before <= hi) hi = idBefore(before);

  const types = f.eventTypes?.length ? [...new Set(f.eventTypes)] : undefined;
  const partitions = types
    ? types.map((t) => timeline.partition(typeFacet(t)))
    : [timeline.partition(f.phase ? phaseFacet(f.phase) : undefined)];
  const phaseFilter = types && f.phase ? f.phase : undefined;
  const [hash, range] = timeline.index ? [`${timeline.index}pk`, `${timeline.index}sk`] : ["pk", "sk"];
  // One budget for the whole page, shared by its lanes.
  const laneBudget = Math.ceil(MAX_EVALUATED / partitions.length);

  const lanes: Lane[] = await Promise.all(
    partitions.map(async (partition) => {
      const lane: Lane = { partition, items: [] };
      if (lo > hi) return lane;
      let startKey: Item | undefined;
      let evaluated = 0;
      for (;;) {
        const { items, lastKey, scanned } = await db.table.query({
          IndexName: timeline.index,
          KeyConditionExpression: "#h = :p AND #r BETWEEN :lo AND :hi",
          ExpressionAttributeNames: { "#h": hash, "#r": range, ...(phaseFilter ? { "#phase": "phase" } : {}) },
          ExpressionAttributeValues: { ":p": partition, ":lo": lo, ":hi": hi, ...(phaseFilter ? { ":phase": phaseFilter } : {}) },
          FilterExpression: phaseFilter ? "#phase = :phase" : undefined,
          ScanIndexForward: false,
          ExclusiveStartKey: startKey,
          Limit: phaseFilter ? Math.min(200, laneBudget) : f.limit + 1 - lane.items.length,
        });
        lane.items.push(...items);
        evaluated += scanned;
        if (!lastKey) return lane;
        if (lane.items.length > f.limit || evaluated >= laneBudget) {
          lane.frontier = String(lastKey[range]);
          return lane;
        }
        startKey = lastKey;
      }
    }),
  );

  // Below the highest frontier some lane has not looked yet: only what is at or above it is complete.
  const frontier = lanes.reduce<string | undefined>((max, l) => (l.frontier && (!max || l.frontier > max) ? l.frontier : max), undefined);
  const complete = lanes
    .flatMap((l) => l.items)
    .filter((item) => !frontier || String(item.id) >= frontier)
    .sort((a, b) => (String(a.id) < String(b.id) ? 1 : -1));
  const page = complete.slice(0, f.limit);
  // More than a page: continue below the last one returned. Otherwise continue below the frontier
  // (everything at or above it was returned), or stop: every lane ran out.
  const cursorId = complete.length > f.limit ? String(page.at(-1)!.id) : frontier;
  return {
    items: page.map((item) => HistoryEvent.parse(item)),
    nextCursor: cursorId ? db.cursors.encode(timeline.scope, cursorId) : null,
  };
}

/** Newest first. The caller has checked the contract is the owner's. */
export function contractHistory(db: Db, contractId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `contractHistory:${contractId}`, index: "gsi1", partition: (f) => keys.contractEvents(contractId, f) }, filters);
}

export function taskHistory(db: Db, taskId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `taskHistory:${taskId}`, index: "gsi2", partition: (f) => keys.taskEvents(taskId, f) }, filters);
}

export function timeline(db: Db, ownerId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `timeline:${ownerId}`, partition: (f) => keys.ownerEvents(ownerId, f) }, filters);
}
