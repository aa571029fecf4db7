import { Operation } from "../models.js";
import { keys } from "../keys.js";
import { type Db, nowIso } from "./db.js";

/** Operations are kept a week for clients polling late, then expire by TTL. */
const OPERATION_TTL_SECONDS = 7 * 86_400;

export async function createOperation(
  db: Db,
  input: { id: string; ownerId: string; commandType: string; daemonId?: string },
): Promise<Operation> {
  const now = nowIso(db);
  const op = Operation.parse({ ...input, status: "pending", createdAt: now, updatedAt: now });
  await db.table.put({ ...keys.operation(op.id), ...op, expiresAt: Math.floor(Date.now() / 1000) + OPERATION_TTL_SECONDS });
  return op;
}

export async function getOperation(db: Db, ownerId: string, id: string): Promise<Operation | undefined> {
  const item = await db.table.get(keys.operation(id));
  return item && item.ownerId === ownerId ? Operation.parse(item) : undefined;
}

/** Settles a pending operation once; false if it was already settled (a late or repeated reply). */
export async function settleOperation(
  db: Db,
  id: string,
  outcome: { status: "succeeded" | "failed" | "timed_out"; result?: unknown; error?: { code: string; message: string } },
): Promise<boolean> {
  try {
    const sets = ["#s = :s", "updatedAt = :now"];
    const values: Record<string, unknown> = { ":s": outcome.status, ":now": nowIso(db), ":pending": "pending" };
    if (outcome.result !== undefined) {
      sets.push("#r = :r");
      values[":r"] = outcome.result;
    }
    if (outcome.error !== undefined) {
      sets.push("#e = :e");
      values[":e"] = outcome.error;
    }
    await db.table.update(keys.operation(id), {
      UpdateExpression: `SET ${sets.join(", ")}`,
      ConditionExpression: "attribute_exists(pk) AND #s = :pending",
      ExpressionAttributeNames: { "#s": "status", ...(outcome.result !== undefined ? { "#r": "result" } : {}), ...(outcome.error ? { "#e": "error" } : {}) },
      ExpressionAttributeValues: values,
    });
    return true;
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") return false;
    throw error;
  }
}
