import type * as z from "zod";
import { HistoryEvent, type HistoryEventType, type Phase } from "../models.js";
import { keys, shardOf, TIMELINE_SHARDS } from "../keys.js";
import { newId, timeOfId } from "../ids.js";
import { type Db } from "./db.js";
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
 * partition's write rate); a page merges the shards in id order
 * (historyPages.ts).
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
 * beside the main one.
 */
export const MAIN_BY_TYPE: readonly HistoryEventType[] = ["chat", "checkpoint"];

/** Where an event is stored: the main timeline (undefined) unless its type is in MAIN_BY_TYPE, its type's, its phase's. */
const facetsOf = (event: HistoryEvent): Array<string | undefined> => [
  ...(MAIN_BY_TYPE.includes(event.eventType) ? [] : [undefined]),
  typeFacet(event.eventType),
  ...(event.phase ? [phaseFacet(event.phase)] : []),
];

/**
 * The stored items of an event: the event in its timelines (owner, contract,
 * task), one for each of its facets. What the keys say already is not
 * stored again: the id is the sort key, the owner is in the partition key,
 * and the time is the id's (storedEvent puts them back).
 */
export function historyEventItems(event: HistoryEvent, facets = facetsOf(event), hosted = false): Item[] {
  const shard = shardOf(event.id, TIMELINE_SHARDS);
  const { id: _id, ownerId: _owner, createdAt: _at, ...rest } = event;
  return facets.map((facet) => ({
    pk: keys.ownerEvents(event.ownerId, facet, shard),
    sk: event.id,
    ...(event.contractId ? { gsi1pk: keys.contractEvents(event.contractId, facet, shard), gsi1sk: event.id } : {}),
    // A hosted event is in its task's history through its host, not through a copy in the task's index.
    ...(event.taskId && !(hosted && facet === typeFacet(event.eventType)) ? { gsi2pk: keys.taskEvents(event.taskId, facet), gsi2sk: event.id } : {}),
    ...rest,
  }));
}

/** An event as a timeline item stores it, whole again: its id from the sort key, its owner from the partition key, its time from the id. */
export function storedEvent(item: Item): Item {
  const id = String(item.sk);
  const pk = String(item.pk);
  return { ...item, id, ownerId: pk.slice("OWNER#".length, pk.lastIndexOf("#EVENTS")), createdAt: timeOfId(id).toISOString() };
}

/** A task as its hosted events need it. */
export interface HostTask {
  id: string;
  ownerId: string;
  contractId?: string;
  chatHostedFrom?: number;
  checkpointsHostedFrom?: number;
}

/**
 * Events a task records with an item of its own partition, one per item:
 * a batch of messages (`chat`/`messages`, hosted by the batch's id index
 * item) and a new checkpoint (`checkpoint`/`created`, hosted by the
 * checkpoint). The host carries the event (`historyEvent`), and the task's
 * history reads it from there: the event's item in its type's timeline has
 * no copy in the task's index (gsi2), which would cost as much again to
 * write and to keep. Hosts of a type are numbered, and each host's event is
 * newer than the one before (its time is the host's, which ascends), so a
 * task's hosted events are in id order under their prefix.
 */
export interface EventHost {
  type: HistoryEventType;
  prefix: string;
  /** The sort key of host number n. */
  key: (taskId: string, n: number) => string;
  /** The task's first host of this kind that hosts its event (the task item keeps it; below it are older hosts without). */
  from: (task: HostTask) => number | undefined;
  /** Fields of the event's data the host holds already (name in `eventData` → the host's attribute): kept once, on the host. */
  shared?: Readonly<Record<string, string>>;
}

/** A batch's `chat` event, on its id index item (written by the batch's commit). */
export const CHAT_HOST: EventHost = {
  type: "chat",
  prefix: keys.logIdsPrefix,
  key: (taskId, n) => keys.logIds(taskId, n).sk,
  from: (task) => task.chatHostedFrom,
};

/** A checkpoint's `checkpoint`/`created` event, on the checkpoint, which holds most of its data. */
export const CHECKPOINT_HOST: EventHost = {
  type: "checkpoint",
  prefix: keys.checkpointPrefix,
  key: (taskId, n) => keys.checkpoint(taskId, n).sk,
  from: (task) => task.checkpointsHostedFrom,
  shared: { checkpointId: "id", checkpointNumber: "checkpointNumber", commitSha: "commitSha", message: "message", messageCount: "messageCount" },
};

export const EVENT_HOSTS: readonly EventHost[] = [CHAT_HOST, CHECKPOINT_HOST];

/** What a host item keeps of its event (the rest is the task's, the host's own, or the id's: its time). */
const HostedEvent = HistoryEvent.pick({ id: true, eventSubtype: true, phase: true, eventData: true });
type HostedEvent = z.infer<typeof HostedEvent>;

/**
 * A hosted event: the attribute its host carries (less what the host holds
 * already, with the same value), and its items in the owner's (and
 * contract's) timelines.
 */
export function hostedEvent(event: HistoryEvent, host: EventHost, hostItem: Item): { historyEvent: HostedEvent; items: Item[] } {
  const kept: HostedEvent = { ...HostedEvent.parse(event), eventData: { ...event.eventData } };
  for (const [name, attribute] of Object.entries(host.shared ?? {})) {
    if (kept.eventData[name] !== undefined && kept.eventData[name] === hostItem[attribute]) delete kept.eventData[name];
  }
  return { historyEvent: kept, items: historyEventItems(event, facetsOf(event), true) };
}

/** The event a host item carries, whole again: the task's, the host's and the id's parts filled back in. */
export function eventOfHost(task: HostTask, host: EventHost, item: Item): HistoryEvent | undefined {
  if (item.historyEvent === undefined) return undefined;
  const stored = item.historyEvent as HostedEvent;
  const eventData = { ...stored.eventData };
  for (const [name, attribute] of Object.entries(host.shared ?? {})) {
    if (eventData[name] === undefined && item[attribute] !== undefined) eventData[name] = item[attribute];
  }
  return HistoryEvent.parse({
    ...stored,
    eventData,
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    eventType: host.type,
    createdAt: timeOfId(stored.id).toISOString(),
  });
}

export async function recordHistoryEvent(db: Db, input: NewHistoryEvent): Promise<HistoryEvent> {
  const event = newHistoryEvent(input, db.clock());
  await db.table.batchWrite(historyEventItems(event).map((put) => ({ put })));
  return event;
}
