import { OperationRecord, Operation } from "../models.js";
import { keys } from "../keys.js";
import { blobKeys } from "../blobs.js";
import { type Db, nowIso } from "./db.js";
import { isConditionFailure, isExpired } from "./table.js";
import { DomainError } from "../errors.js";

/** Operations are kept a week for clients polling late, then expire by TTL. */
const OPERATION_TTL_SECONDS = 7 * 86_400;
/** A result larger than this (a big diff) is kept in S3, not in the item. */
const INLINE_RESULT_BYTES = 100 * 1024;

export async function createOperation(
  db: Db,
  input: { id: string; ownerId: string; commandType: string; daemonId?: string; context?: Record<string, unknown> },
): Promise<OperationRecord> {
  const now = nowIso(db);
  const op = OperationRecord.parse({ ...input, status: "pending", createdAt: now, updatedAt: now });
  await db.table.put({ ...keys.operation(op.id), ...op, expiresAt: Math.floor(db.clock().getTime() / 1000) + OPERATION_TTL_SECONDS });
  return op;
}

/** An operation; one past its expiry (which DynamoDB TTL may not have removed yet) is gone. */
export async function getOperationRecord(db: Db, ownerId: string, id: string): Promise<OperationRecord | undefined> {
  const item = await db.table.get(keys.operation(id));
  return item && item.ownerId === ownerId && !isExpired(db, item) ? OperationRecord.parse(item) : undefined;
}

/** A result kept in S3, read back; 410 when the cleanup job or the lifecycle rule has removed it. */
export async function operationResult(db: Db, record: OperationRecord): Promise<unknown> {
  if (!record.resultBlobKey) return record.result;
  const result = await db.blobs.getJsonIfExists(record.resultBlobKey);
  if (result === undefined) {
    throw new DomainError(410, "result_expired", `the result of operation ${record.id} is no longer kept; run the request again`);
  }
  return result;
}

/** The public view of an operation, with a large result read back from S3. */
export async function getOperation(db: Db, ownerId: string, id: string): Promise<Operation | undefined> {
  const record = await getOperationRecord(db, ownerId, id);
  if (!record) return undefined;
  return Operation.parse({ ...record, result: await operationResult(db, record) });
}

export type Outcome =
  | { status: "succeeded"; result?: unknown }
  | { status: "failed" | "timed_out"; error: { code: string; message: string } };

/** Settles a pending operation once; false if it was already settled (a late or repeated reply). */
export async function settleOperation(db: Db, op: Pick<OperationRecord, "id" | "ownerId">, outcome: Outcome): Promise<boolean> {
  const sets = ["#s = :s", "updatedAt = :now"];
  const names: Record<string, string> = { "#s": "status" };
  const values: Record<string, unknown> = { ":s": outcome.status, ":now": nowIso(db), ":pending": "pending" };
  if (outcome.status === "succeeded" && outcome.result !== undefined) {
    if (Buffer.byteLength(JSON.stringify(outcome.result)) > INLINE_RESULT_BYTES) {
      const blobKey = blobKeys.transfer(op.ownerId, `result-${op.id}`);
      await db.blobs.putJson(blobKey, outcome.result);
      sets.push("resultBlobKey = :b");
      values[":b"] = blobKey;
    } else {
      sets.push("#r = :r");
      names["#r"] = "result";
      values[":r"] = outcome.result;
    }
  }
  if (outcome.status !== "succeeded") {
    sets.push("#e = :e");
    names["#e"] = "error";
    values[":e"] = outcome.error;
  }
  try {
    await db.table.update(keys.operation(op.id), {
      UpdateExpression: `SET ${sets.join(", ")}`,
      ConditionExpression: "attribute_exists(pk) AND #s = :pending",
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    return true;
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") return false;
    throw error;
  }
}

/**
 * Takes the right to act on a reply: once per operation, whatever the daemon
 * resends. A reply after the operation timed out is still taken, so that
 * what the daemon did (a rewind, a started task) is recorded even though
 * the caller was told 504.
 */
export async function claimReply(db: Db, op: OperationRecord): Promise<boolean> {
  if (op.status !== "pending" && op.status !== "timed_out") return false;
  try {
    await db.table.update(keys.operation(op.id), {
      UpdateExpression: "SET replyAt = :now",
      ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(replyAt) AND (#s = :pending OR #s = :late)",
      ExpressionAttributeNames: { "#s": "status" },
      ExpressionAttributeValues: { ":now": db.clock().toISOString(), ":pending": "pending", ":late": "timed_out" },
    });
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** The daemon an operation was finally sent to (after a stale connection). */
export async function assignOperation(db: Db, operationId: string, daemonId: string): Promise<void> {
  await db.table.update(keys.operation(operationId), {
    UpdateExpression: "SET daemonId = :d",
    ExpressionAttributeValues: { ":d": daemonId },
  });
}

/**
 * The objects among `transfers/` keys that may go. Transfers are temporary;
 * the exception is an operation's large result (`result-<operationId>`),
 * kept while its operation item (TTL 7 days) still names it, so a late poll
 * never finds a missing object.
 */
export async function unneededTransfers(db: Db, objectKeys: string[]): Promise<string[]> {
  const results = objectKeys.flatMap((key) => {
    const name = key.slice(key.lastIndexOf("/") + 1);
    const match = /^result-(.+)\.json\.gz$/.exec(name);
    return match ? [{ key, item: keys.operation(match[1]!) }] : [];
  });
  const found = results.length ? await db.table.batchGet(results.map((r) => r.item)) : [];
  const named = new Set(found.map((item) => item.resultBlobKey));
  return objectKeys.filter((key) => !named.has(key));
}
