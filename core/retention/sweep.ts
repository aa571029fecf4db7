import { blobKeys, type BlobInfo } from "../blobs.js";
import * as snapshots from "../store/snapshots.js";
import * as logChunks from "../store/logChunks.js";
import * as operations from "../store/operations.js";
import type { CleanupJob } from "./job.js";
import type { CleanupState } from "./state.js";

/**
 * The orphan sweep: walks `snapshots/`, `logs/` and `transfers/` a
 * bounded number of keys per run, remembering the last key listed, and
 * deletes the old objects nothing names any more. Whether an object is still
 * named is asked of the store module that owns its kind.
 */
const SWEEP_PREFIXES = [blobKeys.snapshotPrefix, blobKeys.logChunkPrefix, blobKeys.transferPrefix] as const;

/** Lists up to sweepMaxKeys objects from where the last run stopped; returns where to go on. */
export async function sweepOrphans(job: CleanupJob, state: CleanupState): Promise<{ prefix: string; after?: string }> {
  let prefix = SWEEP_PREFIXES.find((p) => p === state.sweepPrefix) ?? SWEEP_PREFIXES[0];
  let after = prefix === state.sweepPrefix ? state.sweepAfter : undefined;
  let listed = 0;
  while (listed < job.o.sweepMaxKeys && !job.outOfTime()) {
    const { objects, next } = await job.db.blobs.list(prefix, after, Math.min(1000, job.o.sweepMaxKeys - listed));
    listed += objects.length;
    try {
      await sweepPage(job, prefix, objects);
    } catch (error) {
      job.fail(error);
    }
    if (next) {
      after = next;
      continue;
    }
    const i = SWEEP_PREFIXES.indexOf(prefix);
    after = undefined;
    if (i === SWEEP_PREFIXES.length - 1) {
      prefix = SWEEP_PREFIXES[0];
      job.counts.orphans.passComplete = true;
      break;
    }
    prefix = SWEEP_PREFIXES[i + 1]!;
  }
  job.counts.orphans.listed = listed;
  return { prefix, after };
}

async function sweepPage(job: CleanupJob, prefix: string, objects: BlobInfo[]): Promise<void> {
  const now = job.now.getTime();
  const maxAge = prefix === blobKeys.transferPrefix ? job.o.transferMaxAgeMs : job.o.orphanGraceMs;
  // Only old objects are judged; the young ones may belong to a write in progress.
  const old = objects.filter((o) => now - o.lastModified.getTime() >= maxAge).map((o) => o.key);
  if (!old.length) return;
  let orphans: string[];
  if (prefix === blobKeys.snapshotPrefix) orphans = await snapshots.unreferencedSnapshotStates(job.db, old);
  else if (prefix === blobKeys.logChunkPrefix) orphans = await logChunks.unreferencedLogChunks(job.db, old);
  else orphans = await operations.unneededTransfers(job.db, old);
  if (!orphans.length) return;
  await job.db.blobs.deleteMany(orphans);
  const kind = prefix === blobKeys.snapshotPrefix ? "snapshots" : prefix === blobKeys.logChunkPrefix ? "messages" : "transfers";
  job.counts.orphans[kind] += orphans.length;
}
