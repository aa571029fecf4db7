import { isUuid } from "../../ids.js";
import { DomainError, isUnavailable, unavailable } from "../../errors.js";
import { DaemonMessage, type Welcome } from "../../protocol.js";
import type { Runtime } from "../../runtime.js";
import * as connections from "../../store/connections.js";
import * as operations from "../../store/operations.js";
import { screenReport } from "./reportScreen.js";
import { handleDaemonMessage } from "./replies.js";
import { spawnOperationFailed } from "../spawn.js";
import { log } from "../../log.js";

/** What a WebSocket route answers API Gateway: 2xx accepts, anything else refuses (on $connect: no connection). */
export interface WsAnswer {
  statusCode: number;
  body?: string;
}

const answer = (statusCode: number, code?: string, message?: string): WsAnswer =>
  code ? { statusCode, body: JSON.stringify({ error: { code, message } }) } : { statusCode };

/** DynamoDB or S3 unavailable or throttling: a refusal the daemon retries (it reconnects, or resends from its outbox). */
function outage(route: string, connectionId: string, error: unknown): WsAnswer {
  log.warn("storage unavailable", { route, connectionId }, error);
  const refusal = unavailable();
  return answer(refusal.status, refusal.code, refusal.message);
}

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
    await connections.putConnection(runtime.db, {
      connectionId: input.connectionId,
      ownerId: key.ownerId,
      daemonId: daemonId.toLowerCase(),
      keyId: key.keyId,
      connectedAt: runtime.db.clock().toISOString(),
    });
    // A key revoked while this connection was being stored: the revocation may not have seen it.
    if (!(await runtime.auth.daemonKeyExists(bearer ?? input.query?.token))) {
      await connections.takeConnection(runtime.db, input.connectionId);
      return answer(401, "unauthorized", "this daemon key is not valid");
    }
    return answer(200);
  } catch (error) {
    if (error instanceof DomainError) return answer(error.status, error.code, error.message);
    // Refused: a connection stored before the outage expires on its own, and is not listed past its expiresAt.
    if (isUnavailable(error)) return outage("$connect", input.connectionId, error);
    throw error;
  }
}

/**
 * $disconnect: forgets the connection. Operations still waiting on it are
 * timed out now (504 to whoever waits): a daemon that went away mid-command
 * will not answer on this connection. Should it come back and answer anyway,
 * what it did is still recorded (see replies.ts).
 */
export async function disconnectDaemon(runtime: Pick<Runtime, "db">, connectionId: string): Promise<WsAnswer> {
  try {
    return await forgetConnection(runtime, connectionId);
  } catch (error) {
    // The connection stays until its expiresAt (a post to it is a 410 that removes it); its operations time out on their own.
    if (isUnavailable(error)) return outage("$disconnect", connectionId, error);
    throw error;
  }
}

async function forgetConnection(runtime: Pick<Runtime, "db">, connectionId: string): Promise<WsAnswer> {
  const { db } = runtime;
  const { ownerId, pendingOperations } = await connections.takeConnection(db, connectionId);
  for (const opId of ownerId ? pendingOperations : []) {
    const op = await operations.getOperationRecord(db, ownerId!, opId);
    if (op?.status !== "pending") continue;
    const error = { code: "daemon_disconnected", message: `daemon ${op.daemonId ?? "?"} disconnected before answering` };
    if (await operations.settleOperation(db, op, { status: "timed_out", error })) await spawnOperationFailed(db, op, error);
  }
  return answer(200);
}

/**
 * A daemon key was revoked: each of its connections is forgotten first (so
 * nothing it sends is accepted and no command is routed to it), its pending
 * operations are timed out, then the gateway closes it.
 */
export async function closeKeyConnections(runtime: Pick<Runtime, "db" | "relay">, ownerId: string, keyId: string): Promise<number> {
  // A connection stored without its key id cannot be told apart: it is closed too (its daemon reconnects if its key is valid).
  const ofKey = (await connections.listConnections(runtime.db, ownerId)).filter((c) => c.keyId === keyId || c.keyId === undefined);
  for (const connection of ofKey) {
    await disconnectDaemon(runtime, connection.connectionId);
    await runtime.relay.close(connection.connectionId).catch((error) =>
      log.warn("revoked key's connection not closed", { connectionId: connection.connectionId }, error),
    );
  }
  return ofKey.length;
}

/** Tells a daemon that said hello where its transfers come from: the host of the bucket's presigned URLs. */
async function welcome(runtime: Runtime, connectionId: string): Promise<void> {
  const origin = new URL(await runtime.db.blobs.presignGet("transfers/origin")).origin;
  const message: Welcome = { type: "welcome", transferOrigins: [origin], serverTime: runtime.db.clock().toISOString() };
  await runtime.relay.notify(connectionId, message);
}

/**
 * $default: one DaemonMessage, validated by the protocol schema, from a known
 * connection. Always answers, never throws: a message that is refused, or
 * that the service could not handle, gets its status and error body.
 */
export async function receiveDaemonMessage(runtime: Runtime, connectionId: string, body: string | undefined): Promise<WsAnswer> {
  let type: string | undefined;
  try {
    const connection = await connections.getConnection(runtime.db, connectionId);
    if (!connection) return answer(403, "unknown_connection", "this connection did not authenticate; reconnect");
    let json: unknown;
    try {
      json = JSON.parse(body ?? "");
    } catch {
      return answer(400, "malformed_json", "the message is not valid JSON");
    }
    const screened = screenReport(json);
    const parsed = DaemonMessage.safeParse(screened.json);
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => `${i.path.join(".") || "type"}: ${i.message}`).join("; ").slice(0, 2_000);
      log.warn("invalid daemon message", { connectionId, details });
      return answer(400, "validation_failed", details);
    }
    type = parsed.data.type;
    // Before anything the hello starts: a waiting task's spawn may carry presigned URLs.
    if (parsed.data.type === "hello") await welcome(runtime, connectionId);
    const reply = await handleDaemonMessage(runtime.db, runtime.relay, connection, parsed.data, screened);
    // The route's response goes back on the connection (stacks/realtime.ts): no @connections call.
    return reply ? { statusCode: 200, body: JSON.stringify(reply) } : answer(200);
  } catch (error) {
    if (error instanceof DomainError) return answer(error.status, error.code, error.message);
    if (isUnavailable(error)) return outage("$default", connectionId, error);
    log.error("daemon message failed", { connectionId, type }, error);
    return answer(500, "internal_error", "the message could not be handled; it has been logged");
  }
}
