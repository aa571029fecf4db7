import type { Db } from "../store/db.js";
import * as idempotency from "../store/idempotency.js";
import type { IdempotencyScope, StoredResponse } from "../store/idempotency.js";

/**
 * A creating or changing request under an `Idempotency-Key`. The first one
 * with a key runs (`run`), and its answer, when `run` gives one to keep, is
 * kept for 24 h; the same scope, key and body again get that answer back
 * (`replay`) and run nothing. A request that throws or gives nothing to keep
 * lets the key go, so a retry runs. Another body under the same key, or a
 * first request still running, is a 409.
 */
export async function onceByKey(
  db: Db,
  scope: IdempotencyScope,
  key: string,
  requestHash: string,
  run: () => Promise<StoredResponse | undefined>,
): Promise<{ replay: StoredResponse } | { ran: true }> {
  const claim = await idempotency.claimIdempotencyKey(db, scope, key, requestHash);
  if ("replay" in claim) return claim;
  let answer: StoredResponse | undefined;
  try {
    answer = await run();
  } catch (error) {
    await idempotency.releaseIdempotencyKey(db, scope, key, claim.claimId);
    throw error;
  }
  if (answer) await idempotency.completeIdempotencyKey(db, scope, key, claim.claimId, answer);
  else await idempotency.releaseIdempotencyKey(db, scope, key, claim.claimId);
  return { ran: true };
}
