import { EXPIRY_SHARDS, keys } from "../keys.js";
import type { Db } from "../store/db.js";
import * as snapshots from "../store/snapshots.js";
import type { Item } from "../store/table.js";
import { DAY_MS } from "./policy.js";

/**
 * Reading the expiry index (gsi3): EXPIRY_SHARDS shards (`EXPIRES#S<n>`),
 * each sorted by expiry day (`gsi3sk` = `<day>#<task>#<id>`). Never a Scan.
 */

/** An expiry index entry, as much of the snapshot item as the job needs. */
export interface Entry {
  day: string;
  /** Its index keys when it was read: the delete and the move happen only if it is still there. */
  index: { pk: string; sk: string };
  taskId: string;
  snapshotId: string;
  ownerId: string;
  createdAtMs: number;
  snapshotType: "auto" | "manual" | "checkpoint";
  checkpointId?: string;
  /** A checkpoint snapshot's checkpoint number (snapshots from before it was kept have none: their id pointer has it). */
  checkpointNumber?: number;
  stateBlobKey?: string;
}

/** One shard of the expiry index being read, over the range of days. */
export interface Lane {
  partition: string;
  next?: Item;
  done: boolean;
  /** The day of the last entry read. */
  position?: string;
}

/** Every expiry index entry of one day: its range in each shard. */
export async function expiryEntriesOn(db: Db, day: string): Promise<Item[]> {
  const read = async (partition: string) => {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await db.table.query({
        IndexName: "gsi3",
        KeyConditionExpression: "gsi3pk = :p AND begins_with(gsi3sk, :d)",
        ExpressionAttributeValues: { ":p": partition, ":d": `${day}#` },
        ExclusiveStartKey: startKey,
      });
      items.push(...page.items);
      startKey = page.lastKey;
    } while (startKey);
    return items;
  };
  return (await Promise.all(Array.from({ length: EXPIRY_SHARDS }, (_, n) => read(keys.expiryShard(n))))).flat();
}

/** One page of a lane: a shard's entries from `from` to `today`. */
export function queryLane(db: Db, lane: Lane, from: string, today: string, batchSize: number) {
  return db.table.query({
    IndexName: "gsi3",
    KeyConditionExpression: "gsi3pk = :p AND gsi3sk BETWEEN :from AND :to",
    ExpressionAttributeValues: { ":p": lane.partition, ":from": from, ":to": `${today}#\uffff` },
    ExclusiveStartKey: lane.next,
    Limit: batchSize,
  });
}

/** The lists' items taken one from each list in turn. */
export function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

export const addDays = (day: string, n: number) => snapshots.dayOf(new Date(Date.parse(day) + n * DAY_MS));

/** The expiry day of an index entry: the start of its shard's sort key. */
export function entryDay(item: Item): string {
  return String(item.gsi3sk).slice(0, 10);
}

export function toEntry(item: Item): Entry | undefined {
  const sk = item.sk as string | undefined;
  const taskId = item.taskId as string | undefined;
  const createdAtMs = Date.parse(item.createdAt as string);
  // The expiry index holds only snapshots; anything else is not ours to delete.
  if (
    !sk?.startsWith(keys.snapshotPrefix) ||
    !taskId ||
    typeof item.ownerId !== "string" ||
    typeof item.gsi3pk !== "string" ||
    typeof item.gsi3sk !== "string" ||
    Number.isNaN(createdAtMs)
  ) {
    return undefined;
  }
  const type = item.snapshotType;
  return {
    day: entryDay(item),
    index: { pk: item.gsi3pk, sk: item.gsi3sk },
    taskId,
    snapshotId: sk.slice(keys.snapshotPrefix.length),
    ownerId: item.ownerId,
    createdAtMs,
    snapshotType: type === "manual" || type === "checkpoint" ? type : "auto",
    checkpointId: item.checkpointId as string | undefined,
    checkpointNumber: typeof item.checkpointNumber === "number" ? item.checkpointNumber : undefined,
    stateBlobKey: item.stateBlobKey as string | undefined,
  };
}
