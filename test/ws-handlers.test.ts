/**
 * The three WebSocket Lambdas invoked with genuine API Gateway event payloads
 * (test/fixtures/aws-events, AWS's own samples; see SOURCES.md),
 * against DynamoDB Local and s3rver. Only what a real event carries is
 * changed: the Authorization header and query string a daemon sends, and the
 * message body.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { APIGatewayProxyWebsocketEventV2 } from "aws-lambda";
import { createTestApi, type TestOwner } from "./support/api.js";
import { awsEvent } from "./support/fixtures.js";
import { createHandler as connectHandler, type ConnectEvent } from "../functions/ws-connect.js";
import { createHandler as disconnectHandler } from "../functions/ws-disconnect.js";
import { createHandler as messageHandler } from "../functions/ws-message.js";
import { getConnection, listConnections, putConnection } from "../core/store/connections.js";
import { injectFaults, throttled, unreachable } from "./support/faults.js";
import { createOperation, getOperationRecord } from "../core/store/operations.js";
import { keys } from "../core/keys.js";

const fixture = awsEvent;

let api: Awaited<ReturnType<typeof createTestApi>>;
let owner: TestOwner;
let connect: ReturnType<typeof connectHandler>;
let disconnect: ReturnType<typeof disconnectHandler>;
let message: ReturnType<typeof messageHandler>;

beforeAll(async () => {
  api = await createTestApi();
  owner = await api.newOwner("ws-handlers");
  connect = connectHandler(api.runtime);
  disconnect = disconnectHandler(api.runtime);
  message = messageHandler(api.runtime);
});

/** A $default event from ws-message.json on a connection of our own, carrying `body`. */
function messageEvent(connectionId: string, body: unknown): APIGatewayProxyWebsocketEventV2 {
  const event = fixture<APIGatewayProxyWebsocketEventV2>("ws-message.json");
  event.requestContext.connectionId = connectionId;
  event.body = typeof body === "string" ? body : JSON.stringify(body);
  return event;
}

/** A stored connection for `daemonId` (as $connect leaves it). */
async function connected(daemonId = randomUUID()): Promise<{ connectionId: string; daemonId: string }> {
  const connectionId = `${randomUUID().slice(0, 12)}=`;
  await putConnection(api.db, { connectionId, ownerId: owner.ownerId, daemonId, connectedAt: new Date().toISOString() });
  return { connectionId, daemonId };
}

describe("$connect (ws-connect)", () => {
  it("refuses the hybrid sample as it is (no key) with 401 and stores nothing", async () => {
    const event = fixture<ConnectEvent>("ws-connect.json");
    expect(event.requestContext.routeKey).toBe("$connect");
    const answer = await connect(event);
    expect(answer.statusCode).toBe(401);
    expect(JSON.parse(answer.body!).error.code).toBe("unauthorized");
    expect(await getConnection(api.db, event.requestContext.connectionId)).toBeUndefined();
  });

  it("accepts the hybrid sample with a daemon key and daemonId, and stores the connection", async () => {
    const event = fixture<ConnectEvent>("ws-connect.json");
    const daemonId = randomUUID();
    event.headers = { ...event.headers, Authorization: `Bearer ${owner.daemonKey}` };
    event.queryStringParameters = { ...event.queryStringParameters, daemonId };
    expect((await connect(event)).statusCode).toBe(200);
    const stored = await getConnection(api.db, event.requestContext.connectionId);
    expect(stored).toMatchObject({ connectionId: "TWegAcC4EowCHnA=", ownerId: owner.ownerId, daemonId });
  });

  it("on the captured sample (no queryStringParameters key at all): 400 without daemonId, 403 for a non-daemon key, 401 for a bad one", async () => {
    const base = fixture<ConnectEvent>("ws-connect-captured.json");
    expect("queryStringParameters" in base).toBe(false);
    const id = base.requestContext.connectionId;

    const noDaemonId = { ...base, headers: { ...base.headers, Authorization: `Bearer ${owner.daemonKey}` } };
    expect((await connect(noDaemonId)).statusCode).toBe(400);
    const apiKey = { ...base, headers: { ...base.headers, authorization: `Bearer ${owner.apiKey}` }, queryStringParameters: { daemonId: randomUUID() } };
    expect((await connect(apiKey)).statusCode).toBe(403);
    const badKey = { ...base, headers: { ...base.headers, Authorization: "Bearer mkd_not-a-key" }, queryStringParameters: { daemonId: randomUUID() } };
    expect((await connect(badKey)).statusCode).toBe(401);
    expect(await getConnection(api.db, id)).toBeUndefined();

    // A client that cannot set headers puts the key in the query string.
    const daemonId = randomUUID();
    const token = { ...base, queryStringParameters: { token: owner.daemonKey, daemonId } };
    expect((await connect(token)).statusCode).toBe(200);
    expect(await getConnection(api.db, id)).toMatchObject({ ownerId: owner.ownerId, daemonId });
  });
});

describe("$default (ws-message)", () => {
  it("answers 403 to a connection that never authenticated (the sample as it is)", async () => {
    const event = fixture<APIGatewayProxyWebsocketEventV2>("ws-message.json");
    expect(event.requestContext.eventType).toBe("MESSAGE");
    const answer = await message(event);
    expect(answer.statusCode).toBe(403);
  });

  it("validates the body against the protocol: the sample's {\"a\": 1} is refused with 400", async () => {
    const { connectionId } = await connected();
    const event = fixture<APIGatewayProxyWebsocketEventV2>("ws-message.json");
    event.requestContext.connectionId = connectionId;
    const answer = await message(event);
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body!).error.code).toBe("validation_failed");
    expect((await message(messageEvent(connectionId, "not json"))).statusCode).toBe(400);
    expect((await message(messageEvent(connectionId, { type: "checkpointCreated", taskId: randomUUID(), commitSha: "HEAD~1", branchName: "x", message: "m" }))).statusCode).toBe(400);
  });

  it("hello records hostname and version; heartbeat is accepted; a base64 (binary) body is read too", async () => {
    const { connectionId } = await connected();
    expect((await message(messageEvent(connectionId, { type: "hello", hostname: "box-1", version: "1.2.3" }))).statusCode).toBe(200);
    expect(await getConnection(api.db, connectionId)).toMatchObject({ hostname: "box-1", version: "1.2.3" });
    const binary = messageEvent(connectionId, "");
    binary.body = Buffer.from(JSON.stringify({ type: "heartbeat" })).toString("base64");
    binary.isBase64Encoded = true;
    expect((await message(binary)).statusCode).toBe(200);
  });

  it("taskMessages, checkpointCreated and taskStatus land as the HTTP endpoints store them, once even when resent", async () => {
    const { connectionId, daemonId } = await connected();
    const task = (await api.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p" } })).body;
    const batch = {
      type: "taskMessages",
      taskId: task.id,
      messages: [
        { id: "m-1", role: "user", content: "hello" },
        { id: "m-2", role: "assistant", content: "hi", toolCalls: [{ id: "c1", name: "read", input: { path: "a" } }] },
      ],
    };
    expect((await message(messageEvent(connectionId, batch))).statusCode).toBe(200);
    expect((await message(messageEvent(connectionId, batch))).statusCode).toBe(200);
    const conversation = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation`, { key: owner.apiKey })).body;
    expect(conversation.messages.map((m: { id: string }) => m.id)).toEqual(["m-1", "m-2"]);

    const sha = "a".repeat(40);
    const report = { type: "checkpointCreated", taskId: task.id, commitSha: sha, branchName: "main", message: "first", linesAdded: 3, linesRemoved: 1, filesChanged: ["a.txt"] };
    expect((await message(messageEvent(connectionId, report))).statusCode).toBe(200);
    expect((await message(messageEvent(connectionId, report))).statusCode).toBe(200);
    const checkpoints = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: owner.apiKey })).body.items;
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]).toMatchObject({ checkpointNumber: 1, commitSha: sha, branchName: "main", message: "first", linesAdded: 3, messageCount: 2 });
    // With its snapshot, as POST …/checkpoints takes one.
    const snapshot = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/snapshots/${checkpoints[0].conversationSnapshotId}`, { key: owner.apiKey })).body;
    expect(snapshot).toMatchObject({ snapshotType: "checkpoint", messageCount: 2, checkpointId: checkpoints[0].id });

    expect((await message(messageEvent(connectionId, { type: "taskStatus", taskId: task.id, status: "completed" }))).statusCode).toBe(200);
    const after = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey })).body;
    expect(after).toMatchObject({ status: "completed", daemonId, messageCount: 2 });

    const history = (await api.call("GET", `/api/v1/timeline?eventTypes=checkpoint,chat,task`, { key: owner.apiKey })).body.items.filter(
      (e: { taskId?: string }) => e.taskId === task.id,
    );
    expect(history.map((e: { eventType: string; eventSubtype: string }) => `${e.eventType}/${e.eventSubtype}`).sort()).toEqual(
      ["chat/messages", "checkpoint/created", "task/completed", "task/created"].sort(),
    );
  });

  it("reports about another owner's task are refused (404) and change nothing", async () => {
    const other = await api.newOwner("other");
    const theirs = (await api.call("POST", "/api/v1/mesh/tasks", { key: other.apiKey, body: { name: "x", plan: "y" } })).body;
    const { connectionId } = await connected();
    const answer = await message(messageEvent(connectionId, { type: "taskStatus", taskId: theirs.id, status: "failed" }));
    expect(answer.statusCode).toBe(404);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${theirs.id}`, { key: other.apiKey })).body.status).toBe("pending");
  });

  it("a reply settles its operation once, records its effect once, and only from the daemon it was sent to", async () => {
    const { connectionId, daemonId } = await connected();
    const intruder = await connected();
    const task = (await api.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p" } })).body;
    const op = await createOperation(api.db, {
      id: randomUUID(),
      ownerId: owner.ownerId,
      commandType: "createBranch",
      daemonId,
      context: { taskId: task.id, checkpointId: randomUUID(), checkpointNumber: 1, actor: "test" },
    });
    const reply = { type: "branchCreated", requestId: op.id, taskId: task.id, success: true, branchName: "feature/x", commitSha: "b".repeat(40) };

    expect((await message(messageEvent(intruder.connectionId, { ...reply, branchName: "evil" }))).statusCode).toBe(200);
    expect((await getOperationRecord(api.db, owner.ownerId, op.id))!.status).toBe("pending");

    await Promise.all([message(messageEvent(connectionId, reply)), message(messageEvent(connectionId, reply)), message(messageEvent(connectionId, reply))]);
    const settled = await getOperationRecord(api.db, owner.ownerId, op.id);
    expect(settled).toMatchObject({ status: "succeeded", result: { branchName: "feature/x" } });
    const events = (await api.call("GET", `/api/v1/timeline?eventTypes=checkpoint`, { key: owner.apiKey })).body.items.filter(
      (e: { taskId?: string; eventSubtype: string }) => e.taskId === task.id && e.eventSubtype === "branch_created",
    );
    expect(events).toHaveLength(1);
  });

  it("an error message with a requestId fails that operation with the daemon's code", async () => {
    const { connectionId, daemonId } = await connected();
    const op = await createOperation(api.db, { id: randomUUID(), ownerId: owner.ownerId, commandType: "createBranch", daemonId });
    const error = { type: "error", requestId: op.id, code: "invalid_input", message: "Invalid branch name \"a..b\"" };
    expect((await message(messageEvent(connectionId, error))).statusCode).toBe(200);
    expect(await getOperationRecord(api.db, owner.ownerId, op.id)).toMatchObject({ status: "failed", error: { code: "invalid_input" } });
  });
});

describe("$disconnect (ws-disconnect)", () => {
  it("removes the sample's connection and times out the operations its daemon had not answered", async () => {
    const event = fixture<APIGatewayProxyWebsocketEventV2>("ws-disconnect.json");
    expect(event.requestContext.eventType).toBe("DISCONNECT");
    const connectionId = event.requestContext.connectionId;
    const daemonId = randomUUID();
    await putConnection(api.db, { connectionId, ownerId: owner.ownerId, daemonId, connectedAt: new Date().toISOString() });
    const op = await createOperation(api.db, { id: randomUUID(), ownerId: owner.ownerId, commandType: "getCheckpointDiff", daemonId });
    // What the relay writes after posting the command on this connection.
    await api.db.table.update(keys.connection(connectionId), { UpdateExpression: "ADD pendingOps :o", ExpressionAttributeValues: { ":o": new Set([op.id]) } });

    expect((await disconnect(event)).statusCode).toBe(200);
    expect(await getConnection(api.db, connectionId)).toBeUndefined();
    expect(await getOperationRecord(api.db, owner.ownerId, op.id)).toMatchObject({ status: "timed_out", error: { code: "daemon_disconnected" } });
    // A second delivery of the same event is harmless.
    expect((await disconnect(event)).statusCode).toBe(200);
  });
});

describe("storage outages and expired records", () => {
  it("each handler answers an outage of DynamoDB with 503 unavailable, never a throw", async () => {
    const live = await connected();
    const event = fixture<ConnectEvent>("ws-connect.json");
    event.requestContext.connectionId = `${randomUUID().slice(0, 12)}=`;
    event.headers = { ...event.headers, Authorization: `Bearer ${owner.daemonKey}` };
    event.queryStringParameters = { ...event.queryStringParameters, daemonId: randomUUID() };
    const gone = fixture<APIGatewayProxyWebsocketEventV2>("ws-disconnect.json");
    gone.requestContext.connectionId = live.connectionId;
    for (const error of [throttled, unreachable]) {
      const faults = injectFaults(api.db.table.doc);
      faults.fail({ command: "*", error });
      try {
        const answers = [
          await connect(event),
          await message(messageEvent(live.connectionId, { type: "heartbeat" })),
          await disconnect(gone),
        ];
        for (const answer of answers) {
          expect(answer.statusCode).toBe(503);
          expect(JSON.parse(answer.body!).error.code).toBe("unavailable");
        }
      } finally {
        faults.restore();
      }
    }
    // Nothing was lost meanwhile: the connection is still there, and answers again.
    expect((await message(messageEvent(live.connectionId, { type: "heartbeat" }))).statusCode).toBe(200);
  });

  it("a connection past its expiresAt is gone: its messages are refused and it is not listed", async () => {
    const daemonId = randomUUID();
    const connectionId = `${randomUUID().slice(0, 12)}=`;
    // Connected four hours ago: past the three hours a connection is kept (API Gateway closes one after two).
    const connectedAt = new Date(Date.now() - 4 * 3600_000).toISOString();
    await putConnection(api.db, { connectionId, ownerId: owner.ownerId, daemonId, connectedAt });
    expect(await getConnection(api.db, connectionId)).toBeUndefined();
    const answer = await message(messageEvent(connectionId, { type: "heartbeat" }));
    expect(answer.statusCode).toBe(403);
    expect(JSON.parse(answer.body!).error.code).toBe("unknown_connection");
    expect((await listConnections(api.db, owner.ownerId)).map((c) => c.connectionId)).not.toContain(connectionId);
  });
});
