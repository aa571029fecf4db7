import { log } from "../log.js";
import { recordMetric } from "../metrics.js";
import { newId } from "../ids.js";
import type { Db } from "../store/db.js";
import { DEFAULTS, type CleanupOptions } from "./policy.js";
import { CleanupRun, recordCleanupRun, type CleanupSummary } from "./runs.js";
import { advanceExpiryCursor, getCleanupState, saveSweepPosition } from "./state.js";
import { CleanupJob } from "./job.js";
import { ExpiryWalk } from "./expiry.js";
import { sweepOrphans } from "./sweep.js";

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
  const job = new CleanupJob(db, options);

  const state = await getCleanupState(db);
  const { cursor, hasMore } = await new ExpiryWalk(job).expire(state);
  await advanceExpiryCursor(db, state, cursor);

  // The sweep gets what time is left once expiry has caught up (expired snapshots come first).
  if ((options.sweep ?? DEFAULTS.sweep) && job.stoppedBy === "done") {
    const position = await sweepOrphans(job, state);
    await saveSweepPosition(db, position);
  }

  const summary = CleanupRun.parse({
    runId: newId(startedAt),
    trigger: options.trigger ?? "manual",
    scheduledTime: options.scheduledTime,
    startedAt: startedAt.toISOString(),
    finishedAt: db.clock().toISOString(),
    durationMs: Math.round(performance.now() - started),
    ...job.counts,
    hasMore,
    stoppedBy: job.stoppedBy,
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
  if (options.record ?? true) await recordCleanupRun(db, summary, startedAt);
  return summary;
}

const round = (n: number) => Math.round(n * 10) / 10;
const s3Requests = (db: Db) => {
  const s = db.blobs.stats;
  return s.puts + s.gets + s.deletes + s.lists;
};
