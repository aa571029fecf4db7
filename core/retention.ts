import { z } from "zod";
import { log } from "./log.js";
import { recordMetric } from "./metrics.js";
import { EXPIRY_SHARDS, keys } from "./keys.js";
import { newId } from "./ids.js";
import { blobKeys, type BlobInfo } from "./blobs.js";
import type { Db } from "./store/db.js";
import { backoff, cancellationReasons, isConditionFailure, type Item, type Key } from "./store/table.js";
import { dayOf, expiryAttributes } from "./store/snapshots.js";
import { retentionDaysOf } from "./store/owners.js";
import { queryPage, type Page } from "./store/paging.js";

/**
 * Snapshot retention: the cleanup job.
 *
 * Policy
 * - `auto`, `manual` and `checkpoint` snapshots all expire `retentionDays`
 *   after they were taken (the owner's setting, else MAKIMA_RETENTION_DAYS).
 *   A checkpoint snapshot goes and its checkpoint stays, with
 *   `conversationSnapshotId` removed (like a foreign key's ON DELETE SET NULL).
 * - The conversation log (MSG#/MSGID# items, `messages/` objects) is never
 *   deleted by retention: a snapshot only names a prefix of it.
 * - A pinned snapshot has no expiry index entry, so it is never found.
 * - The expiry day is fixed when a snapshot is taken. Before deleting, the
 *   job re-reads the owner's retention: if the owner LENGTHENED it and the
 *   snapshot is not yet due under it, the snapshot moves to its new day in the
 *   index (and its TTL backstop moves with it). A SHORTENED retention only
 *   applies to snapshots taken after the change: older ones are found on their
 *   original day (then deleted, being due under the shorter setting).
 * - Due means `now >= createdAt + retention`, to the millisecond, so
 *   today's index day can hold entries that are not yet due; they wait.
 *
 * Mechanism
 * - Expired snapshots are found through gsi3: EXPIRY_SHARDS shards
 *   (`EXPIRES#S<n>`), each sorted by expiry day (`gsi3sk` = `<day>#<task>#<id>`),
 *   read from the cursor (`CLEANUP#STATE` `oldestDay`: the oldest day that may
 *   still hold entries) up to today in one range a shard; entries written
 *   before the shards are in one partition a day (`EXPIRES#yyyy-mm-dd`), read
 *   day by day. The pages of all lanes are handled together, their entries
 *   interleaved, so the deletes in flight spread over the shards. Never a Scan.
 * - Per snapshot, the item is deleted first, with a condition that it is still
 *   where the index showed it (so a concurrent pin, reindex or second run makes the
 *   delete fail and nothing is counted twice); a checkpoint's reference is
 *   cleared in the same transaction, so a crash never leaves a checkpoint
 *   naming a missing snapshot. The S3 objects of deleted items go afterwards,
 *   in DeleteObjects batches: a crash in between leaves an orphan object, never
 *   an item naming a missing object, and the orphan sweep removes it.
 * - The job stops when its time budget or entry limit is reached and records
 *   where it stopped; the next run continues from there.
 * - The orphan sweep walks `snapshots/`, `messages/` and `transfers/` a bounded
 *   number of keys per run, remembering the last key listed.
 * - Each run writes a summary item `CLEANUP#RUNS`/`RUN#<uuidv7>` (TTL 90 days) and
 *   logs it as one JSON line.
 */

const DAY_MS = 86_400_000;
const RUN_TTL_DAYS = 90;
/** Days queried at once while looking for the next day with entries (most days are empty). */
const DAY_WINDOW = 16;
const SWEEP_PREFIXES = [blobKeys.snapshotPrefix, blobKeys.messagePrefix, blobKeys.transferPrefix] as const;
/** The job's bookkeeping item: expiry cursor and orphan-sweep position. */
export const cleanupStateKey: Key = keys.cleanupState;

export interface CleanupOptions {
  /** Wall-clock time this run may take (the Lambda passes its remaining time minus a safety margin). */
  timeBudgetMs?: number;
  /** Index entries read per Query. */
  batchSize?: number;
  /** Stop after looking at this many index entries (bounds a run in tests and benches). */
  maxEntries?: number;
  /** Item writes in flight at once. */
  concurrency?: number;
  /** An unreferenced `snapshots/` or `messages/` object younger than this may belong to a write in progress. */
  orphanGraceMs?: number;
  /** `transfers/` objects are temporary: removed once older than this. */
  transferMaxAgeMs?: number;
  /** Objects listed by the orphan sweep per run. */
  sweepMaxKeys?: number;
  /** Run the orphan sweep (default true). */
  sweep?: boolean;
  /** Where the first run ever (no cursor yet) starts looking, in days before today. */
  lookbackDays?: number;
  /** What started the run, recorded in the summary ("schedule", "local", …). */
  trigger?: string;
  scheduledTime?: string;
  /** Receives the summary as one JSON line; default: the service's log (core/log.ts). */
  log?: (line: string) => void;
  /** Write the run item (default true). */
  record?: boolean;
}

const DEFAULTS = {
  timeBudgetMs: 270_000,
  batchSize: 100,
  maxEntries: Number.POSITIVE_INFINITY,
  concurrency: 16,
  orphanGraceMs: DAY_MS,
  transferMaxAgeMs: DAY_MS,
  sweepMaxKeys: 10_000,
  sweep: true,
  lookbackDays: 400,
} satisfies Partial<CleanupOptions>;

export const CleanupRun = z
  .object({
    runId: z.string(),
    trigger: z.string(),
    scheduledTime: z.string().optional(),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number(),
    /** Snapshots this run deleted (items; a concurrent run's deletes are not counted here). */
    deleted: z.number(),
    deletedByType: z.object({ auto: z.number(), manual: z.number(), checkpoint: z.number() }),
    /** Checkpoint references cleared (ON DELETE SET NULL). */
    cleared: z.number(),
    /** Snapshots moved to a later expiry day because their owner lengthened retention. */
    reindexed: z.number(),
    /** Entries on today's index day not yet due (retention counts to the millisecond). */
    notYetDue: z.number(),
    /** Entries already deleted, pinned or moved by someone else when this run got to them. */
    alreadyGone: z.number(),
    /** S3 objects of deleted snapshots (supervisor state). */
    stateObjectsDeleted: z.number(),
    orphans: z.object({
      snapshots: z.number(),
      messages: z.number(),
      transfers: z.number(),
      listed: z.number(),
      /** The sweep reached the end of the last prefix and starts over next run. */
      passComplete: z.boolean(),
    }),
    errors: z.number(),
    firstError: z.string().optional(),
    /** Expired entries may remain: the run stopped on its time budget or entry limit. */
    hasMore: z.boolean(),
    stoppedBy: z.enum(["done", "time", "limit"]),
    /** The oldest expiry day the next run will look at. */
    expiryCursor: z.string(),
    capacity: z.object({ read: z.number(), write: z.number() }),
    s3Requests: z.number(),
  })
  .meta({ id: "CleanupRun" });
export type CleanupRun = z.infer<typeof CleanupRun>;
export type CleanupSummary = CleanupRun;

interface CleanupState {
  oldestDay?: string;
  sweepPrefix?: string;
  sweepAfter?: string;
}

/** An expiry index entry, as much of the snapshot item as the job needs. */
interface Entry {
  day: string;
  /** Its index keys when it was read: the delete and the move happen only if it is still there. */
  index: { pk: string; sk: string };
  taskId: string;
  snapshotId: string;
  ownerId: string;
  createdAtMs: number;
  snapshotType: "auto" | "manual" | "checkpoint";
  checkpointId?: string;
  stateBlobKey?: string;
}

/** Every expiry index entry of one day: its range in each shard, and the unsharded partition of older entries. */
export async function expiryEntriesOn(db: Db, day: string): Promise<Item[]> {
  const read = async (partition: string, ranged: boolean) => {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await db.table.query({
        IndexName: "gsi3",
        KeyConditionExpression: ranged ? "gsi3pk = :p AND begins_with(gsi3sk, :d)" : "gsi3pk = :p",
        ExpressionAttributeValues: { ":p": partition, ...(ranged ? { ":d": `${day}#` } : {}) },
        ExclusiveStartKey: startKey,
      });
      items.push(...page.items);
      startKey = page.lastKey;
    } while (startKey);
    return items;
  };
  const shards = Array.from({ length: EXPIRY_SHARDS }, (_, n) => read(keys.expiryShard(n), true));
  return (await Promise.all([...shards, read(keys.expiresOn(day), false)])).flat();
}

/** One partition of the expiry index being read: a shard (over the range of days), or an unsharded day. */
interface Lane {
  partition: string;
  ranged: boolean;
  next?: Item;
  done: boolean;
  /** The day of the last entry read. */
  position?: string;
}

/** The lists' items taken one from each list in turn. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

const addDays = (day: string, n: number) => dayOf(new Date(Date.parse(day) + n * DAY_MS));

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

export async function getCleanupState(db: Db): Promise<CleanupState> {
  // Kept under CLEANUP/STATE before it had a partition of its own: read from there until the first write here.
  const item = (await db.table.get(cleanupStateKey)) ?? (await db.table.get(keys.legacyCleanupState));
  return {
    oldestDay: item?.oldestDay as string | undefined,
    sweepPrefix: item?.sweepPrefix as string | undefined,
    sweepAfter: item?.sweepAfter as string | undefined,
  };
}


/** The operator's view: recorded runs, newest first (kept 90 days). */
export function listCleanupRuns(db: Db, limit: number, cursor?: string): Promise<Page<CleanupRun>> {
  return queryPage(db, {
    scope: "cleanupRuns",
    cursor,
    limit,
    keyCondition: "pk = :p AND begins_with(sk, :r)",
    values: { ":p": keys.cleanupRunsPartition, ":r": "RUN#" },
    parse: (item) => CleanupRun.parse(item),
  });
}

/** The expiry day of an index entry: from its shard's sort key, or from the unsharded partition's name. */
function entryDay(item: Item): string {
  const pk = String(item.gsi3pk);
  return pk.startsWith(keys.expiryShardPrefix) ? String(item.gsi3sk).slice(0, 10) : pk.slice("EXPIRES#".length);
}

function toEntry(item: Item): Entry | undefined {
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
    stateBlobKey: item.stateBlobKey as string | undefined,
  };
}

/** One run of the job. */
class CleanupRunner {
  private readonly o: Required<Omit<CleanupOptions, "trigger" | "scheduledTime" | "log" | "record">>;
  private readonly deadline: number;
  private readonly now: Date;
  private readonly today: string;
  private readonly retention = new Map<string, Promise<number>>();
  private pendingBlobs: string[] = [];
  private entriesSeen = 0;
  private stoppedBy: CleanupRun["stoppedBy"] = "done";

  readonly counts = {
    deleted: 0,
    deletedByType: { auto: 0, manual: 0, checkpoint: 0 },
    cleared: 0,
    reindexed: 0,
    notYetDue: 0,
    alreadyGone: 0,
    stateObjectsDeleted: 0,
    orphans: { snapshots: 0, messages: 0, transfers: 0, listed: 0, passComplete: false },
    errors: 0,
    firstError: undefined as string | undefined,
  };

  constructor(
    private readonly db: Db,
    options: CleanupOptions,
  ) {
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.o = { ...DEFAULTS, ...defined } as CleanupRunner["o"];
    // Real time, not the injected clock: the budget is the Lambda's, and tests freeze or jump the clock.
    this.deadline = performance.now() + this.o.timeBudgetMs;
    this.now = db.clock();
    this.today = dayOf(this.now);
  }

  private outOfTime(): boolean {
    return performance.now() >= this.deadline;
  }

  private fail(error: unknown) {
    this.counts.errors++;
    this.counts.firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  get stopReason() {
    return this.stoppedBy;
  }

  // ---------------------------------------------------------------- expiry

  /**
   * Deletes what is due from the cursor's day to today; returns the new
   * cursor and whether work remains. Each expiry shard is read once over the
   * whole range of days (its entries are in day order); the unsharded
   * partitions of older entries, one a day. Pages of every lane are handled
   * together, their entries interleaved. The cursor moves up to the lowest day
   * that still holds an entry (one not yet due, failed, or not reached), never
   * past today, which can still receive entries.
   */
  async expire(state: CleanupState): Promise<{ cursor: string; hasMore: boolean }> {
    let from = state.oldestDay ?? addDays(this.today, -this.o.lookbackDays);
    if (from > this.today) from = this.today;
    const lanes: Lane[] = Array.from({ length: EXPIRY_SHARDS }, (_, shard) => ({ partition: keys.expiryShard(shard), ranged: true, done: false }));
    for (let d = from; d <= this.today; d = addDays(d, 1)) lanes.push({ partition: keys.expiresOn(d), ranged: false, done: false });
    let lowest = this.today;
    const leave = (day: string) => {
      if (day < lowest) lowest = day;
    };
    for (;;) {
      const active = lanes.filter((l) => !l.done);
      if (active.length === 0) break;
      if (this.outOfTime() || this.entriesSeen >= this.o.maxEntries) {
        this.stoppedBy = this.outOfTime() ? "time" : "limit";
        for (const lane of active) leave(lane.position ?? (lane.ranged ? from : lane.partition.slice("EXPIRES#".length)));
        break;
      }
      const pages = await mapLimit(active, DAY_WINDOW, (lane) => this.queryLane(lane, from));
      // One entry from each lane in turn: the deletes in flight spread over the shards.
      const merged = interleave(pages.map((page) => page.items));
      const room = Math.max(0, this.o.maxEntries - this.entriesSeen);
      const items = merged.slice(0, room);
      for (const item of merged.slice(room)) leave(entryDay(item));
      if (items.length) for (const day of await this.handle(items)) leave(day);
      for (const [i, lane] of active.entries()) {
        const page = pages[i]!;
        lane.next = page.lastKey;
        lane.done = !page.lastKey;
        if (page.items.length) lane.position = entryDay(page.items.at(-1)!);
      }
      if (items.length < merged.length) {
        this.stoppedBy = "limit";
        for (const lane of lanes) if (!lane.done) leave(lane.position ?? from);
        break;
      }
    }
    await this.flushBlobs(true);
    return { cursor: lowest, hasMore: this.stoppedBy !== "done" || lowest < this.today };
  }

  private queryLane(lane: Lane, from: string) {
    return this.db.table.query({
      IndexName: "gsi3",
      KeyConditionExpression: lane.ranged ? "gsi3pk = :p AND gsi3sk BETWEEN :from AND :to" : "gsi3pk = :p",
      ExpressionAttributeValues: { ":p": lane.partition, ...(lane.ranged ? { ":from": from, ":to": `${this.today}#\uffff` } : {}) },
      ExclusiveStartKey: lane.next,
      Limit: this.o.batchSize,
    });
  }

  private retentionOf(ownerId: string): Promise<number> {
    let days = this.retention.get(ownerId);
    if (!days) {
      days = retentionDaysOf(this.db, ownerId);
      this.retention.set(ownerId, days);
    }
    return days;
  }

  /** Handles a batch of index entries (of any days); returns the days of the entries it left in the index. */
  private async handle(items: Item[]): Promise<string[]> {
    this.entriesSeen += items.length;
    const left: string[] = [];
    const due: Entry[] = [];
    const later: Array<{ entry: Entry; newDay: string }> = [];
    for (const item of items) {
      const entry = toEntry(item);
      if (!entry) continue;
      let retention: number;
      try {
        retention = await this.retentionOf(entry.ownerId);
      } catch (error) {
        this.retention.delete(entry.ownerId);
        this.fail(error);
        left.push(entry.day);
        continue;
      }
      const dueAt = entry.createdAtMs + retention * DAY_MS;
      if (this.now.getTime() >= dueAt) due.push(entry);
      else {
        const newDay = dayOf(new Date(dueAt));
        if (newDay === entry.day) {
          this.counts.notYetDue++;
          left.push(entry.day);
        } else later.push({ entry, newDay });
      }
    }

    const numbers = await this.checkpointNumbers(due);
    const jobs = [...due.map((e) => ({ e })), ...later];
    const results = await mapLimit(jobs, this.o.concurrency, async (job) => {
      try {
        if ("newDay" in job) return await this.reindex(job.entry, job.newDay);
        return await this.remove(job.e, job.e.checkpointId ? numbers.get(job.e.checkpointId) : undefined);
      } catch (error) {
        this.fail(error);
        return false;
      }
    });
    results.forEach((ok, i) => {
      if (!ok) {
        const job = jobs[i]!;
        left.push("newDay" in job ? job.entry.day : job.e.day);
      }
    });
    await this.flushBlobs(false);
    return left;
  }

  /** Checkpoint id → number for the due checkpoint snapshots (the id → number pointer items). */
  private async checkpointNumbers(due: Entry[]): Promise<Map<string, number>> {
    const wanted = due.filter((e) => e.checkpointId).map((e) => keys.checkpointById(e.taskId, e.checkpointId!));
    const found = wanted.length ? await this.db.table.batchGet(wanted) : [];
    const numbers = new Map<string, number>();
    for (const item of found) {
      const id = (item.sk as string).slice("CHECKPOINTID#".length);
      if (typeof item.checkpointNumber === "number") numbers.set(id, item.checkpointNumber);
    }
    return numbers;
  }

  /**
   * Deletes a due snapshot's item, only if it is still on that index day, and
   * clears its checkpoint's reference in the same transaction. True when the
   * entry is gone from the day (deleted here or by someone else).
   */
  private async remove(e: Entry, checkpointNumber: number | undefined): Promise<boolean> {
    const snapshotKey = keys.snapshot(e.taskId, e.snapshotId);
    const stillIndexed = {
      ConditionExpression: "gsi3pk = :g AND gsi3sk = :gs",
      ExpressionAttributeValues: { ":g": e.index.pk, ":gs": e.index.sk },
    };
    let withReference = checkpointNumber !== undefined;
    for (let attempt = 0; withReference; attempt++) {
      try {
        await this.db.table.transact([
          { Delete: { Key: snapshotKey, ...stillIndexed } },
          {
            Update: {
              Key: keys.checkpoint(e.taskId, checkpointNumber!),
              UpdateExpression: "REMOVE conversationSnapshotId",
              ConditionExpression: "conversationSnapshotId = :s",
              ExpressionAttributeValues: { ":s": e.snapshotId },
            },
          },
        ]);
        this.deleted(e);
        this.counts.cleared++;
        return true;
      } catch (error) {
        const reasons = cancellationReasons(error);
        if (!reasons) throw error;
        if (reasons[0] === "ConditionalCheckFailed") {
          this.counts.alreadyGone++;
          return true;
        }
        // Another run's transaction on the same items: retry; its outcome decides ours.
        if (reasons.includes("TransactionConflict") && attempt < 8) {
          await backoff(attempt, 20, 1000);
          continue;
        }
        // The checkpoint no longer names this snapshot: nothing to clear.
        if (reasons[1] === "ConditionalCheckFailed") withReference = false;
        else throw error;
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.db.table.delete(snapshotKey, stillIndexed);
        this.deleted(e);
        return true;
      } catch (error) {
        if (isConditionFailure(error)) {
          this.counts.alreadyGone++;
          return true;
        }
        // A concurrent run's transaction holds the item: retry, the condition then decides.
        if ((error as Error).name === "TransactionConflictException" && attempt < 8) await backoff(attempt, 20, 1000);
        else throw error;
      }
    }
  }

  private deleted(e: Entry) {
    this.counts.deleted++;
    this.counts.deletedByType[e.snapshotType]++;
    // The item is gone, so its object may go: nothing can name it any more.
    if (e.stateBlobKey) this.pendingBlobs.push(e.stateBlobKey);
  }

  /** Moves a snapshot whose owner lengthened retention to its new expiry day (and TTL). */
  private async reindex(e: Entry, newDay: string): Promise<boolean> {
    const attrs = expiryAttributes({ id: e.snapshotId, taskId: e.taskId }, newDay);
    try {
      await this.db.table.update(keys.snapshot(e.taskId, e.snapshotId), {
        UpdateExpression: "SET expiresOn = :e, gsi3pk = :g, gsi3sk = :s, expiresAt = :x",
        ConditionExpression: "gsi3pk = :old AND gsi3sk = :oldSort",
        ExpressionAttributeValues: {
          ":e": newDay,
          ":g": attrs.gsi3pk,
          ":s": attrs.gsi3sk,
          ":x": attrs.expiresAt,
          ":old": e.index.pk,
          ":oldSort": e.index.sk,
        },
      });
      this.counts.reindexed++;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      this.counts.alreadyGone++;
    }
    return true;
  }

  /** S3 deletes go in DeleteObjects calls of up to 1,000 keys; `all` sends a partial batch too. */
  private async flushBlobs(all: boolean): Promise<void> {
    while (this.pendingBlobs.length >= 1000 || (all && this.pendingBlobs.length > 0)) {
      const batch = this.pendingBlobs.splice(0, 1000);
      try {
        await this.db.blobs.deleteMany(batch);
        this.counts.stateObjectsDeleted += batch.length;
      } catch (error) {
        // The items are gone already: these objects are orphans now, and the sweep removes them.
        this.fail(error);
      }
    }
  }

  // ---------------------------------------------------------------- orphan sweep

  /** Lists up to sweepMaxKeys objects from where the last run stopped; returns where to go on. */
  async sweep(state: CleanupState): Promise<{ prefix: string; after?: string }> {
    let prefix = SWEEP_PREFIXES.find((p) => p === state.sweepPrefix) ?? SWEEP_PREFIXES[0];
    let after = prefix === state.sweepPrefix ? state.sweepAfter : undefined;
    let listed = 0;
    while (listed < this.o.sweepMaxKeys && !this.outOfTime()) {
      const { objects, next } = await this.db.blobs.list(prefix, after, Math.min(1000, this.o.sweepMaxKeys - listed));
      listed += objects.length;
      try {
        await this.sweepPage(prefix, objects);
      } catch (error) {
        this.fail(error);
      }
      if (next) {
        after = next;
        continue;
      }
      const i = SWEEP_PREFIXES.indexOf(prefix);
      after = undefined;
      if (i === SWEEP_PREFIXES.length - 1) {
        prefix = SWEEP_PREFIXES[0];
        this.counts.orphans.passComplete = true;
        break;
      }
      prefix = SWEEP_PREFIXES[i + 1]!;
    }
    this.counts.orphans.listed = listed;
    return { prefix, after };
  }

  private async sweepPage(prefix: string, objects: BlobInfo[]): Promise<void> {
    const now = this.now.getTime();
    const maxAge = prefix === blobKeys.transferPrefix ? this.o.transferMaxAgeMs : this.o.orphanGraceMs;
    // Only old objects are judged; the young ones may belong to a write in progress.
    const old = objects.filter((o) => now - o.lastModified.getTime() >= maxAge).map((o) => o.key);
    if (!old.length) return;
    let orphans: string[];
    if (prefix === blobKeys.snapshotPrefix) orphans = await this.unreferencedSnapshotObjects(old);
    else if (prefix === blobKeys.messagePrefix) orphans = await this.unreferencedMessageObjects(old);
    else orphans = await this.expiredTransfers(old);
    if (!orphans.length) return;
    await this.db.blobs.deleteMany(orphans);
    const kind = prefix === blobKeys.snapshotPrefix ? "snapshots" : prefix === blobKeys.messagePrefix ? "messages" : "transfers";
    this.counts.orphans[kind] += orphans.length;
  }

  /** `snapshots/<owner>/<taskId>/<snapshotId>.json.gz` is referenced when that snapshot item names it. */
  private async unreferencedSnapshotObjects(objectKeys: string[]): Promise<string[]> {
    const parsed = objectKeys.flatMap((key) => {
      const parts = parseObjectKey(key, blobKeys.snapshotPrefix);
      return parts ? [{ key, item: keys.snapshot(parts.taskId, parts.name) }] : [];
    });
    const found = await this.db.table.batchGet(parsed.map((p) => p.item));
    const named = new Set(found.map((item) => item.stateBlobKey));
    return parsed.filter((p) => !named.has(p.key)).map((p) => p.key);
  }

  /**
   * `messages/<owner>/<taskId>/<encodeURIComponent(messageId)>.json.gz` is
   * referenced when the task has that message id. The log is never to lose a
   * message, so without the id item (a crash between the two writes of an
   * append) the task's log is searched for an entry naming the object.
   */
  private async unreferencedMessageObjects(objectKeys: string[]): Promise<string[]> {
    const parsed = objectKeys.flatMap((key) => {
      const parts = parseObjectKey(key, blobKeys.messagePrefix);
      if (!parts) return [];
      let messageId: string;
      try {
        messageId = decodeURIComponent(parts.name);
      } catch {
        return [];
      }
      return [{ key, taskId: parts.taskId, item: keys.messageById(parts.taskId, messageId) }];
    });
    const found = new Set((await this.db.table.batchGet(parsed.map((p) => p.item))).map((i) => `${i.pk}\n${i.sk}`));
    const orphans: string[] = [];
    for (const p of parsed) {
      if (found.has(`${p.item.pk}\n${p.item.sk}`)) continue;
      if (!(await this.logNames(p.taskId, p.key))) orphans.push(p.key);
    }
    return orphans;
  }

  private async logNames(taskId: string, blobKey: string): Promise<boolean> {
    let startKey: Item | undefined;
    do {
      const { items, lastKey } = await this.db.table.query({
        KeyConditionExpression: "pk = :p AND begins_with(sk, :m)",
        FilterExpression: "blobKey = :k",
        ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":m": keys.messagePrefix, ":k": blobKey },
        ProjectionExpression: "pk",
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      });
      if (items.length) return true;
      startKey = lastKey;
    } while (startKey);
    return false;
  }

  /**
   * Transfers are temporary; the exception is an operation's large result
   * (`result-<operationId>`), kept while its operation item (TTL 7 days)
   * still names it, so a late poll never finds a missing object.
   */
  private async expiredTransfers(objectKeys: string[]): Promise<string[]> {
    const results = objectKeys.flatMap((key) => {
      const name = key.slice(key.lastIndexOf("/") + 1);
      const match = /^result-(.+)\.json\.gz$/.exec(name);
      return match ? [{ key, item: keys.operation(match[1]!) }] : [];
    });
    const found = results.length ? await this.db.table.batchGet(results.map((r) => r.item)) : [];
    const named = new Set(found.map((item) => item.resultBlobKey));
    return objectKeys.filter((key) => !named.has(key));
  }
}

/** `<prefix><owner…>/<taskId>/<name>.json.gz`; the owner id may itself hold slashes, so parse from the right. */
function parseObjectKey(key: string, prefix: string): { taskId: string; name: string } | undefined {
  const parts = key.slice(prefix.length).split("/");
  if (parts.length < 3) return undefined;
  const file = parts.at(-1)!;
  const taskId = parts.at(-2)!;
  if (!file.endsWith(".json.gz") || !taskId) return undefined;
  const name = file.slice(0, -".json.gz".length);
  return name ? { taskId, name } : undefined;
}

/**
 * One run of the cleanup job: expire due snapshots, then sweep orphans, then
 * record and log the summary. Safe to run concurrently and after a crash.
 */
export async function runCleanup(db: Db, options: CleanupOptions = {}): Promise<CleanupSummary> {
  const started = performance.now();
  const startedAt = db.clock();
  const read0 = db.table.meter.read;
  const write0 = db.table.meter.write;
  const s3Before = s3Requests(db);
  const runner = new CleanupRunner(db, options);

  const state = await getCleanupState(db);
  const { cursor, hasMore } = await runner.expire(state);
  if (!state.oldestDay || cursor > state.oldestDay) {
    // Compare-and-set: a concurrent run may have moved it since we read it.
    try {
      await db.table.update(cleanupStateKey, {
        UpdateExpression: "SET oldestDay = :d",
        // (Absent here while the state read was the legacy item's.)
        ConditionExpression: state.oldestDay ? "attribute_not_exists(oldestDay) OR oldestDay = :seen" : "attribute_not_exists(oldestDay)",
        ExpressionAttributeValues: { ":d": cursor, ...(state.oldestDay ? { ":seen": state.oldestDay } : {}) },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  // The sweep gets what time is left once expiry has caught up (expired snapshots come first).
  if ((options.sweep ?? DEFAULTS.sweep) && runner.stopReason === "done") {
    const position = await runner.sweep(state);
    await db.table.update(cleanupStateKey, {
      UpdateExpression: position.after ? "SET sweepPrefix = :p, sweepAfter = :a" : "SET sweepPrefix = :p REMOVE sweepAfter",
      ExpressionAttributeValues: { ":p": position.prefix, ...(position.after ? { ":a": position.after } : {}) },
    });
  }

  const summary = CleanupRun.parse({
    runId: newId(startedAt),
    trigger: options.trigger ?? "manual",
    scheduledTime: options.scheduledTime,
    startedAt: startedAt.toISOString(),
    finishedAt: db.clock().toISOString(),
    durationMs: Math.round(performance.now() - started),
    ...runner.counts,
    hasMore,
    stoppedBy: runner.stopReason,
    expiryCursor: cursor,
    capacity: { read: round(db.table.meter.read - read0), write: round(db.table.meter.write - write0) },
    s3Requests: s3Requests(db) - s3Before,
  });
  if (options.log) options.log(JSON.stringify({ level: "info", msg: "cleanup run", ...summary }));
  else log.info("cleanup run", summary);
  recordMetric("CleanupDeleted", summary.deleted, {});
  recordMetric("CleanupOrphansDeleted", summary.orphans.snapshots + summary.orphans.messages + summary.orphans.transfers, {});
  recordMetric("CleanupBacklog", summary.hasMore ? 1 : 0, {});
  recordMetric("CleanupErrors", summary.errors, {});
  recordMetric("CleanupDuration", summary.durationMs, {});
  if (options.record ?? true) {
    await db.table.put({
      ...keys.cleanupRun(summary.runId),
      ...summary,
      expiresAt: Math.floor(startedAt.getTime() / 1000) + RUN_TTL_DAYS * 86_400,
    });
  }
  return summary;
}

const round = (n: number) => Math.round(n * 10) / 10;
const s3Requests = (db: Db) => {
  const s = db.blobs.stats;
  return s.puts + s.gets + s.deletes + s.lists;
};
