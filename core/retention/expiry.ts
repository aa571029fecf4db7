import { EXPIRY_SHARDS, keys } from "../keys.js";
import * as snapshots from "../store/snapshots.js";
import * as owners from "../store/owners.js";
import type { Item } from "../store/table.js";
import { DAY_MS } from "./policy.js";
import { mapLimit, type CleanupJob } from "./job.js";
import type { CleanupState } from "./state.js";
import { addDays, entryDay, interleave, queryLane, toEntry, type Entry, type Lane } from "./expiryIndex.js";
import { SnapshotDeletes } from "./deletes.js";

/** Days queried at once while looking for the next day with entries (most days are empty). */
const DAY_WINDOW = 16;

/**
 * The walk over the expiry index from the cursor (`CLEANUP#STATE`
 * `oldestDay`: the oldest day that may still hold entries) up to today. The
 * walk stops when its time budget or entry limit is reached and records
 * where it stopped; the next run continues from there.
 */
export class ExpiryWalk {
  private readonly retention = new Map<string, Promise<number>>();
  private readonly deletes: SnapshotDeletes;
  private entriesSeen = 0;

  constructor(private readonly job: CleanupJob) {
    this.deletes = new SnapshotDeletes(job);
  }

  /**
   * Deletes what is due from the cursor's day to today; returns the new
   * cursor and whether work remains. Each expiry shard is read once over the
   * whole range of days (its entries are in day order). Pages of every lane are handled
   * together, their entries interleaved. The cursor moves up to the lowest day
   * that still holds an entry (one not yet due, failed, or not reached), never
   * past today, which can still receive entries.
   */
  async expire(state: CleanupState): Promise<{ cursor: string; hasMore: boolean }> {
    const job = this.job;
    let from = state.oldestDay ?? addDays(job.today, -job.o.lookbackDays);
    if (from > job.today) from = job.today;
    const lanes: Lane[] = Array.from({ length: EXPIRY_SHARDS }, (_, shard) => ({ partition: keys.expiryShard(shard), done: false }));
    let lowest = job.today;
    const leave = (day: string) => {
      if (day < lowest) lowest = day;
    };
    for (;;) {
      const active = lanes.filter((l) => !l.done);
      if (active.length === 0) break;
      if (job.outOfTime() || this.entriesSeen >= job.o.maxEntries) {
        job.stoppedBy = job.outOfTime() ? "time" : "limit";
        for (const lane of active) leave(lane.position ?? from);
        break;
      }
      const pages = await mapLimit(active, DAY_WINDOW, (lane) => queryLane(job.db, lane, from, job.today, job.o.batchSize));
      // One entry from each lane in turn: the deletes in flight spread over the shards.
      const merged = interleave(pages.map((page) => page.items));
      const room = Math.max(0, job.o.maxEntries - this.entriesSeen);
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
        job.stoppedBy = "limit";
        for (const lane of lanes) if (!lane.done) leave(lane.position ?? from);
        break;
      }
    }
    await this.deletes.flushBlobs(true);
    return { cursor: lowest, hasMore: job.stoppedBy !== "done" || lowest < job.today };
  }

  private retentionOf(ownerId: string): Promise<number> {
    let days = this.retention.get(ownerId);
    if (!days) {
      days = owners.retentionDaysOf(this.job.db, ownerId);
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
        this.job.fail(error);
        left.push(entry.day);
        continue;
      }
      const dueAt = entry.createdAtMs + retention * DAY_MS;
      if (this.job.now.getTime() >= dueAt) due.push(entry);
      else {
        const newDay = snapshots.dayOf(new Date(dueAt));
        if (newDay === entry.day) {
          this.job.counts.notYetDue++;
          left.push(entry.day);
        } else later.push({ entry, newDay });
      }
    }

    const jobs = [...due.map((e) => ({ e })), ...later];
    const results = await mapLimit(jobs, this.job.o.concurrency, async (job) => {
      try {
        if ("newDay" in job) return await this.deletes.reindex(job.entry, job.newDay);
        return await this.deletes.remove(job.e, job.e.checkpointNumber);
      } catch (error) {
        this.job.fail(error);
        return false;
      }
    });
    results.forEach((ok, i) => {
      if (!ok) {
        const job = jobs[i]!;
        left.push("newDay" in job ? job.entry.day : job.e.day);
      }
    });
    await this.deletes.flushBlobs(false);
    return left;
  }
}
