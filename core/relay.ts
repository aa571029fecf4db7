import type { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DaemonCommand, MAX_INLINE_PAYLOAD_BYTES, type DaemonCommand as Command, type ServerNotice } from "./protocol.js";
import type { Connection, OperationRecord } from "./models.js";
import { DomainError, noDaemon } from "./errors.js";
import { newId } from "./ids.js";
import { addLogContext, log } from "./log.js";
import { recordMetric } from "./metrics.js";
import type { Db } from "./store/db.js";
import * as connections from "./store/connections.js";
import * as operations from "./store/operations.js";

/**
 * Sends commands to an owner's daemons through API Gateway's @connections
 * API and waits (bounded) for the reply that `ws-message` writes into the
 * operation. Too slow: the caller answers 202 with the operation id.
 */

class GoneError extends Error {
  constructor(readonly connectionId: string) {
    super(`connection ${connectionId} is gone`);
    this.name = "GoneError";
  }
}

/** Posts to a WebSocket connection (GoneError for a stale one) and closes connections. */
export interface ConnectionPoster {
  post(connectionId: string, data: string): Promise<void>;
  /** Closes a connection (the @connections DELETE); one already gone is not an error. */
  close?(connectionId: string): Promise<void>;
}

/** The @connections client's module, imported on the first post or close (a function that never posts never loads it). */
const managementApi = () => import("@aws-sdk/client-apigatewaymanagementapi");

export class ApiGatewayPoster implements ConnectionPoster {
  private client?: Promise<ApiGatewayManagementApiClient>;

  constructor(
    private readonly endpoint: string,
    private readonly region: string,
    private readonly credentials?: { accessKeyId: string; secretAccessKey: string },
  ) {}

  private connect(): Promise<ApiGatewayManagementApiClient> {
    const { endpoint, region, credentials } = this;
    this.client ??= managementApi().then(
      ({ ApiGatewayManagementApiClient }) => new ApiGatewayManagementApiClient({ endpoint, region, ...(credentials ? { credentials } : {}) }),
    );
    return this.client;
  }

  async post(connectionId: string, data: string): Promise<void> {
    const [client, { PostToConnectionCommand }] = await Promise.all([this.connect(), managementApi()]);
    try {
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((error as Error).name === "GoneException" || status === 410) throw new GoneError(connectionId);
      throw error;
    }
  }

  async close(connectionId: string): Promise<void> {
    const [client, { DeleteConnectionCommand }] = await Promise.all([this.connect(), managementApi()]);
    try {
      await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if ((error as Error).name === "GoneException" || status === 410) return;
      throw error;
    }
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
  /** How long a request waits for a reply before answering 202 (the client then follows the operation). */
  waitMs: number;
  /** How long a daemon has before the operation times out (504). */
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The longest a client may ask `GET /operations/{id}` to wait for an operation to settle. */
export const MAX_OPERATION_WAIT_MS = 20_000;

export class Relay {
  /**
   * @param deadline epoch ms by which the request must have answered (its
   *   runtime's remaining time, less a margin to write the answer); waits end
   *   there even when `waitMs` would go on. Undefined: no bound but `waitMs`.
   */
  constructor(
    private readonly db: Db,
    private readonly poster: ConnectionPoster | undefined,
    private readonly timings: RelayTimings,
    readonly deadline?: number,
  ) {}

  /** How long a daemon has to answer a command. */
  get timeoutMs(): number {
    return this.timings.timeoutMs;
  }

  /** The same relay for one request that must answer by `deadline` (epoch ms); the earlier bound wins. */
  until(deadline: number | undefined): Relay {
    if (deadline === undefined) return this;
    const bound = this.deadline === undefined ? deadline : Math.min(this.deadline, deadline);
    return new Relay(this.db, this.poster, this.timings, bound);
  }

  /**
   * Stores a pending operation, posts the command to one of the owner's
   * online daemons (the target if given), and waits for its reply.
   * 503 when no daemon is online; stale connections are removed on the way
   * and the next one is tried.
   */
  async dispatch(ownerId: string, input: CommandInput, options: DispatchOptions = {}): Promise<OperationRecord> {
    const started = performance.now();
    let outcome = "error";
    try {
      const op = await this.send(ownerId, input, options);
      outcome = op.status;
      return op;
    } catch (error) {
      if (error instanceof DomainError) outcome = error.code;
      throw error;
    } finally {
      const ms = performance.now() - started;
      const dimensions = { command: input.type, outcome };
      log.info("command relayed", { command: input.type, outcome, ms: Math.round(ms) });
      recordMetric("RelayOutcome", 1, dimensions);
      recordMetric("RelayLatency", ms, dimensions);
    }
  }

  private async send(ownerId: string, input: CommandInput, options: DispatchOptions): Promise<OperationRecord> {
    const targets = (await connections.listConnections(this.db, ownerId))
      .filter((c) => !options.targetDaemonId || c.daemonId === options.targetDaemonId)
      .sort((a, b) => Number(b.daemonId === options.preferDaemonId) - Number(a.daemonId === options.preferDaemonId));
    if (!this.poster || targets.length === 0) {
      throw noDaemon(
        options.targetDaemonId
          ? `daemon ${options.targetDaemonId} is not online`
          : "no daemon of yours is online; start one with `makima daemon`",
      );
    }
    const requestId = options.operationId ?? newId();
    addLogContext({ operationId: requestId });
    const command = DaemonCommand.parse({ ...input, requestId });
    const data = JSON.stringify(command);
    if (Buffer.byteLength(data) > MAX_INLINE_PAYLOAD_BYTES) {
      throw new DomainError(413, "command_too_large", `the ${command.type} command would be ${data.length} bytes; a WebSocket message carries at most ${MAX_INLINE_PAYLOAD_BYTES}`);
    }

    let op: OperationRecord | undefined;
    for (const connection of targets) {
      // Stored (and listed on the connection) before the post: a fast daemon's reply must find it.
      const stored: Promise<OperationRecord> = op
        ? this.reassign(op, connection.daemonId)
        : operations.createOperation(this.db, { id: requestId, ownerId, commandType: command.type, daemonId: connection.daemonId, context: options.context });
      [op] = await Promise.all([stored, this.listPending(requestId, connection)]);
      try {
        await this.poster.post(connection.connectionId, data);
      } catch (error) {
        if (error instanceof GoneError) {
          await connections.deleteConnection(this.db, connection.connectionId);
          continue;
        }
        // Nothing reached a daemon: the operation must not stay pending.
        const message = `could not send the command to daemon ${connection.daemonId}: ${(error as Error).message}`;
        await operations.settleOperation(this.db, op, { status: "failed", error: { code: "relay_failed", message } });
        throw new DomainError(502, "relay_failed", message);
      }
      return options.wait === false ? op : this.waitFor(op);
    }
    await operations.settleOperation(this.db, op!, { status: "failed", error: { code: "no_daemon", message: "every daemon connection was stale" } });
    throw noDaemon("no daemon of yours is online (the connections found were stale and have been removed)");
  }

  /**
   * Posts a notice (a report's acknowledgement) to a connection. A notice
   * that does not arrive is not an error here: the daemon sends its report
   * again, and the answer to the resend says the same.
   */
  async notify(connectionId: string, notice: ServerNotice): Promise<void> {
    if (!this.poster) return;
    try {
      await this.poster.post(connectionId, JSON.stringify(notice));
    } catch (error) {
      if (!(error instanceof GoneError)) {
        log.warn("notice not posted", { connectionId, type: notice.type }, error);
      }
    }
  }

  /** Closes a daemon's connection at the gateway (its $disconnect follows). */
  async close(connectionId: string): Promise<void> {
    await this.poster?.close?.(connectionId);
  }

  /** The next daemon tried gets the operation. */
  private async reassign(op: OperationRecord, daemonId: string): Promise<OperationRecord> {
    if (op.daemonId === daemonId) return op;
    await operations.assignOperation(this.db, op.id, daemonId);
    return { ...op, daemonId };
  }

  /**
   * Lists the operation on the connection it is sent on, so that `$disconnect`
   * can time it out at once instead of letting the caller wait for the full
   * timeout. Written before the post, so that the reply's removal from the
   * list always comes after it.
   */
  private async listPending(operationId: string, connection: Connection): Promise<void> {
    try {
      await connections.addPendingOperation(this.db, connection.connectionId, operationId);
    } catch (error) {
      // The operation then runs out its time like any other; this list only makes a 504 come sooner.
      log.warn("pending operation not listed on its connection", { operationId }, error);
    }
  }

  /**
   * Polls the operation until it settles, the wait ends (still pending) or the
   * daemon's time runs out. The wait is `waitMs` (the relay's, or the
   * caller's), never past the request's deadline.
   */
  async waitFor(op: OperationRecord, waitMs: number = this.timings.waitMs): Promise<OperationRecord> {
    let deadline = Date.now() + Math.min(waitMs, this.timings.timeoutMs);
    if (this.deadline !== undefined) deadline = Math.min(deadline, this.deadline);
    // Short first polls: a daemon on the same network answers a diff in tens of milliseconds.
    let delay = 10;
    for (;;) {
      const current = await operations.getOperationRecord(this.db, op.ownerId, op.id);
      if (!current) throw new Error(`operation ${op.id} vanished`);
      if (current.status !== "pending") return current;
      if (Date.now() >= deadline) return this.expireIfOverdue(current);
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
      delay = Math.min(Math.ceil(delay * 1.3), 100);
    }
  }

  /** A pending operation past the daemon's time is settled as timed out, so nothing stays pending forever. */
  async expireIfOverdue(op: OperationRecord): Promise<OperationRecord> {
    if (op.status !== "pending") return op;
    if (this.db.clock().getTime() - Date.parse(op.createdAt) < this.timings.timeoutMs) return op;
    const error = { code: "daemon_timeout", message: `the daemon did not answer within ${this.timings.timeoutMs} ms` };
    await operations.settleOperation(this.db, op, { status: "timed_out", error });
    return (await operations.getOperationRecord(this.db, op.ownerId, op.id)) ?? op;
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
    return { pending: false, result: (await operations.operationResult(db, op)) as T };
  }
  if (op.status === "timed_out") {
    throw new DomainError(504, op.error?.code ?? "daemon_timeout", op.error?.message ?? "the daemon did not answer in time");
  }
  throw daemonFailure(op.error);
}

/** HTTP status of each failure code a daemon reports (see daemon/worktree/errors.ts); the rest are 502. */
const FAILURE_STATUS: Record<string, 400 | 404 | 409 | 503> = {
  invalid_input: 400,
  invalid_command: 400,
  foreign_changes: 409,
  task_running: 409,
  agent_running: 409,
  branch_exists: 409,
  worktree_exists: 409,
  not_a_commit: 409,
  safety_ref_missing: 409,
  no_daemon: 503,
};

/** A daemon's refusal or failure as the API's error: bad input 400, conflicts 409, the rest 502. */
function daemonFailure(error: { code: string; message: string } | undefined): DomainError {
  const code = error?.code ?? "daemon_error";
  return new DomainError(FAILURE_STATUS[code] ?? 502, code, error?.message ?? "the daemon reported a failure");
}
