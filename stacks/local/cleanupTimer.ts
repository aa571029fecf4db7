import type { Db } from "../../core/store/db.js";
import { runCleanup, type CleanupOptions, type CleanupSummary } from "../../core/retention/index.js";

/**
 * The local stack's stand-in for the hourly EventBridge schedule: runs the
 * cleanup job every `intervalMs` against the local table and bucket.
 */
export interface CleanupTimer {
  /** Runs one pass now (waits for a pass already under way instead of starting a second). */
  runNow(): Promise<CleanupSummary | undefined>;
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

export function startCleanupTimer(
  db: Db,
  intervalMs = 3_600_000,
  options: CleanupOptions & { runAtStart?: boolean } = {},
): CleanupTimer {
  const { runAtStart = true, ...cleanup } = options;
  let running: Promise<CleanupSummary | undefined> | undefined;
  let stopped = false;

  const pass = (): Promise<CleanupSummary | undefined> => {
    // One pass at a time: a slow pass is not overlapped by the next tick.
    running ??= runCleanup(db, { trigger: "local-timer", ...cleanup })
      .catch((error: unknown) => {
        console.error(JSON.stringify({ level: "error", msg: "cleanup run failed", error: String(error) }));
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  // unref: the timer alone must not keep the local stack's process alive.
  const interval = setInterval(() => void pass(), intervalMs);
  interval.unref();
  // A first pass soon after start catches up on whatever expired while the stack was down.
  const first = runAtStart ? setTimeout(() => void (stopped || pass()), 1000) : undefined;
  first?.unref();

  return {
    runNow: pass,
    async stop() {
      stopped = true;
      clearInterval(interval);
      if (first) clearTimeout(first);
      await running;
    },
  };
}
