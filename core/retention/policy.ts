/**
 * Snapshot retention policy, and the cleanup job's settings.
 *
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
 */

export const DAY_MS = 86_400_000;

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

export const DEFAULTS = {
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

/** The settings a run works with: the options given, defaults for the rest. */
export type CleanupSettings = Required<Omit<CleanupOptions, "trigger" | "scheduledTime" | "log" | "record">>;
