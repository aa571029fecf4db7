import { HistoryEvent, type HistoryEventType, type Phase } from "../models.js";
import { keys, shardLanes, shardOf, TIMELINE_SHARDS, type IndexName } from "../keys.js";
import { highestIdAt, idBefore, lowestIdAt, newId } from "../ids.js";
import { type Db } from "./db.js";
import type { Page } from "./paging.js";
import type { Item } from "./table.js";

/**
 * History events. Each event is one item in its owner's timeline partition,
 * indexed by contract (gsi1) and task (gsi2), plus one copy in the partition
 * of its type and one in that of its phase; an event of a type recorded
 * often is stored in its type's partition only (MAIN_BY_TYPE). Every filter is then a key
 * condition: a page reads about `limit` items whatever the history holds.
 * Ids are UUIDv7, so each partition is in time order and a time range is a
 * key range. The owner's and the contract's partitions are split in
 * TIMELINE_SHARDS shards by event id (a busy owner's events would overrun one
 * partition's write rate); a page merges the shards in id order.
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

export const typeFacet = (type: string) => `T#${type}`;
export const phaseFacet = (phase: string) => `P#${phase}`;

/**
 * The types a task records most (a batch of messages, a commit): an event of
 * one is stored in its type's partition only, which an unfiltered page reads
 * beside the main one. Older events of these types are in both; a page
 * shows each once.
 */
const MAIN_BY_TYPE: readonly HistoryEventType[] = ["chat", "checkpoint"];

/** Where an event is stored: the main timeline (undefined) unless its type is in MAIN_BY_TYPE, its type's, its phase's. */
const facetsOf = (event: HistoryEvent): Array<string | undefined> => [
  ...(MAIN_BY_TYPE.includes(event.eventType) ? [] : [undefined]),
  typeFacet(event.eventType),
  ...(event.phase ? [phaseFacet(event.phase)] : []),
];

/** The stored items of an event: the event in its timelines (owner, contract, task), one for each of its facets. */
export function historyEventItems(event: HistoryEvent, facets = facetsOf(event)): Item[] {
  const shard = shardOf(event.id, TIMELINE_SHARDS);
  return facets.map((facet) => ({
    pk: keys.ownerEvents(event.ownerId, facet, shard),
    sk: event.id,
    ...(event.contractId ? { gsi1pk: keys.contractEvents(event.contractId, facet, shard), gsi1sk: event.id } : {}),
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
  /** The partitions of one facet: its shards (and the unsharded one of older events), or just the one. */
  partitions: (facet?: string) => string[];
}

/** With both a phase and types, the type partitions are filtered by phase; a page then reads at most this many. */
const MAX_EVALUATED = 1000;
/** Rounds of reads a page may take to merge its lanes (each round reads from the lanes holding it back). */
const MAX_ROUNDS = 64;

interface Lane {
  partition: string;
  items: Item[];
  /** Where the next read starts; undefined once the lane ran out. */
  next?: Item;
  /** The lowest id this lane has looked at, while it has more; below it the lane is unknown. */
  frontier?: string;
  evaluated: number;
}

/**
 * One page, newest first, merged from the partitions the filters name (each
 * facet's shards). Lanes are read a little at a time: whatever is at or above
 * the highest point where some lane stopped is complete, so only the lanes
 * stopped there are read further, until a page is complete. The cursor is
 * the last id returned: older pages are key ranges below it.
 */
async function historyPage(db: Db, timeline: Timeline, f: HistoryFilters): Promise<Page<HistoryEvent>> {
  const before = db.cursors.decode<string>(timeline.scope, f.cursor);
  const lo = lowestIdAt(f.from ? new Date(f.from) : new Date(0));
  let hi = highestIdAt(f.to ? new Date(f.to) : new Date(8.64e15));
  if (before && before <= hi) hi = idBefore(before);

  const types = f.eventTypes?.length ? [...new Set(f.eventTypes)] : undefined;
  const partitions = types
    ? types.flatMap((t) => timeline.partitions(typeFacet(t)))
    : f.phase
      ? timeline.partitions(phaseFacet(f.phase))
      : [...timeline.partitions(undefined), ...MAIN_BY_TYPE.flatMap((t) => timeline.partitions(typeFacet(t)))];
  const phaseFilter = types && f.phase ? f.phase : undefined;
  const [hash, range] = timeline.index ? [`${timeline.index}pk`, `${timeline.index}sk`] : ["pk", "sk"];
  // One budget for the whole page, shared by its lanes.
  const laneBudget = Math.ceil(MAX_EVALUATED / partitions.length);
  const spent = (lane: Lane) => phaseFilter !== undefined && lane.evaluated >= laneBudget;

  const read = async (lane: Lane, limit: number): Promise<void> => {
    const { items, lastKey, scanned } = await db.table.query({
      IndexName: timeline.index,
      KeyConditionExpression: "#h = :p AND #r BETWEEN :lo AND :hi",
      ExpressionAttributeNames: { "#h": hash, "#r": range, ...(phaseFilter ? { "#phase": "phase" } : {}) },
      ExpressionAttributeValues: { ":p": lane.partition, ":lo": lo, ":hi": hi, ...(phaseFilter ? { ":phase": phaseFilter } : {}) },
      FilterExpression: phaseFilter ? "#phase = :phase" : undefined,
      ScanIndexForward: false,
      ExclusiveStartKey: lane.next,
      Limit: phaseFilter ? Math.max(1, Math.min(200, laneBudget - lane.evaluated)) : limit,
    });
    lane.items.push(...items);
    lane.evaluated += scanned;
    lane.next = lastKey;
    lane.frontier = lastKey ? String(lastKey[range]) : undefined;
  };

  const lanes: Lane[] = partitions.map((partition) => ({ partition, items: [], evaluated: 0 }));
  const live = lo <= hi;
  if (live) await Promise.all(lanes.map((lane) => read(lane, Math.ceil((f.limit + 1) / lanes.length) + 1)));

  // Below the highest frontier some lane has not looked yet: only what is at or above it is complete.
  let frontier: string | undefined;
  let complete: Item[] = [];
  for (let round = 0; ; round++) {
    frontier = lanes.reduce<string | undefined>((max, l) => (l.frontier && (!max || l.frontier > max) ? l.frontier : max), undefined);
    // An older event of a MAIN_BY_TYPE type is in two lanes: it counts once.
    complete = [...new Map(lanes.flatMap((l) => l.items).filter((item) => !frontier || String(item.id) >= frontier).map((item) => [String(item.id), item])).values()];
    if (!live || !frontier || complete.length > f.limit || round >= MAX_ROUNDS) break;
    const holding = lanes.filter((l) => l.frontier === frontier);
    // A lane out of its filter budget holds the page back: it comes back short, with a cursor.
    if (holding.some(spent)) break;
    await Promise.all(holding.map((lane) => read(lane, f.limit + 1 - complete.length)));
  }
  complete.sort((a, b) => (String(a.id) < String(b.id) ? 1 : -1));
  const page = complete.slice(0, f.limit);
  // More than a page: continue below the last one returned. Otherwise continue below the frontier
  // (everything at or above it was returned), or stop: every lane ran out.
  const cursorId = complete.length > f.limit ? String(page.at(-1)!.id) : frontier;
  return {
    items: page.map((item) => HistoryEvent.parse(item)),
    nextCursor: cursorId ? db.cursors.encode(timeline.scope, cursorId) : null,
  };
}

const shardedPartitions = (partition: (facet: string | undefined, shard: number | undefined) => string) => (facet?: string) =>
  shardLanes(TIMELINE_SHARDS).map((shard) => partition(facet, shard));

/** Newest first. The caller has checked the contract is the owner's. */
export function contractHistory(db: Db, contractId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(
    db,
    { scope: `contractHistory:${contractId}`, index: "gsi1", partitions: shardedPartitions((f, s) => keys.contractEvents(contractId, f, s)) },
    filters,
  );
}

export function taskHistory(db: Db, taskId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `taskHistory:${taskId}`, index: "gsi2", partitions: (f) => [keys.taskEvents(taskId, f)] }, filters);
}

export function timeline(db: Db, ownerId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `timeline:${ownerId}`, partitions: shardedPartitions((f, s) => keys.ownerEvents(ownerId, f, s)) }, filters);
}
