/**
 * Snapshot retention: the cleanup job.
 *
 * - policy.ts: what expires when, and the job's settings.
 * - expiryIndex.ts: reading the sharded expiry index (never a Scan).
 * - expiry.ts: the walk from the cursor's day to today, and why it stops.
 * - deletes.ts: the conditional deletes, checkpoint references cleared in the same transaction, reindexing.
 * - sweep.ts: the orphan sweep over `snapshots/`, `messages/`, `transfers/`.
 * - state.ts: the expiry cursor and sweep position; runs.ts: the recorded run summaries.
 * - run.ts: one run of the job.
 */
export { runCleanup } from "./run.js";
export { type CleanupOptions } from "./policy.js";
export { CleanupRun, type CleanupSummary, listCleanupRuns } from "./runs.js";
export { cleanupStateKey } from "./state.js";
export { expiryEntriesOn } from "./expiryIndex.js";
