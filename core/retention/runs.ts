import * as z from "zod";
import { keys } from "../keys.js";
import type { Db } from "../store/db.js";
import * as paging from "../store/paging.js";
import type { Page } from "../store/paging.js";

/** Each run writes a summary item `CLEANUP#RUNS`/`RUN#<uuidv7>`, kept this long (TTL). */
const RUN_TTL_DAYS = 90;

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

/** Records a run's summary (TTL 90 days). */
export async function recordCleanupRun(db: Db, summary: CleanupRun, startedAt: Date): Promise<void> {
  await db.table.put({
    ...keys.cleanupRun(summary.runId),
    ...summary,
    expiresAt: Math.floor(startedAt.getTime() / 1000) + RUN_TTL_DAYS * 86_400,
  });
}

/** The operator's view: recorded runs, newest first (kept 90 days). */
export function listCleanupRuns(db: Db, limit: number, cursor?: string): Promise<Page<CleanupRun>> {
  return paging.queryPage(db, {
    scope: "cleanupRuns",
    cursor,
    limit,
    keyCondition: "pk = :p AND begins_with(sk, :r)",
    values: { ":p": keys.cleanupRunsPartition, ":r": "RUN#" },
    parse: (item) => CleanupRun.parse(item),
  });
}
