import * as z from "zod";
import { HistoryEvent, type HistoryEventType, type Phase } from "../models.js";
import { keys, shardLanes, TIMELINE_SHARDS, type IndexName } from "../keys.js";
import { HIGHEST_ID, highestIdAt, idBefore, lowestIdAt } from "../ids.js";
import { type Db } from "./db.js";
import type { Page } from "./paging.js";
import type { Item } from "./table.js";
import { MAIN_BY_TYPE, phaseFacet, storedEvent, typeFacet } from "./history.js";
import { EVENT_HOSTS, hostLane, HostStarts, type HostStart, type HostTask } from "./hostedEvents.js";

/**
 * Pages of history (history.ts says how events are stored, hostedEvents.ts how a task's items host some): an owner's
 * timeline, a contract's and a task's history, newest first, each page
 * merged from the partitions its filters name and, for a task, from the
 * items hosting its events.
 */

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
  /** The partitions of one facet: its shards, or just the one. */
  partitions: (facet?: string) => string[];
  /** A task's timeline: the task, whose partition hosts some of its events (EVENT_HOSTS). */
  hostedBy?: HostTask;
}

/** With both a phase and types, the type partitions are filtered by phase; a page then reads at most this many. */
const MAX_EVALUATED = 1000;
/** Rounds of reads a page may take to merge its lanes (each round reads from the lanes holding it back). */
const MAX_ROUNDS = 64;

/** One source of a page, read newest first a little at a time. */
export interface Lane {
  /** Events (as items) read so far, within the page's range. */
  items: Item[];
  /** The lowest id this lane has looked at, while it has more; below it the lane is unknown. */
  frontier?: string;
  /** Items read against the filter budget. */
  evaluated: number;
  read: (limit: number) => Promise<void>;
}

/** The page's range and filter, as each lane applies it. */
export interface Bounds {
  lo: string;
  hi: string;
  phaseFilter?: Phase;
  budget: number;
}

/** A partition of events (or of an index of them), whose sort key is the event id. */
function partitionLane(db: Db, timeline: Timeline, partition: string, b: Bounds): Lane {
  const [hash, range] = timeline.index ? [`${timeline.index}pk`, `${timeline.index}sk`] : ["pk", "sk"];
  let next: Item | undefined;
  const lane: Lane = {
    items: [],
    evaluated: 0,
    read: async (limit) => {
      const { items, lastKey, scanned } = await db.table.query({
        IndexName: timeline.index,
        KeyConditionExpression: "#h = :p AND #r BETWEEN :lo AND :hi",
        ExpressionAttributeNames: { "#h": hash, "#r": range, ...(b.phaseFilter ? { "#phase": "phase" } : {}) },
        ExpressionAttributeValues: { ":p": partition, ":lo": b.lo, ":hi": b.hi, ...(b.phaseFilter ? { ":phase": b.phaseFilter } : {}) },
        FilterExpression: b.phaseFilter ? "#phase = :phase" : undefined,
        ScanIndexForward: false,
        ExclusiveStartKey: next,
        Limit: b.phaseFilter ? Math.max(1, Math.min(200, b.budget - lane.evaluated)) : limit,
      });
      lane.items.push(...items.map(storedEvent));
      lane.evaluated += scanned;
      next = lastKey;
      lane.frontier = lastKey ? String(lastKey[range]) : undefined;
    },
  };
  return lane;
}

/** An event id, or a bound between ids (lowestIdAt, idBefore): 128 bits as a UUID is written. */
const EventId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

/** A history cursor: the last id returned, and for a task where each host lane goes on. */
const historyCursor = (timeline: Timeline) =>
  timeline.hostedBy ? z.union([EventId, z.strictObject({ id: EventId, hosts: HostStarts })]) : EventId;

/**
 * One page, newest first, merged from the partitions the filters name (each
 * facet's shards, and for a task the items hosting its events). Lanes are
 * read a little at a time: whatever is at or above the highest point where
 * some lane stopped is complete, so only the lanes stopped there are read
 * further, until a page is complete. The cursor is the last id returned:
 * older pages are key ranges below it.
 */
async function historyPage(db: Db, timeline: Timeline, f: HistoryFilters): Promise<Page<HistoryEvent>> {
  const cursor = db.cursors.decode(timeline.scope, f.cursor, historyCursor(timeline));
  const before = typeof cursor === "string" ? cursor : cursor?.id;
  const starts: Record<string, HostStart | undefined> = typeof cursor === "object" ? cursor.hosts : {};
  const lo = lowestIdAt(f.from ? new Date(f.from) : new Date(0));
  let hi = f.to ? highestIdAt(new Date(f.to)) : HIGHEST_ID;
  if (before && before <= hi) hi = idBefore(before);

  const types = f.eventTypes?.length ? [...new Set(f.eventTypes)] : undefined;
  const partitions = types
    ? types.flatMap((t) => timeline.partitions(typeFacet(t)))
    : f.phase
      ? timeline.partitions(phaseFacet(f.phase))
      : [...timeline.partitions(undefined), ...MAIN_BY_TYPE.flatMap((t) => timeline.partitions(typeFacet(t)))];
  // A phase alone is read from the phase's partition, which keeps a copy of hosted events in the task's index too.
  const hosts = timeline.hostedBy && (types || !f.phase) ? EVENT_HOSTS.filter((h) => !types || types.includes(h.type)) : [];
  const phaseFilter = types && f.phase ? f.phase : undefined;
  // One budget for the whole page, shared by its lanes.
  const bounds: Bounds = { lo, hi, phaseFilter, budget: Math.ceil(MAX_EVALUATED / (partitions.length + hosts.length)) };
  const spent = (lane: Lane) => phaseFilter !== undefined && lane.evaluated >= bounds.budget;

  const hostLanes = hosts.map((host) => ({ host, lane: hostLane(db, timeline.hostedBy!, host, bounds, starts[host.prefix]) }));
  const lanes: Lane[] = [...partitions.map((partition) => partitionLane(db, timeline, partition, bounds)), ...hostLanes.map((h) => h.lane)];
  const live = lo <= hi;
  if (live) await Promise.all(lanes.map((lane) => lane.read(Math.ceil((f.limit + 1) / lanes.length) + 1)));

  // Below the highest frontier some lane has not looked yet: only what is at or above it is complete.
  let frontier: string | undefined;
  let complete: Item[] = [];
  for (let round = 0; ; round++) {
    frontier = lanes.reduce<string | undefined>((max, l) => (l.frontier && (!max || l.frontier > max) ? l.frontier : max), undefined);
    complete = lanes.flatMap((l) => l.items).filter((item) => !frontier || String(item.id) >= frontier);
    if (!live || !frontier || complete.length > f.limit || round >= MAX_ROUNDS) break;
    const holding = lanes.filter((l) => l.frontier === frontier);
    // A lane out of its filter budget holds the page back: it comes back short, with a cursor.
    if (holding.some(spent)) break;
    await Promise.all(holding.map((lane) => lane.read(f.limit + 1 - complete.length)));
  }
  complete.sort((a, b) => (String(a.id) < String(b.id) ? 1 : -1));
  const page = complete.slice(0, f.limit);
  // More than a page: continue below the last one returned. Otherwise continue below the frontier
  // (everything at or above it was returned), or stop: every lane ran out.
  const cursorId = complete.length > f.limit ? String(page.at(-1)!.id) : frontier;
  return {
    items: page.map((item) => HistoryEvent.parse(item)),
    nextCursor: !cursorId
      ? null
      : db.cursors.encode(
          timeline.scope,
          hostLanes.length ? { id: cursorId, hosts: Object.fromEntries(hostLanes.map(({ host, lane }) => [host.prefix, lane.resume(cursorId)])) } : cursorId,
        ),
  };
}

const shardedPartitions = (partition: (facet: string | undefined, shard: number) => string) => (facet?: string) =>
  shardLanes(TIMELINE_SHARDS).map((shard) => partition(facet, shard));

/** Newest first. The caller has checked the contract is the owner's. */
export function contractHistory(db: Db, contractId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(
    db,
    { scope: `contractHistory:${contractId}`, index: "gsi1", partitions: shardedPartitions((f, s) => keys.contractEvents(contractId, f, s)) },
    filters,
  );
}

/** Newest first. The task as stored now (it says from where its items host events); the caller has checked it is the owner's. */
export function taskHistory(db: Db, task: HostTask, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(
    db,
    { scope: `taskHistory:${task.id}`, index: "gsi2", partitions: (f) => [keys.taskEvents(task.id, f)], hostedBy: task },
    filters,
  );
}

export function timeline(db: Db, ownerId: string, filters: HistoryFilters): Promise<Page<HistoryEvent>> {
  return historyPage(db, { scope: `timeline:${ownerId}`, partitions: shardedPartitions((f, s) => keys.ownerEvents(ownerId, f, s)) }, filters);
}
