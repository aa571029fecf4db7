import { createHash, randomUUID } from "node:crypto";
import { keys } from "../keys.js";
import { conflict } from "../errors.js";
import { type Db } from "./db.js";
import { isConditionFailure, isExpired } from "./table.js";

const WINDOW_SECONDS = 24 * 3600;
/**
 * How long a request may hold its key: past the api Lambda's 29 s and the
 * relay's 20 s wait. A request that died (timeout, crash) leaves a "running"
 * record that can be claimed again once this has passed.
 */
export const REQUEST_TIME_LIMIT_SECONDS = 60;

/** Who made a request and where: a record answers only this exact scope again. */
export interface IdempotencyScope {
  ownerId: string;
  /** The key (its id) or token (`jwt:<sub>`) that made the request. */
  credentialId: string;
  method: string;
  /** The request's path. */
  route: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type IdempotencyClaim = { replay: StoredResponse } | { claimId: string };

/**
 * The record's key: a digest of every part of the scope and the client's key,
 * so no two distinct (owner, credential, method, route, key) share a record
 * whatever characters they hold.
 */
export function recordKey(scope: IdempotencyScope, key: string) {
  const digest = createHash("sha256")
    .update(JSON.stringify([scope.ownerId, scope.credentialId, scope.method, scope.route, key]))
    .digest("hex");
  return keys.idempotency(digest);
}

/**
 * Claims an Idempotency-Key for a request. Returns the first answer when the
 * same scope, key and body were seen within 24 h; a different body under the
 * same key, or a first request still within its time limit, is a 409.
 */
export async function claimIdempotencyKey(
  db: Db,
  scope: IdempotencyScope,
  key: string,
  requestHash: string,
): Promise<IdempotencyClaim> {
  const now = Math.floor(db.clock().getTime() / 1000);
  const claimId = randomUUID();
  const itemKey = recordKey(scope, key);
  const claimed = await db.table.putNew(
    {
      ...itemKey,
      ownerId: scope.ownerId,
      requestHash,
      state: "running",
      claimId,
      runningUntil: now + REQUEST_TIME_LIMIT_SECONDS,
      expiresAt: now + WINDOW_SECONDS,
    },
    {
      // An expired record that TTL has not removed yet, or a request that outlived its time limit, may be claimed again.
      ConditionExpression: "attribute_not_exists(pk) OR expiresAt <= :now OR (#st = :running AND (attribute_not_exists(runningUntil) OR runningUntil < :now))",
      ExpressionAttributeNames: { "#st": "state" },
      ExpressionAttributeValues: { ":now": now, ":running": "running" },
    },
  );
  if (claimed) return { claimId };
  const item = await db.table.get(itemKey);
  // Gone (or past its expiresAt, which the claim's condition treats the same): claim it again.
  if (!item || isExpired(db, item)) return claimIdempotencyKey(db, scope, key, requestHash);
  if (item.requestHash !== requestHash) {
    throw conflict("idempotency_key_reused", "this Idempotency-Key was used with a different request body");
  }
  if (item.state !== "done") throw conflict("request_in_progress", "a request with this Idempotency-Key is still running");
  return { replay: item.response as StoredResponse };
}

/** Keeps the answer; a request whose claim was taken over (it outlived its time limit) keeps nothing. */
export async function completeIdempotencyKey(
  db: Db,
  scope: IdempotencyScope,
  key: string,
  claimId: string,
  response: StoredResponse,
): Promise<void> {
  try {
    await db.table.update(recordKey(scope, key), {
      UpdateExpression: "SET #st = :done, #r = :r REMOVE runningUntil",
      ConditionExpression: "claimId = :claim",
      ExpressionAttributeNames: { "#st": "state", "#r": "response" },
      ExpressionAttributeValues: { ":done": "done", ":r": response, ":claim": claimId },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** A request that failed leaves nothing behind: the key can be used again. */
export async function releaseIdempotencyKey(db: Db, scope: IdempotencyScope, key: string, claimId: string): Promise<void> {
  try {
    await db.table.delete(recordKey(scope, key), {
      ConditionExpression: "claimId = :claim",
      ExpressionAttributeValues: { ":claim": claimId },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}
