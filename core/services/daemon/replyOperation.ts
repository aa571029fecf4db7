import type { Connection, OperationRecord } from "../../models.js";
import type { Db } from "../../store/db.js";
import * as operations from "../../store/operations.js";
import * as connections from "../../store/connections.js";
import { log } from "../../log.js";

/** The operation a reply answers, if it is this owner's and was sent to this daemon. */
export async function operationFor(db: Db, connection: Connection, requestId: string): Promise<OperationRecord | undefined> {
  const [op] = await Promise.all([
    operations.getOperationRecord(db, connection.ownerId, requestId),
    // Answered: no longer the connection's to time out at $disconnect.
    connections.removePendingOperation(db, connection.connectionId, requestId),
  ]);
  if (!op) return undefined;
  if (op.daemonId && op.daemonId !== connection.daemonId) {
    log.warn("reply from another daemon ignored", { operationId: op.id, daemonId: connection.daemonId });
    return undefined;
  }
  return op;
}

/** A value of the operation's context, as text (empty when absent). */
export const str = (op: OperationRecord, key: string) => String(op.context?.[key] ?? "");
