import { backoff, cancellationReasons, isConditionFailure } from "./table.js";

/**
 * How long a conflict is retried: a number of attempts, a deadline, or both
 * (whichever comes first). The deadline may be a function, for a loop that
 * moves it while others make progress.
 */
export type RetryLimits = ({ attempts: number; until?: number | (() => number) } | { attempts?: number; until: number | (() => number) }) & {
  /** Full-jitter backoff between attempts: base and cap in ms. */
  baseMs?: number;
  capMs?: number;
  /** The clock the deadline is on (epoch ms); the system's by default. */
  now?: () => number;
};

/**
 * A write that met another: a transaction cancelled on a condition or a
 * conflict, a conditional write whose condition failed, or an item held by
 * another transaction.
 */
export function isWriteConflict(error: unknown): boolean {
  const reasons = cancellationReasons(error);
  if (reasons) return reasons.some((r) => r === "ConditionalCheckFailed" || r === "TransactionConflict");
  return isConditionFailure(error) || (error instanceof Error && error.name === "TransactionConflictException");
}

/**
 * Runs `attempt` (given its 0-based number) until it returns; an error
 * `isConflict` accepts is retried after a jittered backoff while the limits
 * allow, anything else (or the last conflict) is thrown. Whatever must be
 * read again before a retry is read by the attempt itself when `n > 0`.
 */
export async function retryOnConflict<T>(
  attempt: (n: number) => Promise<T>,
  isConflict: (error: unknown) => boolean,
  limits: RetryLimits,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const until = typeof limits.until === "function" ? limits.until() : limits.until;
      const exhausted = n + 1 >= (limits.attempts ?? Infinity) || (until !== undefined && (limits.now ?? Date.now)() > until);
      if (exhausted || !isConflict(error)) throw error;
      await backoff(n, limits.baseMs, limits.capMs);
    }
  }
}
