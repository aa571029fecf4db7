import { loadConfig } from "../core/config.js";
import { withInvocation } from "./lambda.js";
import * as db from "../core/store/db.js";
import type { Db } from "../core/store/db.js";
import { runCleanup, type CleanupOptions, type CleanupSummary } from "../core/retention/index.js";

/**
 * The scheduled cleanup Lambda (stacks/cleanup.ts): snapshot retention and
 * the orphan sweep, in core/retention/. Accepts an EventBridge "Scheduled
 * Event" (source `aws.events`), the EventBridge Scheduler input that
 * stacks/cleanup.ts sends (source `makima.cleanup`, `time` filled in by
 * Scheduler), or `{}` (a manual invoke).
 */

/** The fields of either event shape that the job records. */
export interface CleanupEvent {
  source?: string;
  "detail-type"?: string;
  time?: string;
  detail?: unknown;
}

/** The part of the Lambda context the job uses. */
export interface CleanupContext {
  getRemainingTimeInMillis(): number;
}

/** Left for the last batch, the S3 flush and the run record after the final time check. */
const MAX_SAFETY_MARGIN_MS = 30_000;

export function timeBudgetOf(context: CleanupContext | undefined): number | undefined {
  if (!context) return undefined;
  const remaining = context.getRemainingTimeInMillis();
  return Math.max(0, remaining - Math.min(MAX_SAFETY_MARGIN_MS, remaining / 2));
}

export function describeEvent(event: unknown): Pick<CleanupOptions, "trigger" | "scheduledTime"> {
  const e = (event && typeof event === "object" ? event : {}) as CleanupEvent;
  // Scheduler substitutes `<aws.scheduler.scheduled-time>`; anything that is not a time is ignored.
  const scheduledTime = typeof e.time === "string" && !Number.isNaN(Date.parse(e.time)) ? new Date(e.time).toISOString() : undefined;
  return { trigger: typeof e.source === "string" ? `schedule:${e.source}` : "invoke", scheduledTime };
}

/** A handler bound to a Db (tests pass theirs, with an injected clock). */
export function makeHandler(getDb: Db | (() => Db), options: CleanupOptions = {}) {
  return async (event: unknown, context?: CleanupContext): Promise<CleanupSummary> => {
    const database = typeof getDb === "function" ? getDb() : getDb;
    return runCleanup(database, { ...options, ...describeEvent(event), timeBudgetMs: timeBudgetOf(context) ?? options.timeBudgetMs });
  };
}

// Built at the first invocation, not at import: configuration is read from the environment then.
let database: Db | undefined;

export const handler = withInvocation(makeHandler(() => (database ??= db.createDb(loadConfig()))));
