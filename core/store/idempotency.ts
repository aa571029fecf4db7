import { keys } from "../keys.js";
import { conflict } from "../errors.js";
import { type Db } from "./db.js";

const WINDOW_SECONDS = 24 * 3600;

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Claims an Idempotency-Key for a request. Returns the first answer when the
 * same key and body were seen within 24 h; a different body under the same
 * key, or a first request still running, is a 409.
 */
export async function claimIdempotencyKey(
  db: Db,
  ownerId: string,
  key: string,
  requestHash: string,
): Promise<StoredResponse | undefined> {
  const now = Math.floor(db.clock().getTime() / 1000);
  const claimed = await db.table.putNew(
    { ...keys.idempotency(ownerId, key), requestHash, state: "running", expiresAt: now + WINDOW_SECONDS },
    {
      // An expired record that TTL has not removed yet may be claimed again.
      ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
      ExpressionAttributeValues: { ":now": now },
    },
  );
  if (claimed) return undefined;
  const item = await db.table.get(keys.idempotency(ownerId, key));
  if (!item) return claimIdempotencyKey(db, ownerId, key, requestHash);
  if (item.requestHash !== requestHash) {
    throw conflict("idempotency_key_reused", "this Idempotency-Key was used with a different request body");
  }
  if (item.state !== "done") throw conflict("request_in_progress", "a request with this Idempotency-Key is still running");
  return item.response as StoredResponse;
}

export async function completeIdempotencyKey(db: Db, ownerId: string, key: string, response: StoredResponse): Promise<void> {
  await db.table.update(keys.idempotency(ownerId, key), {
    UpdateExpression: "SET #st = :done, #r = :r",
    ExpressionAttributeNames: { "#st": "state", "#r": "response" },
    ExpressionAttributeValues: { ":done": "done", ":r": response },
  });
}

/** A request that failed leaves nothing behind: the key can be used again. */
export async function releaseIdempotencyKey(db: Db, ownerId: string, key: string): Promise<void> {
  await db.table.delete(keys.idempotency(ownerId, key));
}
