import { Connection } from "../models.js";
import { keys } from "../keys.js";
import { type Db } from "./db.js";

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
  return item ? Connection.parse(item) : undefined;
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
  return items.map((item) => Connection.parse(item));
}
