import type { Connection } from "../../models.js";
import type { DaemonMessage } from "../../protocol.js";
import { blobKeys } from "../../blobs.js";
import { DomainError } from "../../errors.js";
import type { Relay } from "../../relay.js";
import type { Db } from "../../store/db.js";
import * as connections from "../../store/connections.js";
import * as tasks from "../../store/tasks.js";
import { startAwaitingTasks } from "../spawn.js";

/** A daemon's `hello`: its host and version noted, and the tasks waiting for it started. */
export async function greetDaemon(db: Db, relay: Relay, connection: Connection, message: Extract<DaemonMessage, { type: "hello" }>): Promise<void> {
  await connections.updateConnection(db, connection.connectionId, { hostname: message.hostname, version: message.version });
  await startAwaitingTasks(db, relay, connection.ownerId, connection.daemonId);
}

/** A daemon's `uploadRequest`: a presigned URL for a message too large for a WebSocket message. */
export async function grantUpload(db: Db, relay: Relay, connection: Connection, message: Extract<DaemonMessage, { type: "uploadRequest" }>): Promise<void> {
  const task = await tasks.getTaskRecord(db, connection.ownerId, message.taskId);
  if (!task) throw new DomainError(404, "not_found", "task not found");
  const uploadUrl = await db.blobs.presignPut(blobKeys.messageUpload(task.ownerId, task.id, message.messageId));
  await relay.notify(connection.connectionId, { type: "uploadGranted", requestId: message.requestId, uploadUrl });
}

/** A daemon's `handover`: the operations of its previous connection moved to this one. */
export async function handOver(db: Db, relay: Relay, connection: Connection): Promise<void> {
  const operations = await connections.handOverConnection(db, connection);
  await relay.notify(connection.connectionId, { type: "handedOver", operations });
}
