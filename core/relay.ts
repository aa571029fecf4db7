import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
  DeleteConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { DaemonCommand, MAX_INLINE_PAYLOAD_BYTES, type DaemonCommand as Command } from "./protocol.js";
import type { OperationRecord } from "./models.js";
import { DomainError, noDaemon } from "./errors.js";
import { newId } from "./ids.js";
import type { Db } from "./store/db.js";
import { deleteConnection, listConnections } from "./store/connections.js";
import { createOperation, getOperationRecord, settleOperation } from "./store/operations.js";

/**
 * Sends commands to an owner's daemons through API Gateway's @connections
 * API and waits (bounded) for the reply that `ws-message` writes into the
 * operation. Too slow: the caller answers 202 with the operation id.
 */

export class GoneError extends Error {
  constructor(readonly connectionId: string) {
    super(`connection ${connectionId} is gone`);
    this.name = "GoneError";
  }
}

/** Posts to a WebSocket connection; throws GoneError for a stale one. */
export interface ConnectionPoster {
  post(connectionId: string, data: string): Promise<void>;
  close?(connectionId: string): Promise<void>;
}

export class ApiGatewayPoster implements ConnectionPoster {
  private readonly client: ApiGatewayManagementApiClient;

  constructor(endpoint: string, region: string, credentials?: { accessKeyId: string; secretAccessKey: string }) {
    this.client = new ApiGatewayManagementApiClient({ endpoint, region, ...(credentials ? { credentials } : {}) });
  }

  async post(connectionId: string, data: string): Promise<void> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((error as Error).name === "GoneException" || status === 410) throw new GoneError(connectionId);
      throw error;
    }
  }

  async close(connectionId: string): Promise<void> {
    await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })).catch(() => undefined);
  }
}

type WithoutRequestId<T> = T extends unknown ? Omit<T, "requestId"> : never;
export type CommandInput = WithoutRequestId<Command>;

export interface DispatchOptions {
  /** Only this daemon (the request's `targetDaemonId`). */
  targetDaemonId?: string;
  /** This daemon first (the task's own), then any other of the owner's. */
  preferDaemonId?: string;
  /** What the reply handler needs to finish the request (ids, actor, …). */
  context?: Record<string, unknown>;
  /** Wait for the reply (default) or return the pending operation at once. */
  wait?: boolean;
  /** Pre-chosen operation id (when the command must carry presigned URLs named after it). */
  operationId?: string;
}

export interface RelayTimings {
  /** How long a request waits for a reply before answering 202. */
  waitMs: number;
  /** How long a daemon has before the operation times out (504). */
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Relay {
  constructor(
    private readonly db: Db,
    private readonly poster: ConnectionPoster | undefined,
    private readonly timings: RelayTimings,
  ) {}

  /**
   * Stores a pending operation, posts the command to one of the owner's
   * online daemons (the target if given), and waits for its reply.
   * 503 when no daemon is online; stale connections are removed on the way.
   */
  async dispatch(ownerId: string, input: CommandInput, options: DispatchOptions = {}): Promise<OperationRecord> {
    const connections = (await listConnections(this.db, ownerId))
      .filter((c) => !options.targetDaemonId || c.daemonId === options.targetDaemonId)
      .sort((a, b) => Number(b.daemonId === options.preferDaemonId) - Number(a.daemonId === options.preferDaemonId));
    if (!this.poster || connections.length === 0) {
      throw noDaemon(
        options.targetDaemonId
          ? `daemon ${options.targetDaemonId} is not online`
          : "no daemon of yours is online; start one with `makima daemon`",
      );
    }
    const requestId = options.operationId ?? newId();
    const command = DaemonCommand.parse({ ...input, requestId });
    const data = JSON.stringify(command);
    if (Buffer.byteLength(data) > MAX_INLINE_PAYLOAD_BYTES) {
      throw new Error(`command ${command.type} is ${data.length} bytes; large payloads must travel by presigned URL`);
    }

    let op: OperationRecord | undefined;
    for (const connection of connections) {
      op ??= await createOperation(this.db, {
        id: requestId,
        ownerId,
        commandType: command.type,
        daemonId: connection.daemonId,
        context: options.context,
      });
      try {
        await this.poster.post(connection.connectionId, data);
        if (op.daemonId !== connection.daemonId) {
          await this.db.table.update(
            { pk: `OP#${op.id}`, sk: "OP" },
            { UpdateExpression: "SET daemonId = :d", ExpressionAttributeValues: { ":d": connection.daemonId } },
          );
          op = { ...op, daemonId: connection.daemonId };
        }
        return options.wait === false ? op : this.waitFor(op);
      } catch (error) {
        if (!(error instanceof GoneError)) throw error;
        await deleteConnection(this.db, connection.connectionId);
      }
    }
    await settleOperation(this.db, op!, { status: "failed", error: { code: "no_daemon", message: "every daemon connection was stale" } });
    throw noDaemon("no daemon of yours is online (the connections found were stale and have been removed)");
  }

  /** Polls the operation until it settles, the wait ends (still pending) or the daemon's time runs out. */
  async waitFor(op: OperationRecord): Promise<OperationRecord> {
    const started = Date.now();
    const deadline = started + Math.min(this.timings.waitMs, this.timings.timeoutMs);
    let delay = 25;
    for (;;) {
      const current = await getOperationRecord(this.db, op.ownerId, op.id);
      if (!current) throw new Error(`operation ${op.id} vanished`);
      if (current.status !== "pending") return current;
      if (Date.now() >= deadline) return this.expireIfOverdue(current);
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      delay = Math.min(delay * 2, 500);
    }
  }

  /** A pending operation past the daemon's time is settled as timed out, so nothing stays pending forever. */
  async expireIfOverdue(op: OperationRecord): Promise<OperationRecord> {
    if (op.status !== "pending") return op;
    if (this.db.clock().getTime() - Date.parse(op.createdAt) < this.timings.timeoutMs) return op;
    const error = { code: "daemon_timeout", message: `the daemon did not answer within ${this.timings.timeoutMs} ms` };
    await settleOperation(this.db, op, { status: "timed_out", error });
    return (await getOperationRecord(this.db, op.ownerId, op.id)) ?? op;
  }
}

export type RelayOutcome<T = unknown> = { pending: true; operationId: string } | { pending: false; result: T };

/**
 * What a request makes of an operation: its result (a large one read back
 * from S3), `pending` for the caller's 202, or the matching error.
 */
export async function outcomeOf<T = unknown>(db: Db, op: OperationRecord): Promise<RelayOutcome<T>> {
  if (op.status === "pending") return { pending: true, operationId: op.id };
  if (op.status === "succeeded") {
    const result = op.resultBlobKey ? await db.blobs.getJson(op.resultBlobKey) : op.result;
    return { pending: false, result: result as T };
  }
  if (op.status === "timed_out") throw new DomainError(504, "daemon_timeout", op.error?.message ?? "the daemon did not answer in time");
  throw daemonFailure(op.error);
}

/** A daemon's refusal or failure as the API's error: conflicts are 409, the rest 502. */
export function daemonFailure(error: { code: string; message: string } | undefined): DomainError {
  const code = error?.code ?? "daemon_error";
  const status = code === "foreign_changes" || code === "task_running" ? 409 : code === "no_daemon" ? 503 : 502;
  return new DomainError(status, code, error?.message ?? "the daemon reported a failure");
}
