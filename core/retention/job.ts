import type { Db } from "../store/db.js";
import * as snapshots from "../store/snapshots.js";
import { DEFAULTS, type CleanupOptions, type CleanupSettings } from "./policy.js";
import type { CleanupRun } from "./runs.js";

/** One run of the job: its settings, time budget, clock reading and counts, shared by the expiry walk and the sweep. */
export class CleanupJob {
  readonly o: CleanupSettings;
  private readonly deadline: number;
  readonly now: Date;
  readonly today: string;
  /** Why the expiry walk stopped: done, out of time, or at its entry limit. */
  stoppedBy: CleanupRun["stoppedBy"] = "done";

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
    readonly db: Db,
    options: CleanupOptions,
  ) {
    const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.o = { ...DEFAULTS, ...defined } as CleanupSettings;
    // Real time, not the injected clock: the budget is the Lambda's, and tests freeze or jump the clock.
    this.deadline = performance.now() + this.o.timeBudgetMs;
    this.now = db.clock();
    this.today = snapshots.dayOf(this.now);
  }

  outOfTime(): boolean {
    return performance.now() >= this.deadline;
  }

  fail(error: unknown) {
    this.counts.errors++;
    this.counts.firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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
