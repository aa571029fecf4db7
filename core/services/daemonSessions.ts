import { isUuid } from "../ids.js";
import { DomainError } from "../errors.js";
import { DaemonMessage } from "../protocol.js";
import type { Runtime } from "../runtime.js";
import { getConnection, putConnection, takeConnection } from "../store/connections.js";
import { getOperationRecord, settleOperation } from "../store/operations.js";
import { handleDaemonMessage } from "./replies.js";
import { spawnOperationFailed } from "./spawn.js";

/** What a WebSocket route answers API Gateway: 2xx accepts, anything else refuses (on $connect: no connection). */
export interface WsAnswer {
  statusCode: number;
  body?: string;
}

const answer = (statusCode: number, code?: string, message?: string): WsAnswer =>
  code ? { statusCode, body: JSON.stringify({ error: { code, message } }) } : { statusCode };

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  const found = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name);
  return found?.[1];
}

/**
 * $connect: a daemon key in `Authorization: Bearer mkd_…` (or `?token=`) and
 * `?daemonId=<uuid>`. A bad or missing key stores nothing.
 */
export async function connectDaemon(
  runtime: Runtime,
  input: { connectionId: string; headers?: Record<string, string | undefined>; query?: Record<string, string | undefined> },
): Promise<WsAnswer> {
  const bearer = /^Bearer\s+(\S+)$/i.exec(header(input.headers, "authorization") ?? "")?.[1];
  try {
    const key = await runtime.auth.authenticateDaemon(bearer ?? input.query?.token);
    const daemonId = input.query?.daemonId;
    if (!daemonId || !isUuid(daemonId)) return answer(400, "validation_failed", "connect with ?daemonId=<uuid>");
    await putConnection(runtime.db, {
      connectionId: input.connectionId,
      ownerId: key.ownerId,
      daemonId: daemonId.toLowerCase(),
      connectedAt: runtime.db.clock().toISOString(),
    });
    return answer(200);
  } catch (error) {
    if (error instanceof DomainError) return answer(error.status, error.code, error.message);
    throw error;
  }
}

/**
 * $disconnect: forgets the connection. Operations still waiting on it are
 * timed out now (504 to whoever waits): a daemon that went away mid-command
 * will not answer on this connection. Should it come back and answer anyway,
 * what it did is still recorded (see replies.ts).
 */
export async function disconnectDaemon(runtime: Runtime, connectionId: string): Promise<WsAnswer> {
  const { db } = runtime;
  const { ownerId, pendingOperations } = await takeConnection(db, connectionId);
  for (const opId of ownerId ? pendingOperations : []) {
    const op = await getOperationRecord(db, ownerId!, opId);
    if (op?.status !== "pending") continue;
    const error = { code: "daemon_disconnected", message: `daemon ${op.daemonId ?? "?"} disconnected before answering` };
    if (await settleOperation(db, op, { status: "timed_out", error })) await spawnOperationFailed(db, op, error);
  }
  return answer(200);
}

/** $default: one DaemonMessage, validated by the protocol schema, from a known connection. */
export async function receiveDaemonMessage(runtime: Runtime, connectionId: string, body: string | undefined): Promise<WsAnswer> {
  const connection = await getConnection(runtime.db, connectionId);
  if (!connection) return answer(403, "unknown_connection", "this connection did not authenticate; reconnect");
  let json: unknown;
  try {
    json = JSON.parse(body ?? "");
  } catch {
    return answer(400, "malformed_json", "the message is not valid JSON");
  }
  const parsed = DaemonMessage.safeParse(json);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join(".") || "type"}: ${i.message}`).join("; ");
    console.warn(JSON.stringify({ level: "warn", message: "invalid daemon message", connectionId, details }));
    return answer(400, "validation_failed", details);
  }
  try {
    await handleDaemonMessage(runtime.db, runtime.relay, connection, parsed.data);
    return answer(200);
  } catch (error) {
    if (error instanceof DomainError) return answer(error.status, error.code, error.message);
    throw error;
  }
}
