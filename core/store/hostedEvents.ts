import * as z from "zod";
import { HistoryEvent, type HistoryEventType } from "../models.js";
import { keys } from "../keys.js";
import { HIGHEST_ID, timeOfId } from "../ids.js";
import { type Db } from "./db.js";
import type { Item } from "./table.js";
import { facetsOf, historyEventItems } from "./history.js";
import type { Bounds, Lane } from "./historyPages.js";

/**
 * Hosted events: the history events a task records with an item of its own
 * partition ride on that item instead of a copy in the task's index.
 *
 * Invariants (test/store.test.ts "a task's history reads batch and
 * checkpoint events from their hosts", test/boundedReads.test.ts "a page
 * below a cursor starts each hosted lane"):
 * - a host's event is written in the host's own transaction (the batch's
 *   commit, the checkpoint's), so the two exist together or not at all;
 * - hosts of a kind are numbered, and each host's event is newer than the
 *   one before (its time is the host's, which ascends with the number), so
 *   a lane read newest first by key is read newest first by event id;
 * - a host written without an event (an append or checkpoint that records
 *   none) is passed over;
 * - a hosted event's timeline items (owner, contract, phase) are written as
 *   any event's, except its type's item, which has no copy in the task
 *   index (the host is that copy); the fields a host shares with its event
 *   are kept once, on the host, and must keep their meaning.
 */

/** A task as its hosted events need it. */
export interface HostTask {
  id: string;
  ownerId: string;
  contractId?: string;
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
  /** Fields of the event's data the host holds already (name in `eventData` → the host's attribute): kept once, on the host. */
  shared?: Readonly<Record<string, string>>;
}

/** A batch's `chat` event, on its id index item (written by the batch's commit). */
export const CHAT_HOST: EventHost = {
  type: "chat",
  prefix: keys.logIdsPrefix,
  key: (taskId, n) => keys.logIds(taskId, n).sk,
};

/** A checkpoint's `checkpoint`/`created` event, on the checkpoint, which holds most of its data. */
export const CHECKPOINT_HOST: EventHost = {
  type: "checkpoint",
  prefix: keys.checkpointPrefix,
  key: (taskId, n) => keys.checkpoint(taskId, n).sk,
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

/**
 * Where a host lane of the next page starts, kept in the cursor: at a host
 * (the newest below the cursor), after one (the last read, when none below
 * the cursor was read yet), or nowhere (the lane ran out).
 */
export const HostStart = z.union([z.object({ sk: z.string(), after: z.boolean() }), z.literal("done")]);
export type HostStart = z.infer<typeof HostStart>;

/** A host lane's query: hosts at or below `upper`, newest first. */
function queryHosts(db: Db, task: HostTask, host: EventHost, upper: string, limit: number, startKey?: Item) {
  return db.table.query({
    KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
    ExpressionAttributeValues: { ":p": keys.taskPartition(task.id), ":lo": host.key(task.id, 1), ":hi": upper },
    ScanIndexForward: false,
    Limit: limit,
    ExclusiveStartKey: startKey,
  });
}

const eventIdOf = (item: Item) => (item.historyEvent as { id?: string } | undefined)?.id;

/** Past every host of a kind. */
const pastHosts = (host: EventHost) => `${host.prefix}~`;

/**
 * The newest host whose event is at or below a page's top `hi`, or above it:
 * every host at or below that one fits, so the search ends on or after it
 * (a host without an event is taken to fit: reading from it only skips what
 * is above the top). A binary search over the numbers, one small read a step.
 */
async function topHost(db: Db, task: HostTask, host: EventHost, hi: string): Promise<string | undefined> {
  const probe = async (upper: string) => (await queryHosts(db, task, host, upper, 1)).items[0];
  const numberOf = (item: Item) => Number(String(item.sk).slice(host.prefix.length));
  const fits = (item: Item) => (eventIdOf(item) ?? "") <= hi;
  const newest = await probe(pastHosts(host));
  if (!newest) return undefined;
  if (fits(newest)) return String(newest.sk);
  let low = 1;
  let high = numberOf(newest) - 1;
  let found: string | undefined;
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const item = await probe(host.key(task.id, middle));
    if (!item) low = middle + 1;
    else if (fits(item)) {
      found = String(item.sk);
      low = middle + 1;
    } else high = numberOf(item) - 1;
  }
  return found;
}

/**
 * The events a task's items of one kind host, newest first. A lane
 * starts where the cursor says; without one, under a top bound (`to`) it
 * finds its start by a binary search over the numbers, one small read a
 * step.
 */
export function hostLane(db: Db, task: HostTask, host: EventHost, b: Bounds, start?: HostStart): Lane & { resume: (cursorId: string) => HostStart } {
  let upper: string | undefined;
  let next: Item | undefined;
  let started = false;
  /** The hosts read, newest first: event id and sort key. */
  const seen: Array<{ id: string; sk: string }> = [];
  const begin = async () => {
    if (start === "done") return;
    if (start) {
      upper = start.after ? pastHosts(host) : start.sk;
      next = start.after ? { pk: keys.taskPartition(task.id), sk: start.sk } : undefined;
      return;
    }
    upper = b.hi === HIGHEST_ID ? pastHosts(host) : await topHost(db, task, host, b.hi);
  };
  const lane = {
    items: [] as Item[],
    evaluated: 0,
    frontier: undefined as string | undefined,
    read: async (limit: number) => {
      if (!started) {
        started = true;
        await begin();
      }
      if (upper === undefined) return;
      const { items, lastKey } = await queryHosts(db, task, host, upper, limit, next);
      next = lastKey;
      let lowest: string | undefined;
      for (const item of items) {
        const id = eventIdOf(item);
        // Written without its event (a writer that did not host it): the event is in the task index.
        if (id === undefined) continue;
        seen.push({ id, sk: String(item.sk) });
        if (id < b.lo) {
          next = undefined;
          break;
        }
        lowest = id;
        if (id > b.hi) continue;
        lane.evaluated++;
        const event = eventOfHost(task, host, item)!;
        if (b.phaseFilter && event.phase !== b.phaseFilter) continue;
        lane.items.push(event);
      }
      if (!next) upper = undefined;
      // A read of hosts without events only moves the lane on: it has looked no lower than before.
      lane.frontier = next ? (lowest ?? lane.frontier ?? b.hi) : undefined;
    },
    resume: (cursorId: string): HostStart => {
      const below = seen.find((e) => e.id < cursorId);
      if (below) return { sk: below.sk, after: false };
      return next ? { sk: String(next.sk), after: true } : "done";
    },
  };
  return lane;
}


/** A start of each host lane the page read, on a host of its own kind. */
export const HostStarts = z.strictObject(
  Object.fromEntries(
    EVENT_HOSTS.map((h) => [h.prefix, z.union([z.strictObject({ sk: z.string().regex(new RegExp(`^${h.prefix}\\d+$`)), after: z.boolean() }), z.literal("done")]).optional()]),
  ),
);

