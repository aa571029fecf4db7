import { Connection } from "../models.js";
import { keys } from "../keys.js";
import { type Db } from "./db.js";
import { isConditionFailure, isExpired } from "./table.js";

/** A daemon's WebSocket connection, stored on $connect and removed on $disconnect or 410 Gone. */
export async function putConnection(db: Db, connection: Connection): Promise<void> {
  const c = Connection.parse(connection);
  await db.table.put({
    ...keys.connection(c.connectionId),
    gsi1pk: keys.ownerDaemons(c.ownerId),
    gsi1sk: `${c.connectedAt}#${c.connectionId}`,
    ...c,
    // A connection API Gateway forgot to report closed expires on its own (its max lifetime is 2 h).
    expiresAt: Math.floor(Date.parse(c.connectedAt) / 1000) + 3 * 3600,
  });
}

export async function getConnection(db: Db, connectionId: string): Promise<Connection | undefined> {
  const item = await db.table.get(keys.connection(connectionId));
  // Past its expiresAt a connection is gone, whether or not TTL has removed it yet.
  return item && !isExpired(db, item) ? Connection.parse(item) : undefined;
}

export async function updateConnection(db: Db, connectionId: string, changes: { hostname?: string; version?: string }) {
  await db.table.update(keys.connection(connectionId), {
    UpdateExpression: "SET hostname = :h, version = :v",
    ConditionExpression: "attribute_exists(pk)",
    ExpressionAttributeValues: { ":h": changes.hostname, ":v": changes.version },
  });
}

export async function deleteConnection(db: Db, connectionId: string): Promise<void> {
  await db.table.delete(keys.connection(connectionId));
}

/** An owner's online daemons, newest connection first. */
export async function listConnections(db: Db, ownerId: string): Promise<Connection[]> {
  const { items } = await db.table.query({
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :p",
    ExpressionAttributeValues: { ":p": keys.ownerDaemons(ownerId) },
    ScanIndexForward: false,
    Limit: 100,
  });
  return items.filter((item) => !isExpired(db, item)).map((item) => Connection.parse(item));
}

/**
 * The operations sent on a connection and not answered yet, so that
 * `$disconnect` can time them out at once. Unknown connections are ignored:
 * a gone connection has nothing left to wait on.
 */
async function changePendingOps(db: Db, connectionId: string, verb: "ADD" | "DELETE", operationId: string): Promise<void> {
  try {
    await db.table.update(keys.connection(connectionId), {
      UpdateExpression: `${verb} pendingOps :o`,
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":o": new Set([operationId]) },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

export const addPendingOperation = (db: Db, connectionId: string, operationId: string) =>
  changePendingOps(db, connectionId, "ADD", operationId);

export const removePendingOperation = (db: Db, connectionId: string, operationId: string) =>
  changePendingOps(db, connectionId, "DELETE", operationId);

/** Deletes a connection and returns it with the operations still waiting on it. */
export async function takeConnection(db: Db, connectionId: string): Promise<{ ownerId?: string; pendingOperations: string[] }> {
  const item = await db.table.delete(keys.connection(connectionId), { ReturnValues: "ALL_OLD" });
  return {
    ownerId: typeof item?.ownerId === "string" ? item.ownerId : undefined,
    pendingOperations: item?.pendingOps instanceof Set ? [...(item.pendingOps as Set<string>)] : [],
  };
}

/**
 * A daemon closing `from` because it opened another connection: `from` is
 * deleted (no more commands go there) and the operations waiting on it are
 * listed on the daemon's newest other connection. How many moved.
 */
export async function handOverConnection(db: Db, from: Connection): Promise<number> {
  const { pendingOperations } = await takeConnection(db, from.connectionId);
  const next = (await listConnections(db, from.ownerId)).find((c) => c.daemonId === from.daemonId && c.connectionId !== from.connectionId);
  if (!next) return 0;
  for (const op of pendingOperations) await addPendingOperation(db, next.connectionId, op);
  return pendingOperations.length;
}
