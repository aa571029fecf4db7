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
export const facetsOf = (event: HistoryEvent): Array<string | undefined> => [
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

export async function recordHistoryEvent(db: Db, input: NewHistoryEvent): Promise<HistoryEvent> {
  const event = newHistoryEvent(input, db.clock());
  await db.table.batchWrite(historyEventItems(event).map((put) => ({ put })));
  return event;
}
