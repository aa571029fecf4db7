import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import { createTestApi, type TestOwner } from "./support/api.js";
import { injectFaults, serviceUnavailable, throttled, unreachable } from "./support/faults.js";
import { putConnection } from "../core/store/connections.js";
import { createOperation, settleOperation } from "../core/store/operations.js";
import { keys } from "../core/keys.js";
import type { ConnectionPoster } from "../core/relay.js";

/**
 * The task lifecycle and rewinds under failure: each `describe` is one of the
 * ways a task used to get stuck or a record used to go wrong, by name.
 */

type Env = RelayEnv;

async function newTask(env: Pick<Env, "call">, owner: TestOwner, body: Record<string, unknown> = {}) {
  const res = await env.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p", ...body } });
  expect(res.status).toBe(201);
  return res.body;
}

async function append(env: Pick<Env, "call">, owner: TestOwner, taskId: string, ...contents: string[]) {
  const res = await env.call("POST", `/api/v1/mesh/tasks/${taskId}/messages`, {
    key: owner.apiKey,
    body: { messages: contents.map((content) => ({ role: "assistant", content })) },
  });
  expect(res.status).toBe(201);
}

async function checkpoint(env: Pick<Env, "call">, owner: TestOwner, taskId: string, digit: string) {
  const res = await env.call("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, {
    key: owner.apiKey,
    body: { commitSha: digit.repeat(40), branchName: "main", message: `at ${digit}` },
  });
  expect(res.status).toBe(201);
  return res.body.checkpoint;
}

const getTask = async (env: Pick<Env, "call">, owner: TestOwner, id: string) =>
  (await env.call("GET", `/api/v1/mesh/tasks/${id}`, { key: owner.apiKey })).body;

const events = async (env: Pick<Env, "call">, owner: TestOwner, id: string, type: string) =>
  (await env.call("GET", `/api/v1/mesh/tasks/${id}/history?eventTypes=${type}&limit=200`, { key: owner.apiKey })).body.items as any[];

function spawned(command: any, success = true) {
  return { type: "taskSpawned", requestId: command.requestId, taskId: command.taskId, success, branchName: command.branchName, commitSha: command.commitSha ?? "3".repeat(40) };
}

const send = (ws: WebSocket, message: unknown) => ws.send(JSON.stringify(message));

describe("Forks and resumes stuck in pending forever", () => {
  let env: Env;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 3000, relayTimeoutMs: 4000 });
  });
  afterAll(() => env.close());

  it("forking the same checkpoint twice starts both forks, each on its own branch", async () => {
    const owner = await env.newOwner();
    const daemon = await env.scriptedDaemon(owner, randomUUID(), (c, ws) => send(ws, spawned(c)));
    const parent = await newTask(env, owner);
    await checkpoint(env, owner, parent.id, "1");
    const fork = () =>
      env.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
        key: owner.apiKey,
        body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "try another way" },
      });
    const [a, b] = [await fork(), await fork()];
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.branchName).not.toBe(b.body.branchName);
    expect([a.body.start, b.body.start]).toEqual(["starting", "starting"]);
    for (const f of [a, b]) await waitFor(async () => (await getTask(env, owner, f.body.task.id)).status === "running", 15_000, "fork running");
    const branches = daemon.received.filter((c) => c.type === "spawnTask").map((c) => c.branchName);
    expect(new Set(branches).size).toBe(2);
  });

  it("a branch name already taken is refused before anything is created", async () => {
    const owner = await env.newOwner();
    const parent = await newTask(env, owner);
    await checkpoint(env, owner, parent.id, "1");
    const fork = () =>
      env.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
        key: owner.apiKey,
        body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p", branchName: "feature/alt" },
      });
    expect((await fork()).status).toBe(201);
    const again = await fork();
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("branch_exists");
    const forks = await env.call("GET", `/api/v1/mesh/tasks/${parent.id}/forks`, { key: owner.apiKey });
    expect(forks.body.items).toHaveLength(1);
    expect(await events(env, owner, parent.id, "fork")).toHaveLength(1);
  });

  it("a failed start puts the task back to wait with the reason, and after three attempts marks it failed", async () => {
    const owner = await env.newOwner();
    const daemon = await env.scriptedDaemon(owner, randomUUID(), (c, ws) =>
      send(ws, { type: "error", requestId: c.requestId, code: "branch_exists", message: `branch ${c.branchName} already exists` }),
    );
    const parent = await newTask(env, owner);
    await checkpoint(env, owner, parent.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p" },
    });
    expect(res.status).toBe(201);
    const id = res.body.task.id;
    const first = await waitFor(async () => {
      const t = await getTask(env, owner, id);
      return t.lastStartError ? t : undefined;
    }, 15_000, "the first start to fail");
    expect(first).toMatchObject({ status: "pending", startAttempts: 1, lastStartError: { code: "branch_exists", attempt: 1 } });
    expect(first.startingOperationId).toBeUndefined();
    expect((await events(env, owner, id, "task")).filter((e) => e.eventSubtype === "start_failed")).toHaveLength(1);

    // Each hello is a new chance; the third failure is the last.
    for (const attempt of [2, 3]) {
      send(daemon.ws, { type: "hello", hostname: "again", version: "test" });
      await waitFor(async () => (await getTask(env, owner, id)).lastStartError?.attempt === attempt, 15_000, `attempt ${attempt}`);
    }
    const failed = await getTask(env, owner, id);
    expect(failed).toMatchObject({ status: "failed", startAttempts: 3 });
    const taskEvents = await events(env, owner, id, "task");
    expect(taskEvents.filter((e) => e.eventSubtype === "start_failed")).toHaveLength(3);
    expect(taskEvents.filter((e) => e.eventSubtype === "failed")).toHaveLength(1);
    // Failed is final: another hello does not send it again.
    const sent = daemon.received.filter((c) => c.type === "spawnTask").length;
    send(daemon.ws, { type: "hello", hostname: "again", version: "test" });
    await waitFor(async () => (await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.some((d: any) => d.hostname === "again"));
    expect(daemon.received.filter((c) => c.type === "spawnTask")).toHaveLength(sent);
    expect(sent).toBe(3);
  });

  it("a start whose daemon disconnects before answering goes back to wait, and the next daemon starts it", async () => {
    const owner = await env.newOwner();
    const silent = await env.scriptedDaemon(owner, randomUUID());
    const parent = await newTask(env, owner);
    await checkpoint(env, owner, parent.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p" },
    });
    const id = res.body.task.id;
    await waitFor(() => silent.received.some((c) => c.type === "spawnTask"), 10_000, "the start to be sent");
    silent.ws.close();
    const waiting = await waitFor(async () => {
      const t = await getTask(env, owner, id);
      return t.lastStartError ? t : undefined;
    }, 15_000, "the start to be given up");
    expect(waiting).toMatchObject({ status: "pending", lastStartError: { code: "daemon_disconnected" } });
    await env.scriptedDaemon(owner, randomUUID(), (c, ws) => send(ws, spawned(c)));
    await waitFor(async () => (await getTask(env, owner, id)).status === "running", 15_000, "started by the next daemon");
  });
});

describe("Started twice, or in the wrong place", () => {
  let env: Env;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 3000, relayTimeoutMs: 60_000 });
  });
  afterAll(() => env.close());

  it("two daemons saying hello at once start a waiting task once", async () => {
    const owner = await env.newOwner();
    const parent = await newTask(env, owner);
    await checkpoint(env, owner, parent.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p" },
    });
    expect(res.body.start).toBe("waiting");
    const daemons = await Promise.all([1, 2, 3].map(() => env.scriptedDaemon(owner, randomUUID())));
    // Every daemon has said hello (scriptedDaemon waits for it); say it again, all at once.
    for (const d of daemons) send(d.ws, { type: "hello", hostname: "again", version: "test" });
    await waitFor(() => daemons.some((d) => d.received.some((c) => c.type === "spawnTask")), 10_000, "the start to arrive");
    await waitFor(async () => (await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.filter((d: any) => d.hostname === "again").length === 3);
    const spawns = daemons.flatMap((d) => d.received.filter((c) => c.type === "spawnTask"));
    expect(spawns).toHaveLength(1);
  });

  it("an in-place resume goes only to the daemon holding the worktree", async () => {
    const owner = await env.newOwner();
    const holder = randomUUID();
    const task = await newTask(env, owner);
    await env.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey, body: { status: "interrupted", daemonId: holder } });
    const other = await env.scriptedDaemon(owner, randomUUID(), (c, ws) => send(ws, spawned(c)));
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: owner.apiKey, body: { mode: "with_context" } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("pending");
    send(other.ws, { type: "hello", hostname: "again", version: "test" });
    await waitFor(async () => (await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.some((d: any) => d.hostname === "again"));
    expect(other.received.filter((c) => c.type === "spawnTask")).toHaveLength(0);
    const wrong = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, {
      key: owner.apiKey,
      body: { mode: "with_context", targetDaemonId: other.ws ? (await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items[0].daemonId : undefined },
    });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.code).toBe("worktree_elsewhere");
    const own = await env.scriptedDaemon(owner, holder, (c, ws) => send(ws, spawned(c)));
    await waitFor(async () => (await getTask(env, owner, task.id)).status === "running", 15_000, "started on its own daemon");
    expect(own.received.filter((c) => c.type === "spawnTask")).toHaveLength(1);
    expect(other.received.filter((c) => c.type === "spawnTask")).toHaveLength(0);
  });

  it("ten parallel continue calls send one start", async () => {
    const owner = await env.newOwner();
    const daemonId = randomUUID();
    const daemon = await env.scriptedDaemon(owner, daemonId);
    const task = await newTask(env, owner);
    await env.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey, body: { status: "interrupted", daemonId } });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => env.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: owner.apiKey, body: { mode: "with_context" } })),
    );
    expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true);
    await waitFor(async () => (await getTask(env, owner, task.id)).startingOperationId, 10_000, "a start");
    await waitFor(() => daemon.received.some((c) => c.type === "spawnTask"), 10_000, "the start to arrive");
    expect(daemon.received.filter((c) => c.type === "spawnTask")).toHaveLength(1);
  });
});

describe("Rewind with code is not all-or-nothing", () => {
  let env: Env;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 300, relayTimeoutMs: 60_000 });
  });
  afterAll(() => env.close());

  it("a code rewind refused after the request answered (202, then foreign_changes) leaves the conversation as it was", async () => {
    const owner = await env.newOwner();
    let release: (() => void) | undefined;
    const daemon = await env.scriptedDaemon(owner, randomUUID(), (c, ws) => {
      release = () =>
        send(ws, {
          type: "rewindResult",
          requestId: c.requestId,
          taskId: c.taskId,
          success: false,
          message: "refused",
          foreignChanges: ["notes.txt"],
        });
    });
    const task = await newTask(env, owner);
    await append(env, owner, task.id, "a", "b");
    await checkpoint(env, owner, task.id, "1");
    await append(env, owner, task.id, "c", "d");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, {
      key: owner.apiKey,
      body: { byMessageCount: 2, rewindCode: true },
    });
    expect(res.status).toBe(200);
    expect(res.body.codeRewind).toMatchObject({ status: "pending" });
    // While the code has not come back, the conversation has not moved.
    expect((await getTask(env, owner, task.id)).messageCount).toBe(4);
    await waitFor(() => release, 10_000, "the command");
    release!();
    const op = await waitFor(async () => {
      const o = (await env.call("GET", `/api/v1/operations/${res.body.codeRewind.operationId}`, { key: owner.apiKey })).body;
      return o.status !== "pending" ? o : undefined;
    }, 15_000, "the refusal");
    expect(op).toMatchObject({ status: "failed", error: { code: "foreign_changes" } });
    expect((await getTask(env, owner, task.id)).messageCount).toBe(4);
    expect((await env.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation/rewinds`, { key: owner.apiKey })).body.items).toHaveLength(0);
    expect(await events(env, owner, task.id, "rewind")).toHaveLength(0);
    expect(daemon.received.filter((c) => c.type === "rewindToCheckpoint")).toHaveLength(1);
  });

  it("a code rewind that succeeds after the request answered cuts the conversation then, with both records", async () => {
    const owner = await env.newOwner();
    let release: (() => void) | undefined;
    await env.scriptedDaemon(owner, randomUUID(), (c, ws) => {
      release = () => send(ws, { type: "rewindResult", requestId: c.requestId, taskId: c.taskId, success: true, message: "ok", safetyRef: `refs/makima/safety/${c.taskId}/s1` });
    });
    const task = await newTask(env, owner);
    await append(env, owner, task.id, "a", "b");
    await checkpoint(env, owner, task.id, "1");
    await append(env, owner, task.id, "c", "d");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: owner.apiKey, body: { byMessageCount: 2, rewindCode: true } });
    expect(res.body).toMatchObject({ messageCount: 2, hiddenCount: 2, codeRewind: { status: "pending" } });
    await waitFor(() => release, 10_000, "the command");
    release!();
    await waitFor(async () => (await getTask(env, owner, task.id)).messageCount === 2, 15_000, "the cut");
    const rewinds = (await env.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation/rewinds`, { key: owner.apiKey })).body.items;
    expect(rewinds.map((r: any) => r.id)).toEqual([res.body.rewindId]);
    const kinds = (await events(env, owner, task.id, "rewind")).map((e) => e.eventSubtype).sort();
    expect(kinds).toEqual(["code", "conversation"]);
  });

  it("the checkpoint comes from the kept conversation, not from a line of history a rewind abandoned", async () => {
    const owner = await env.newOwner();
    const daemon = await env.scriptedDaemon(owner, randomUUID(), (c, ws) =>
      send(ws, { type: "rewindResult", requestId: c.requestId, taskId: c.taskId, success: true, message: "ok", safetyRef: `refs/makima/safety/${c.taskId}/s1` }),
    );
    const task = await newTask(env, owner);
    await append(env, owner, task.id, "m1", "m2");
    await checkpoint(env, owner, task.id, "1"); // saw m1 m2
    await append(env, owner, task.id, "m3");
    await checkpoint(env, owner, task.id, "2"); // saw m1 m2 m3: abandoned below
    const cut = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: owner.apiKey, body: { byMessageCount: 1 } });
    expect(cut.status).toBe(200);
    await append(env, owner, task.id, "n1", "n2");
    await checkpoint(env, owner, task.id, "3"); // saw m1 m2 n1 n2
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: owner.apiKey, body: { byMessageCount: 1, rewindCode: true } });
    expect(res.status).toBe(200);
    const sent = daemon.received.find((c) => c.type === "rewindToCheckpoint");
    expect(sent.checkpointSha).toBe("1".repeat(40));
    expect(res.body.messageCount).toBe(3);
    // Answered at once, or (on a loaded machine, past the short wait) through its operation.
    const code =
      res.body.codeRewind.status === "pending"
        ? (
            await waitFor(async () => {
              const o = (await env.call("GET", `/api/v1/operations/${res.body.codeRewind.operationId}`, { key: owner.apiKey })).body;
              return o.status === "succeeded" ? o : undefined;
            }, 15_000, "the rewind")
          ).result
        : res.body.codeRewind;
    expect(code).toMatchObject({ checkpoint: { checkpointNumber: 1 } });
  });
});

describe("Records of things that never happened", () => {
  let api: Awaited<ReturnType<typeof createTestApi>>;
  beforeAll(async () => {
    api = await createTestApi();
  });

  it("ten parallel conversation rewinds leave exactly one record and one event per rewind applied", async () => {
    const owner = await api.newOwner();
    const task = await newTask(api, owner);
    await append(api, owner, task.id, ...Array.from({ length: 20 }, (_, i) => `m${i}`));
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: owner.apiKey, body: { byMessageCount: 1 } })),
    );
    const applied = answers.filter((a) => a.status === 200).length;
    expect(applied + answers.filter((a) => a.status === 409).length).toBe(10);
    expect(applied).toBeGreaterThan(0);
    const records = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation/rewinds?limit=200`, { key: owner.apiKey })).body.items;
    expect(records).toHaveLength(applied);
    expect(await events(api, owner, task.id, "rewind")).toHaveLength(applied);
    expect((await getTask(api, owner, task.id)).messageCount).toBe(20 - applied);
    // Restoring the latest brings back one that happened.
    const restore = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/restore`, { key: owner.apiKey });
    expect(restore.status).toBe(200);
    expect(restore.body.messageCount).toBe(20 - applied + 1);
  });
});

describe("A daemon speaking the plan's wire format", () => {
  let env: Env;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 5000, relayTimeoutMs: 10_000 });
  });
  afterAll(() => env.close());

  it("a rewindResult without a safety ref is recorded as done and cannot be undone (409 not_undoable)", async () => {
    const owner = await env.newOwner();
    await env.scriptedDaemon(owner, randomUUID(), (c, ws) =>
      send(ws, { type: "rewindResult", requestId: c.requestId, taskId: c.taskId, success: true, message: "Rewound" }),
    );
    const task = await newTask(env, owner);
    const cp = await checkpoint(env, owner, task.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: owner.apiKey, body: { checkpointId: cp.id, preserveMode: "discard" } });
    expect(res.status).toBe(200);
    expect(res.body.safetyRef).toBeUndefined();
    const recorded = await events(env, owner, task.id, "rewind");
    expect(recorded).toHaveLength(1);
    expect(recorded[0].eventData).toMatchObject({ undoable: false });
    const undo = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind/undo`, { key: owner.apiKey });
    expect(undo.status).toBe(409);
    expect(undo.body.error.code).toBe("not_undoable");
  });
});

describe("A code rewind is recorded before it is dispatched", () => {
  let env: Env;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 200, relayTimeoutMs: 1500 });
  });
  afterAll(() => env.close());

  const rewinds = async (owner: TestOwner, taskId: string) =>
    (await env.call("GET", `/api/v1/mesh/tasks/${taskId}/rewinds`, { key: owner.apiKey })).body.items as any[];

  it("a daemon that never answers leaves a record naming the safety ref it was told to save; past its deadline it is unknown, and undo is attempted", async () => {
    const owner = await env.newOwner();
    const daemon = await env.scriptedDaemon(owner, randomUUID(), (c, ws) => {
      // Never answers the rewind; the undo finds no safety ref.
      if (c.type === "undoRewind") send(ws, { type: "error", requestId: c.requestId, code: "safety_ref_missing", message: `${c.safetyRef} does not exist` });
    });
    const task = await newTask(env, owner);
    const cp = await checkpoint(env, owner, task.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: owner.apiKey, body: { checkpointId: cp.id, preserveMode: "discard" } });
    expect(res.status).toBe(202);
    const command = daemon.received.find((c) => c.type === "rewindToCheckpoint");
    expect(command.safetyRef).toMatch(new RegExp(`^refs/makima/safety/${task.id}/[A-Za-z0-9_-]+$`));
    const [record] = await rewinds(owner, task.id);
    expect(record).toMatchObject({ safetyRef: command.safetyRef, operationId: command.requestId, checkpointId: cp.id });
    expect(["dispatched", "unknown"]).toContain(record.status);
    const unknown = await waitFor(async () => (await rewinds(owner, task.id)).find((r) => r.status === "unknown"), 20_000, "the deadline to pass");
    expect(unknown.next).toMatch(/rewind\/undo/);
    const undo = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind/undo`, { key: owner.apiKey, body: { rewindId: record.id } });
    // The daemon's refusal within the request's short wait is a 409; on a loaded machine it may come later (202).
    if (undo.status === 202) {
      const op = await waitFor(async () => {
        const body = (await env.call("GET", `/api/v1/operations/${undo.body.operationId}`, { key: owner.apiKey })).body;
        return body.status === "pending" ? undefined : body;
      }, 20_000, "the undo to be answered");
      expect(op).toMatchObject({ status: "failed", error: { code: "safety_ref_missing" } });
    } else {
      expect(undo.status).toBe(409);
      expect(undo.body.error.code).toBe("safety_ref_missing");
    }
    expect(daemon.received.find((c) => c.type === "undoRewind")).toMatchObject({ safetyRef: command.safetyRef });
  });

  it("the daemon's answer, however late, settles the record: done with its safety ref, or failed and never undone", async () => {
    const owner = await env.newOwner();
    let answer: ((success: boolean) => void) | undefined;
    await env.scriptedDaemon(owner, randomUUID(), (c, ws) => {
      if (c.type !== "rewindToCheckpoint") return;
      answer = (success) =>
        send(ws, success
          ? { type: "rewindResult", requestId: c.requestId, taskId: c.taskId, success, message: "ok", safetyRef: c.safetyRef }
          : { type: "rewindResult", requestId: c.requestId, taskId: c.taskId, success, message: "rolled back", error: "rolled back" });
    });
    const task = await newTask(env, owner);
    const cp = await checkpoint(env, owner, task.id, "1");
    const rewindOnce = async (success: boolean) => {
      answer = undefined;
      const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: owner.apiKey, body: { checkpointId: cp.id, preserveMode: "discard" } });
      expect(res.status).toBe(202);
      await waitFor(() => answer, 10_000, "the command");
      // Answered after the operation timed out.
      await waitFor(async () => (await env.call("GET", `/api/v1/operations/${res.body.operationId}`, { key: owner.apiKey })).body.status === "timed_out", 20_000, "the timeout");
      answer!(success);
      return res.body.operationId as string;
    };
    const doneOp = await rewindOnce(true);
    const done = await waitFor(async () => (await rewinds(owner, task.id)).find((r) => r.operationId === doneOp && r.status === "done"), 20_000, "the late success");
    expect(done.safetyRef).toMatch(new RegExp(`^refs/makima/safety/${task.id}/`));
    const failedOp = await rewindOnce(false);
    const failed = await waitFor(async () => (await rewinds(owner, task.id)).find((r) => r.operationId === failedOp && r.status === "failed"), 20_000, "the late failure");
    const refused = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind/undo`, { key: owner.apiKey, body: { rewindId: failed.id } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("rewind_failed");
    // One event, for the rewind that happened.
    expect(await events(env, owner, task.id, "rewind")).toHaveLength(1);
  });

  it("continuing from a checkpoint records the worktree's rewind before the start is sent, and the start's answer settles it", async () => {
    const owner = await env.newOwner();
    const daemonId = randomUUID();
    let answer: (() => void) | undefined;
    const daemon = await env.scriptedDaemon(owner, daemonId, (c, ws) => {
      if (c.type === "spawnTask") answer = () => send(ws, { ...spawned(c), safetyRef: c.safetyRef, preservedAs: { type: "branch", reference: "makima/preserved/x" } });
    });
    const task = await newTask(env, owner);
    const cp = await checkpoint(env, owner, task.id, "1");
    await env.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey, body: { status: "interrupted", daemonId } });
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: owner.apiKey, body: { mode: "from_checkpoint", checkpointSha: cp.commitSha } });
    expect(res.status).toBe(200);
    await waitFor(() => answer, 10_000, "the start");
    const command = daemon.received.find((c) => c.type === "spawnTask");
    expect(command).toMatchObject({ resetToCommit: true, safetyRef: expect.stringMatching(new RegExp(`^refs/makima/safety/${task.id}/`)) });
    const [record] = await rewinds(owner, task.id);
    expect(record).toMatchObject({ status: "dispatched", safetyRef: command.safetyRef, operationId: command.requestId, checkpointId: cp.id, preserveMode: "create_branch" });
    answer!();
    const done = await waitFor(async () => (await rewinds(owner, task.id)).find((r) => r.status === "done"), 15_000, "the start's answer");
    expect(done).toMatchObject({ id: record.id, safetyRef: command.safetyRef, preservedAs: { reference: "makima/preserved/x" } });
  });

  it("a rewind whose command cannot be sent leaves no record", async () => {
    const owner = await env.newOwner();
    const task = await newTask(env, owner);
    const cp = await checkpoint(env, owner, task.id, "1");
    const res = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: owner.apiKey, body: { checkpointId: cp.id, preserveMode: "discard" } });
    expect(res.status).toBe(503);
    expect(await rewinds(owner, task.id)).toEqual([]);
  });
});

/** A poster that cannot reach API Gateway for a reason other than a stale connection. */
const brokenPoster: ConnectionPoster = {
  post: async () => {
    throw new Error("socket hang up");
  },
};

describe("Partial writes", () => {
  it("a fork whose start cannot be sent is a waiting task, not an orphan, and a retry with its key does not fork again", async () => {
    const api = await createTestApi({ poster: brokenPoster });
    const owner = await api.newOwner();
    await putConnection(api.db, { connectionId: "conn-1", ownerId: owner.ownerId, daemonId: randomUUID(), connectedAt: new Date().toISOString() });
    const parent = await newTask(api, owner);
    await checkpoint(api, owner, parent.id, "1");
    const fork = () =>
      api.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
        key: owner.apiKey,
        headers: { "Idempotency-Key": "fork-once" },
        body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p" },
      });
    const first = await fork();
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ start: "waiting", startError: { code: "relay_failed" } });
    const child = await getTask(api, owner, first.body.task.id);
    expect(child).toMatchObject({ status: "pending", startAttempts: 1, lastStartError: { code: "relay_failed", attempt: 1 } });
    const again = await fork();
    expect(again.status).toBe(201);
    expect(again.body.task.id).toBe(first.body.task.id);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${parent.id}/forks`, { key: owner.apiKey })).body.items).toHaveLength(1);
  });

  it("a fork's history events are written with the fork or not at all", async () => {
    const api = await createTestApi();
    const owner = await api.newOwner();
    const parent = await newTask(api, owner);
    await checkpoint(api, owner, parent.id, "1");
    const faults = injectFaults(api.db.table.doc);
    faults.fail({ command: "TransactWriteCommand", nth: 1, error: serviceUnavailable });
    const res = await api.call("POST", `/api/v1/mesh/tasks/${parent.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "alt", newTaskPlan: "p" },
    });
    faults.restore();
    expect(res.status).toBe(503);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${parent.id}/forks`, { key: owner.apiKey })).body.items).toHaveLength(0);
    expect(await events(api, owner, parent.id, "fork")).toHaveLength(0);
  });

  it("a task, a checkpoint, a contract and a phase change are written with their history events or not at all", async () => {
    const api = await createTestApi();
    for (const command of ["BatchWriteCommand", "TransactWriteCommand", "PutCommand"]) {
      const owner = await api.newOwner();
      const key = owner.apiKey;
      const timeline = async (type: string, subtype: string) =>
        ((await api.call("GET", `/api/v1/timeline?eventTypes=${type}&limit=200`, { key })).body.items as any[]).filter((e) => e.eventSubtype === subtype);
      const faults = injectFaults(api.db.table.doc);
      const faulty = async <T>(run: () => Promise<T>) => {
        faults.fail({ command, nth: 1, error: throttled });
        const out = await run();
        faults.clear();
        return out;
      };
      try {
        await faulty(() => api.call("POST", "/api/v1/contracts", { key, body: { name: "c" } }));
        const contracts = (await api.call("GET", "/api/v1/contracts", { key })).body.items as any[];
        expect(await timeline("phase", "contract_created"), command).toHaveLength(contracts.length);

        const contract = (await api.call("POST", "/api/v1/contracts", { key, body: { name: "c2" } })).body;
        await faulty(() => api.call("POST", "/api/v1/mesh/tasks", { key, body: { name: "t", plan: "p", contractId: contract.id } }));
        const tasks = (await api.call("GET", `/api/v1/contracts/${contract.id}/tasks`, { key })).body.items as any[];
        expect(await timeline("task", "created"), command).toHaveLength(tasks.length);

        const task = await newTask(api, owner, { contractId: contract.id });
        await faulty(() => api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key, body: { commitSha: "1".repeat(40), branchName: "main", message: "one" } }));
        const checkpoints = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key })).body.items as any[];
        expect(await timeline("checkpoint", "created"), command).toHaveLength(checkpoints.length);

        await faulty(() => api.call("PATCH", `/api/v1/contracts/${contract.id}`, { key, body: { phase: "execute" } }));
        const phase = (await api.call("GET", `/api/v1/contracts/${contract.id}`, { key })).body.phase;
        expect(await timeline("phase", "changed"), command).toHaveLength(phase === "execute" ? 1 : 0);
      } finally {
        faults.restore();
      }
    }
  });

  it("a status change and its history event are written together or not at all", async () => {
    const api = await createTestApi();
    const owner = await api.newOwner();
    const task = await newTask(api, owner);
    const faults = injectFaults(api.db.table.doc);
    faults.fail({ command: "TransactWriteCommand", nth: 1, error: throttled });
    const res = await api.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey, body: { status: "running" } });
    faults.restore();
    expect(res.status).toBe(503);
    expect((await getTask(api, owner, task.id)).status).toBe("pending");
    expect((await events(api, owner, task.id, "task")).filter((e) => e.eventSubtype === "running")).toHaveLength(0);
    const ok = await api.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey, body: { status: "running" } });
    expect(ok.status).toBe(200);
    expect((await events(api, owner, task.id, "task")).filter((e) => e.eventSubtype === "running")).toHaveLength(1);
  });
});

describe("Outages answered as bugs", () => {
  let api: Awaited<ReturnType<typeof createTestApi>>;
  let owner: TestOwner;
  beforeAll(async () => {
    api = await createTestApi();
    owner = await api.newOwner();
  });

  it("DynamoDB throttled or unreachable: 503 unavailable with Retry-After, for reads and writes", async () => {
    const task = await newTask(api, owner);
    for (const error of [throttled, unreachable, serviceUnavailable]) {
      const faults = injectFaults(api.db.table.doc);
      faults.fail({ command: "*", error });
      const read = await api.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey });
      const write = await api.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "n", plan: "p" } });
      faults.restore();
      for (const res of [read, write]) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe("unavailable");
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
    }
    expect((await api.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: owner.apiKey })).status).toBe(200);
  });

  it("S3 unavailable: 503 unavailable with Retry-After", async () => {
    const task = await newTask(api, owner);
    const faults = injectFaults(api.db.blobs.s3);
    faults.fail({ command: "PutObjectCommand", error: serviceUnavailable });
    const res = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, {
      key: owner.apiKey,
      // Incompressible: the batch is too large for an item and goes to S3.
      body: { messages: [{ role: "tool", content: randomBytes(150 * 1024).toString("base64") }] },
    });
    faults.restore();
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("unavailable");
    expect(res.headers.get("retry-after")).toBeTruthy();
  });

  it("an operation whose S3 result is gone is a 410; one past its expiry is gone (404)", async () => {
    const op = await createOperation(api.db, { id: randomUUID(), ownerId: owner.ownerId, commandType: "getCheckpointDiff" });
    await settleOperation(api.db, op, { status: "succeeded", result: { big: "y".repeat(150 * 1024) } });
    const fine = await api.call("GET", `/api/v1/operations/${op.id}`, { key: owner.apiKey });
    expect(fine.status).toBe(200);
    await api.db.blobs.deleteMany([`transfers/${owner.ownerId}/result-${op.id}.json.gz`]);
    const gone = await api.call("GET", `/api/v1/operations/${op.id}`, { key: owner.apiKey });
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe("result_expired");
    await api.db.table.update(keys.operation(op.id), {
      UpdateExpression: "SET expiresAt = :t",
      ExpressionAttributeValues: { ":t": Math.floor(Date.now() / 1000) - 60 },
    });
    expect((await api.call("GET", `/api/v1/operations/${op.id}`, { key: owner.apiKey })).status).toBe(404);
  });

  it("a fork whose checkpoint's snapshot the TTL backstop deleted says its conversation is approximate", async () => {
    const task = await newTask(api, owner);
    await append(api, owner, task.id, "a", "b");
    const cp = await checkpoint(api, owner, task.id, "1");
    const exact = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "exact", newTaskPlan: "p" },
    });
    expect(exact.body.forkPoint.conversationApproximate).toBeUndefined();
    // DynamoDB TTL removed the snapshot before the cleanup job cleared the checkpoint's reference to it.
    await api.db.table.delete(keys.snapshot(task.id, cp.conversationSnapshotId));
    const approximate = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: owner.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "approx", newTaskPlan: "p" },
    });
    expect(approximate.status).toBe(201);
    expect(approximate.body.forkPoint).toMatchObject({ messageCount: 2, conversationApproximate: true });
  });
});
