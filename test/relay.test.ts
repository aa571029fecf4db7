/**
 * The relay through the local WebSocket gateway: the HTTP API posts commands
 * with the real @aws-sdk/client-apigatewaymanagementapi client, the gateway
 * calls the ws-* handlers with API Gateway-shaped events, and scripted
 * daemons (plain WebSocket clients) answer late, never, or vanish, so that
 * every timing and failure path can be produced on demand. The real daemon is
 * exercised in daemon.test.ts.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { getConnection, putConnection } from "../core/store/connections.js";
import { getOperationRecord } from "../core/store/operations.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A task with two checkpoints at made-up commits (a scripted daemon has no repository). */
async function taskWithCheckpoints(env: RelayEnv, owner: TestOwner) {
  const task = (await env.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p" } })).body;
  const cps = [];
  for (const [i, sha] of ["1".repeat(40), "2".repeat(40)].entries()) {
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, {
      key: owner.apiKey,
      body: { commitSha: sha, branchName: "main", message: `cp ${i + 1}` },
    });
    expect(res.status).toBe(201);
    cps.push(res.body.checkpoint);
  }
  return { task, cps };
}

/** Answers every command the way a daemon that did the work would. */
function successFor(command: any): any {
  const base = { requestId: command.requestId, taskId: command.taskId, success: true };
  switch (command.type) {
    case "createBranch":
      return { type: "branchCreated", ...base, branchName: command.branchName, commitSha: command.commitSha };
    case "spawnTask":
      return { type: "taskSpawned", ...base, branchName: command.branchName ?? "main", commitSha: command.commitSha ?? "3".repeat(40) };
    case "rewindToCheckpoint":
      return { type: "rewindResult", ...base, message: "rewound", safetyRef: `refs/makima/safety/${command.taskId}/s1` };
    case "getCheckpointDiff":
      return { type: "checkpointDiffResult", ...base, diff: { files: [], stats: { filesChanged: 0, insertions: 0, deletions: 0 } } };
    default:
      throw new Error(`unexpected ${command.type}`);
  }
}

const answerNow = (command: any, ws: WebSocket) => ws.send(JSON.stringify(successFor(command)));

describe("relay with prompt, late and silent daemons", () => {
  let env: RelayEnv;
  let owner: TestOwner;
  beforeAll(async () => {
    // Requests wait 400 ms, daemons get 2.5 s: both the 202 and the timeout paths are reachable.
    env = await createRelayEnv({ relayWaitMs: 400, relayTimeoutMs: 2500 });
    owner = await env.newOwner("relay");
  });
  afterAll(() => env.close());

  it("refuses a bad, missing or non-daemon key at the upgrade with its HTTP status, and stores nothing", async () => {
    const attempt = (headers: Record<string, string>, query = `daemonId=${randomUUID()}`) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${env.gateway.url}/?${query}`, { headers });
        ws.on("unexpected-response", (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on("open", () => reject(new Error("the upgrade was accepted")));
        ws.on("error", () => undefined);
      });
    expect(await attempt({ Authorization: "Bearer mkd_wrong" })).toBe(401);
    expect(await attempt({})).toBe(401);
    expect(await attempt({ Authorization: `Bearer ${owner.apiKey}` })).toBe(403);
    expect(await attempt({ Authorization: `Bearer ${owner.daemonKey}` }, "")).toBe(400);
    expect((await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items).toEqual([]);
    expect(env.gateway.connectionIds()).toEqual([]);
  });

  it("no daemon online: 503", async () => {
    const lonely = await env.newOwner("lonely");
    const { task, cps } = await taskWithCheckpoints(env, lonely);
    const res = await env.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, { key: lonely.apiKey });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("no_daemon");
  });

  it("a reply slower than the wait: 202 with an operation, which the reply settles", async () => {
    const o = await env.newOwner("late");
    const daemon = await env.scriptedDaemon(o, randomUUID(), async (command, ws) => {
      await sleep(1200);
      ws.send(JSON.stringify(successFor(command)));
    });
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, { key: o.apiKey });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: "pending", statusUrl: `/api/v1/operations/${res.body.operationId}` });
    expect(res.body.operationId).toBe(daemon.received[0].requestId);
    expect((await env.call("GET", res.body.statusUrl, { key: o.apiKey })).body.status).toBe("pending");
    const done = await waitFor(async () => {
      const op = (await env.call("GET", res.body.statusUrl, { key: o.apiKey })).body;
      return op.status !== "pending" && op;
    });
    expect(done).toMatchObject({ status: "succeeded", commandType: "getCheckpointDiff", result: { taskId: task.id, checkpointId: cps[1].id, previousSha: "1".repeat(40) } });
    // Another owner cannot see it.
    const stranger = await env.newOwner("stranger");
    expect((await env.call("GET", res.body.statusUrl, { key: stranger.apiKey })).status).toBe(404);
  });

  it("a daemon that never answers: the operation times out (nothing stays pending)", async () => {
    const o = await env.newOwner("silent");
    const daemon = await env.scriptedDaemon(o, randomUUID());
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, { key: o.apiKey });
    expect(res.status).toBe(202);
    await sleep(2600);
    const op = (await env.call("GET", res.body.statusUrl, { key: o.apiKey })).body;
    expect(op).toMatchObject({ status: "timed_out", error: { code: "daemon_timeout" } });
    expect(daemon.received).toHaveLength(1);
  });

  it("a daemon that vanishes mid-command: 504 at once, the operation timed out", async () => {
    const o = await env.newOwner("vanishing");
    const daemon = await env.scriptedDaemon(o, randomUUID(), (_command, ws) => ws.terminate());
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/branch`, { key: o.apiKey, body: { branchName: "x" } });
    // Settled by $disconnect, normally within the request's 400 ms wait (a loaded machine may need longer: then 202).
    // daemon.test.ts checks the 504 with a real daemon process and a long wait.
    expect([504, 202]).toContain(res.status);
    if (res.status === 504) expect(res.body.error.code).toBe("daemon_disconnected");
    const opId = daemon.received[0].requestId;
    const op = await waitFor(async () => {
      const r = await getOperationRecord(env.db, o.ownerId, opId);
      return r?.status !== "pending" && r;
    });
    // Not the relay's timeout: the disconnect.
    expect(op).toMatchObject({ status: "timed_out", error: { code: "daemon_disconnected" } });
  });

  it("a reply after the timeout still records what the daemon did (a rewind stays undoable)", async () => {
    const o = await env.newOwner("after-timeout");
    await env.scriptedDaemon(o, randomUUID(), async (command, ws) => {
      await sleep(3500);
      ws.send(JSON.stringify(successFor(command)));
    });
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: o.apiKey, body: { checkpointId: cps[0].id, preserveMode: "discard" } });
    expect(res.status).toBe(202);
    // Polled past the daemon's 2.5 s: timed out, and the client is told so.
    await sleep(2600);
    expect((await env.call("GET", res.body.statusUrl, { key: o.apiKey })).body.status).toBe("timed_out");
    const event = await waitFor(async () => {
      const items = (await env.call("GET", `/api/v1/timeline?eventTypes=rewind`, { key: o.apiKey })).body.items;
      return items.find((e: any) => e.taskId === task.id && e.eventSubtype === "code");
    });
    expect(event.eventData.safetyRef).toBe(`refs/makima/safety/${task.id}/s1`);
    expect((await env.call("GET", res.body.statusUrl, { key: o.apiKey })).body.status).toBe("timed_out");
  });

  it("a conversation rewind with the code is undone when the code cannot go back, and goes through with force", async () => {
    const o = await env.newOwner("both-or-neither");
    await env.scriptedDaemon(o, randomUUID(), (command, ws) => {
      const refused = !command.force;
      ws.send(
        JSON.stringify(
          refused
            ? { type: "rewindResult", requestId: command.requestId, taskId: command.taskId, success: false, message: "refused", foreignChanges: ["notes.txt"] }
            : { type: "rewindResult", requestId: command.requestId, taskId: command.taskId, success: true, message: "ok", safetyRef: `refs/makima/safety/${command.taskId}/1` },
        ),
      );
    });
    const { task } = await taskWithCheckpoints(env, o);
    const messages = [1, 2, 3].map((i) => ({ role: "user", content: `m${i}` }));
    await env.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: o.apiKey, body: { messages } });
    const rewind = (force?: boolean) =>
      env.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: o.apiKey, body: { byMessageCount: 3, rewindCode: true, force } });
    // The daemon answers at once, but a loaded machine may still answer the request first (codeRewind pending): follow it then.
    const settled = async (res: { status: number; body: any }) => {
      const pending = res.status === 200 && res.body.codeRewind?.status === "pending" ? res.body.codeRewind.operationId : undefined;
      if (!pending) return res;
      const op = await waitFor(async () => {
        const o2 = (await env.call("GET", `/api/v1/operations/${pending}`, { key: o.apiKey })).body;
        return o2.status !== "pending" ? o2 : undefined;
      }, 15_000, "the code rewind");
      return op.status === "succeeded" ? { status: 200, body: { ...res.body, codeRewind: op.result } } : { status: 409, body: { error: op.error } };
    };
    const refused = await settled(await rewind());
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("foreign_changes");
    expect((await env.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: o.apiKey })).body.messageCount).toBe(3);
    const forced = await settled(await rewind(true));
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ messageCount: 0, hiddenCount: 3, codeRewind: { safetyRef: `refs/makima/safety/${task.id}/1` } });
    await waitFor(async () => (await env.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: o.apiKey })).body.messageCount === 0, 15_000, "the cut");
  });
});

describe("relay with a daemon that answers promptly", () => {
  let env: RelayEnv;
  let owner: TestOwner;
  beforeAll(async () => {
    // A wait far longer than any answer, so that what is checked is the answer itself, however loaded the machine.
    env = await createRelayEnv({ relayWaitMs: 30_000, relayTimeoutMs: 60_000 });
    owner = await env.newOwner("prompt");
  });
  afterAll(() => env.close());

  it("a prompt reply answers the request itself", async () => {
    const daemonId = randomUUID();
    const daemon = await env.scriptedDaemon(owner, daemonId, answerNow);
    const { task, cps } = await taskWithCheckpoints(env, owner);
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/branch`, {
      key: owner.apiKey,
      body: { branchName: "feature/one" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ branchName: "feature/one", commitSha: "1".repeat(40) });
    expect(daemon.received.map((c) => c.type)).toEqual(["createBranch"]);
    daemon.ws.close();
    await waitFor(async () => !(await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.some((d: any) => d.daemonId === daemonId));
  });


  it("a daemon's refusal maps to the API's status: invalid input 400, conflicts 409", async () => {
    const o = await env.newOwner("refusals");
    await env.scriptedDaemon(o, randomUUID(), (command, ws) => {
      const code = command.branchName === "taken" ? "branch_exists" : "invalid_input";
      ws.send(JSON.stringify({ type: "error", requestId: command.requestId, code, message: `refused ${command.branchName}` }));
    });
    const { task, cps } = await taskWithCheckpoints(env, o);
    const branch = (name: string) =>
      env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/branch`, { key: o.apiKey, body: { branchName: name } });
    const bad = await branch("odd");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ code: "invalid_input", message: "refused odd" });
    expect((await branch("taken")).status).toBe(409);
  });

});

describe("relay across connections and daemons", () => {
  let env: RelayEnv;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 3000, relayTimeoutMs: 3000 });
  });
  afterAll(() => env.close());

  it("a stale connection (410 Gone) is removed and the next daemon answers; with only stale ones, 503", async () => {
    const o = await env.newOwner("stale");
    const live = await env.scriptedDaemon(o, randomUUID(), answerNow);
    // Newer than the live one, so it is tried first.
    const staleId = "StaleConn0001=";
    await putConnection(env.db, { connectionId: staleId, ownerId: o.ownerId, daemonId: randomUUID(), connectedAt: new Date(Date.now() + 60_000).toISOString() });
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/branch`, { key: o.apiKey, body: { branchName: "b1" } });
    expect(res.status).toBe(201);
    expect(live.received).toHaveLength(1);
    expect(await getConnection(env.db, staleId)).toBeUndefined();

    live.ws.close();
    await waitFor(async () => (await env.call("GET", "/api/v1/daemons", { key: o.apiKey })).body.items.length === 0);
    await putConnection(env.db, { connectionId: "StaleConn0002=", ownerId: o.ownerId, daemonId: randomUUID(), connectedAt: new Date().toISOString() });
    const none = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/branch`, { key: o.apiKey, body: { branchName: "b2" } });
    expect(none.status).toBe(503);
    expect(await getConnection(env.db, "StaleConn0002=")).toBeUndefined();
  });

  it("targetDaemonId sends to that daemon only; the source task's daemon is preferred otherwise; an offline target is 503", async () => {
    const o = await env.newOwner("two-daemons");
    const aId = randomUUID();
    const bId = randomUUID();
    const a = await env.scriptedDaemon(o, aId, answerNow);
    const b = await env.scriptedDaemon(o, bId, answerNow);
    const { task, cps } = await taskWithCheckpoints(env, o);
    const fork = (extra: Record<string, unknown>) =>
      env.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
        key: o.apiKey,
        body: { forkFromType: "checkpoint", forkFromValue: cps[0].id, newTaskName: "f", newTaskPlan: "p", createBranch: false, ...extra },
      });

    const toB = await fork({ targetDaemonId: bId });
    expect(toB.status).toBe(201);
    await waitFor(() => b.received.length === 1);
    expect(b.received[0]).toMatchObject({ type: "spawnTask", taskId: toB.body.task.id, sourceTaskId: task.id, commitSha: "1".repeat(40) });
    expect(a.received).toHaveLength(0);
    await waitFor(async () => (await env.call("GET", `/api/v1/mesh/tasks/${toB.body.task.id}`, { key: o.apiKey })).body.daemonId === bId);

    // The source task ran on A: a fork without a target goes there (its repository is there).
    expect((await env.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: o.apiKey, body: { daemonId: aId } })).status).toBe(200);
    const toA = await fork({});
    expect(toA.status).toBe(201);
    await waitFor(() => a.received.length === 1);
    expect(a.received[0]).toMatchObject({ type: "spawnTask", taskId: toA.body.task.id });
    expect(b.received).toHaveLength(1);

    const offline = await fork({ targetDaemonId: randomUUID() });
    expect(offline.status).toBe(503);
  });

  it("a task waiting for a daemon starts when one says hello", async () => {
    const o = await env.newOwner("awaiting");
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/resume`, { key: o.apiKey, body: { plan: "go on" } });
    expect(res.status).toBe(201);
    expect(res.body.task.status).toBe("pending");
    const daemon = await env.scriptedDaemon(o, randomUUID(), answerNow);
    await waitFor(() => daemon.received.some((c) => c.type === "spawnTask" && c.taskId === res.body.task.id));
    await waitFor(async () => (await env.call("GET", `/api/v1/mesh/tasks/${res.body.task.id}`, { key: o.apiKey })).body.status === "running");
  });

  it("a plan too long for a WebSocket message reaches the daemon through S3", async () => {
    const o = await env.newOwner("long-plan");
    const daemon = await env.scriptedDaemon(o, randomUUID(), answerNow);
    const { task, cps } = await taskWithCheckpoints(env, o);
    const plan = "étape\n".repeat(8000); // 48,000 characters, ~112 KB as JSON
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[0].id}/resume`, { key: o.apiKey, body: { plan } });
    expect(res.status).toBe(201);
    const spawn = await waitFor(() => daemon.received.find((c) => c.type === "spawnTask" && c.taskId === res.body.task.id));
    expect(spawn.plan).toBe("");
    const brief = (await (await fetch(spawn.briefUrl)).json()) as { plan: string };
    expect(brief.plan).toBe(plan);
    expect(env.gateway.stats.maxOutboundBytes).toBeLessThan(100 * 1024);
  });
});

describe("the local gateway as API Gateway", () => {
  let env: RelayEnv;
  let client: ApiGatewayManagementApiClient;
  beforeAll(async () => {
    env = await createRelayEnv();
    client = new ApiGatewayManagementApiClient({
      endpoint: env.gateway.managementEndpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
  });
  afterAll(() => env.close());

  it("serves @connections to the real SDK client: Get, Post, Delete; Gone and too large as AWS answers them", async () => {
    const o = await env.newOwner("management");
    const daemonId = randomUUID();
    const { ws } = await env.scriptedDaemon(o, daemonId);
    const [connectionId] = env.gateway.connectionIds();
    expect(connectionId).toMatch(/^[A-Za-z0-9+_]{15}=$/);

    const info = await client.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.Identity?.SourceIp).toBe("127.0.0.1");

    const got = new Promise<string>((resolve) => ws.once("message", (data) => resolve(data.toString())));
    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{"hi":1}') }));
    expect(await got).toBe('{"hi":1}');

    await expect(client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.alloc(129 * 1024, 0x61) }))).rejects.toMatchObject({
      name: "PayloadTooLargeException",
    });
    await expect(client.send(new PostToConnectionCommand({ ConnectionId: "NoSuchConn000=", Data: Buffer.from("{}") }))).rejects.toMatchObject({
      name: "GoneException",
      $metadata: { httpStatusCode: 410 },
    });

    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    await closed;
    // $disconnect ran: the connection record is gone.
    await waitFor(async () => !(await getConnection(env.db, connectionId!)));
  });

  it("sends a message's answer back on its connection, like API Gateway's $default route response", async () => {
    const o = await env.newOwner("route-response");
    const { ws } = await env.scriptedDaemon(o, randomUUID());
    const answers: unknown[] = [];
    ws.on("message", (data) => answers.push(JSON.parse(data.toString())));
    ws.send("not json");
    ws.send(JSON.stringify({ type: "progress", taskId: "not-a-uuid" }));
    await waitFor(async () => answers.length >= 2);
    const codes = answers.map((a) => (a as { error?: { code?: string } }).error?.code).sort();
    expect(codes).toEqual(["malformed_json", "validation_failed"]);
  });

  it("closes a connection that sends a message over 128 KB (1009), like API Gateway", async () => {
    const o = await env.newOwner("big-message");
    const { ws } = await env.scriptedDaemon(o, randomUUID());
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send("x".repeat(129 * 1024));
    expect(await closed).toBe(1009);
  });
});

describe("relay bounded by the invocation, followed by long polls", () => {
  let env: RelayEnv;
  beforeAll(async () => {
    // The relay's own wait is far longer than any test: only the invocation's remaining time can end it.
    env = await createRelayEnv({ relayWaitMs: 60_000, relayTimeoutMs: 120_000 });
  });
  afterAll(() => env.close());

  /** A request as the Lambda adapter hands it over: with the invocation's remaining time. */
  async function invoke(path: string, key: string, remainingMs: number) {
    const res = await env.app.request(path, { headers: { authorization: `Bearer ${key}` } }, { lambdaContext: { getRemainingTimeInMillis: () => remainingMs } });
    return { status: res.status, body: (await res.json()) as any };
  }

  it("the wait for a daemon ends before the invocation does: 202, not a timeout", async () => {
    const o = await env.newOwner("bounded");
    const daemon = await env.scriptedDaemon(o, randomUUID());
    const { task, cps } = await taskWithCheckpoints(env, o);
    const res = await invoke(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, o.apiKey, 2_500);
    expect(res.status).toBe(202);
    expect(res.body.operationId).toBe(daemon.received[0].requestId);
  });

  it("GET /operations/{id}?wait= answers as soon as the daemon's reply settles the operation", async () => {
    const o = await env.newOwner("long-poll");
    // The daemon answers only once the request has given up waiting (202) and the long poll has begun.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    await env.scriptedDaemon(o, randomUUID(), async (command, ws) => {
      await answered;
      ws.send(JSON.stringify(successFor(command)));
    });
    const { task, cps } = await taskWithCheckpoints(env, o);
    const first = await invoke(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, o.apiKey, 1_600);
    expect(first.status).toBe(202);
    expect((await env.call("GET", first.body.statusUrl, { key: o.apiKey })).body.status).toBe("pending");
    const polled = env.call("GET", `${first.body.statusUrl}?wait=15`, { key: o.apiKey });
    answer();
    const op = await polled;
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({ status: "succeeded", result: { taskId: task.id, checkpointId: cps[1].id } });
  });

  it("a long poll still ends with the invocation, and asks for at most 20 s", async () => {
    const o = await env.newOwner("long-poll-bounded");
    await env.scriptedDaemon(o, randomUUID());
    const { task, cps } = await taskWithCheckpoints(env, o);
    const first = await invoke(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cps[1].id}/diff`, o.apiKey, 1_600);
    expect(first.status).toBe(202);
    const polled = await invoke(`${first.body.statusUrl}?wait=20`, o.apiKey, 2_500);
    expect(polled).toMatchObject({ status: 200, body: { status: "pending" } });
    for (const wait of ["21", "-1", "x"]) {
      const res = await env.call("GET", `${first.body.statusUrl}?wait=${wait}`, { key: o.apiKey });
      expect(res.status).toBe(400);
    }
  });
});
