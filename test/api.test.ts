import { beforeAll, describe, expect, it } from "vitest";
import { createTestApi, lambdaApi, type TestOwner } from "./support/api.js";
import { createApiKey } from "../core/store/owners.js";
import { awsEvent } from "./support/fixtures.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let bob: TestOwner;

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  bob = await api.newOwner("bob");
});

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

/** When the server received a message of the task (what time cuts compare). */
async function receivedAt(owner: TestOwner, taskId: string, messageId: string): Promise<string> {
  const page = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/conversation?limit=200`, { key: owner.apiKey });
  const found = page.body.messages.find((m: { id: string }) => m.id === messageId);
  expect(found.timestamp).not.toBe(found.receivedAt);
  return found.receivedAt;
}

async function seed(owner = alice) {
  const contract = (await api.call("POST", "/api/v1/contracts", { key: owner.apiKey, body: { name: "build login" } })).body;
  const supervisor = (
    await api.call("POST", "/api/v1/mesh/tasks", {
      key: owner.apiKey,
      body: { name: "supervisor", plan: "supervise", contractId: contract.id, isSupervisor: true },
    })
  ).body;
  const task = (
    await api.call("POST", "/api/v1/mesh/tasks", {
      key: owner.apiKey,
      body: { name: "worker", plan: "write the form", contractId: contract.id, baseSha: "a".repeat(40), branchName: "main" },
    })
  ).body;
  const messages = [1, 2, 3, 4].map((i) => ({ id: `m${i}`, role: i % 2 ? "user" : "assistant", content: `step ${i}`, timestamp: at(i) }));
  // One append each: time cuts go by the server's receive time, which can fall between appends.
  for (const m of messages.slice(0, 2)) await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: owner.apiKey, body: { messages: [m] } });
  const cp1 = (
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, {
      key: owner.apiKey,
      body: { commitSha: "1".repeat(40), branchName: "main", message: "first", linesAdded: 3 },
    })
  ).body;
  await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: owner.apiKey, body: { messages: messages.slice(2) } });
  const cp2 = (
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, {
      key: owner.apiKey,
      body: { commitSha: "2".repeat(40), branchName: "main", message: "second" },
    })
  ).body;
  await api.call("POST", `/api/v1/mesh/tasks/${supervisor.id}/messages`, {
    key: owner.apiKey,
    body: { messages: [{ id: "s1", role: "assistant", content: "spawning worker", timestamp: at(1) }] },
  });
  return { contract, supervisor, task, cp1: cp1.checkpoint, cp2: cp2.checkpoint, snapshot1: cp1.snapshot };
}

describe("contracts and tasks", () => {
  it("create, read, patch with history events, and list", async () => {
    const { contract, task } = await seed();
    expect(contract).toMatchObject({ name: "build login", phase: "research", status: "active" });
    const patched = await api.call("PATCH", `/api/v1/contracts/${contract.id}`, { key: alice.apiKey, body: { phase: "plan" } });
    expect(patched.status).toBe(200);
    expect(patched.body.phase).toBe("plan");
    const status = await api.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: alice.apiKey, body: { status: "running" } });
    expect(status.body.status).toBe("running");
    const history = await api.call("GET", `/api/v1/contracts/${contract.id}/history?eventTypes=phase,task`, { key: alice.apiKey });
    expect(history.body.contractId).toBe(contract.id);
    const summary = history.body.items.map((e: any) => `${e.eventType}/${e.eventSubtype}`);
    expect(summary).toEqual(["task/running", "phase/changed", "task/created", "task/created", "phase/contract_created"]);
    expect(history.body.items[1].eventData).toMatchObject({ from: "research", to: "plan" });
    const got = await api.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: alice.apiKey });
    expect(got.body).toMatchObject({ id: task.id, messageCount: 4, status: "running" });
    const tasks = await api.call("GET", `/api/v1/contracts/${contract.id}/tasks`, { key: alice.apiKey });
    expect(tasks.body.items.map((t: any) => t.name)).toEqual(["worker", "supervisor"]);
  });

  it("refuses bad input with the field at fault and stores nothing", async () => {
    const before = (await api.call("GET", "/api/v1/contracts?limit=200", { key: bob.apiKey })).body.items.length;
    const bad = await api.call("POST", "/api/v1/contracts", { key: bob.apiKey, body: { name: "", phase: "launch" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("validation_failed");
    expect(bad.body.error.details.map((d: any) => d.path).sort()).toEqual(["body.name", "body.phase"]);
    const malformed = await api.call("POST", "/api/v1/contracts", { key: bob.apiKey, rawBody: '{"name": ' });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: "malformed_json" } } });
    const query = await api.call("GET", "/api/v1/contracts?limit=0", { key: bob.apiKey });
    expect(query.status).toBe(400);
    expect(query.body.error.details[0].path).toBe("query.limit");
    const path = await api.call("GET", "/api/v1/contracts/not-a-uuid", { key: bob.apiKey });
    expect(path.status).toBe(400);
    expect(path.body.error.details[0].path).toBe("path.id");
    const huge = await api.call("POST", "/api/v1/contracts", { key: bob.apiKey, rawBody: JSON.stringify({ name: "x".repeat(1_100_000) }) });
    expect(huge).toMatchObject({ status: 413, body: { error: { code: "body_too_large" } } });
    const tooMany = await api.call("POST", `/api/v1/mesh/tasks/${crypto.randomUUID()}/messages`, {
      key: bob.apiKey,
      body: { messages: Array.from({ length: 101 }, () => ({ role: "user", content: "x" })) },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details[0].path).toBe("body.messages");
    const bobTask = (await api.call("POST", "/api/v1/mesh/tasks", { key: bob.apiKey, body: { name: "t", plan: "p", baseSha: "ABCDEF1" } })).body;
    expect(bobTask.baseSha).toBe("abcdef1");
    const bigNumber = await api.call("POST", `/api/v1/mesh/tasks/${bobTask.id}/snapshots`, { key: bob.apiKey, rawBody: '{"metadata":{"n":1e400}}' });
    expect(bigNumber.status).toBe(400);
    expect(bigNumber.body.error.details[0].path).toBe("body.metadata.n");
    const deep = await api.call("POST", `/api/v1/mesh/tasks/${bobTask.id}/checkpoints`, {
      key: bob.apiKey,
      body: { commitSha: "abc1234", branchName: "main", message: "m", filesChanged: JSON.parse("[".repeat(40) + "]".repeat(40)) },
    });
    expect(deep.status).toBe(400);
    const longTool = await api.call("POST", `/api/v1/mesh/tasks/${bobTask.id}/messages`, {
      key: bob.apiKey,
      body: { messages: [{ role: "tool", content: "", toolName: "x".repeat(201) }] },
    });
    expect(longTool.body.error.details[0].path).toBe("body.messages.0.toolName");
    const scopedApiKey = await api.call("POST", "/api/v1/keys", { key: bob.apiKey, body: { kind: "api", contractId: bobTask.id } });
    expect(scopedApiKey.body.error.details[0].path).toBe("body.contractId");
    const route = await api.call("GET", "/api/v1/nothing-here", { key: bob.apiKey });
    expect(route).toMatchObject({ status: 404, body: { error: { code: "route_not_found" } } });
    expect((await api.call("GET", "/api/v1/contracts?limit=200", { key: bob.apiKey })).body.items.length).toBe(before);
  });

  it("needs a valid key; refuses daemon keys over HTTP", async () => {
    expect((await api.call("GET", "/api/v1/contracts")).status).toBe(401);
    expect((await api.call("GET", "/api/v1/contracts", { key: "mk_nope" })).status).toBe(401);
    const daemon = await api.call("GET", "/api/v1/contracts", { key: alice.daemonKey });
    expect(daemon).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    expect((await api.call("GET", "/health")).body).toEqual({ ok: true });
  });
});

describe("conversation", () => {
  it("reads oldest first with tool filters, pages, and returns a truncated message whole", async () => {
    const { task } = await seed();
    const big = "r".repeat(200_000);
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, {
      key: alice.apiKey,
      body: {
        messages: [
          { id: "call", role: "assistant", content: "reading", timestamp: at(5), toolCalls: [{ id: "c1", name: "read", input: { path: "a" } }] },
          { id: "result", role: "tool", content: "", timestamp: at(6), toolName: "read", toolResult: big },
        ],
      },
    });
    const page1 = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation?limit=4`, { key: alice.apiKey });
    expect(page1.body.messages.map((m: any) => m.id)).toEqual(["m1", "m2", "m3", "m4"]);
    const page2 = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation?limit=4&cursor=${page1.body.nextCursor}`, { key: alice.apiKey });
    expect(page2.body.messages.map((m: any) => m.id)).toEqual(["call", "result"]);
    expect(page2.body.nextCursor).toBeNull();
    expect(page2.body.messages[1]).toMatchObject({ truncated: true });
    expect(page2.body.messages[1].toolResult.length).toBe(16 * 1024);
    const whole = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/messages/result`, { key: alice.apiKey });
    expect(whole.body.toolResult).toBe(big);
    const bare = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation?include_tool_calls=false&include_tool_results=false&limit=50`, { key: alice.apiKey });
    expect(bare.body.messages.find((m: any) => m.id === "call")).not.toHaveProperty("toolCalls");
    expect(bare.body.messages.find((m: any) => m.id === "result")).not.toHaveProperty("toolResult");
    const otherCursor = (await api.call("GET", "/api/v1/contracts?limit=1", { key: alice.apiKey })).body.nextCursor;
    const refused = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation?cursor=${otherCursor}`, { key: alice.apiKey });
    expect(refused.status).toBe(400);
    expect(refused.body.error.details[0].path).toBe("cursor");
  });

  it("supervisor conversation lists spawned tasks; rewinds hide and restore", async () => {
    const { contract, supervisor, task } = await seed();
    const m1ReceivedAt = await receivedAt(alice, task.id, "m1");
    const conv = await api.call("GET", `/api/v1/contracts/${contract.id}/supervisor/conversation`, { key: alice.apiKey });
    expect(conv.body).toMatchObject({ contractId: contract.id, supervisorTaskId: supervisor.id, nextCursor: null });
    expect(conv.body.messages.map((m: any) => m.content)).toEqual(["spawning worker"]);
    expect(conv.body.spawnedTasks.map((t: any) => t.id)).toEqual([task.id]);

    const bad = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/conversation/rewind`, { key: alice.apiKey, body: {} });
    expect(bad.status).toBe(400);
    const rewind = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/conversation/rewind`, {
      key: alice.apiKey,
      body: { byMessageCount: 1 },
    });
    expect(rewind.status).toBe(200);
    expect(rewind.body).toMatchObject({ contractId: contract.id, supervisorTaskId: supervisor.id, messageCount: 0, hiddenCount: 1 });
    expect((await api.call("GET", `/api/v1/contracts/${contract.id}/supervisor/conversation`, { key: alice.apiKey })).body.messages).toEqual([]);
    const restore = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/conversation/restore`, { key: alice.apiKey });
    expect(restore.body).toMatchObject({ rewindId: rewind.body.rewindId, messageCount: 1 });
    const again = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/conversation/restore`, { key: alice.apiKey });
    expect(again.status).toBe(404);

    const toMessage = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: alice.apiKey, body: { toMessageId: "m2" } });
    expect(toMessage.body).toMatchObject({ messageCount: 2, hiddenCount: 2 });
    const toTime = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: alice.apiKey, body: { toTimestamp: m1ReceivedAt } });
    expect(toTime.body).toMatchObject({ messageCount: 1, hiddenCount: 1 });
    const missing = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: alice.apiKey, body: { toMessageId: "m4" } });
    expect(missing.status).toBe(400);
    const tooFar = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: alice.apiKey, body: { byMessageCount: 5 } });
    expect(tooFar.body.error.details[0].path).toBe("byMessageCount");
    const list = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation/rewinds`, { key: alice.apiKey });
    expect(list.body.items.map((r: any) => r.hiddenCount)).toEqual([1, 2]);
    const events = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/history?eventTypes=rewind`, { key: alice.apiKey });
    expect(events.body.items.map((e: any) => e.eventSubtype)).toEqual(["conversation", "conversation"]);
    expect(events.body.items[0].eventData.actor).toMatch(/^api_key:/);
    const nothingBefore = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, {
      key: alice.apiKey,
      body: { byMessageCount: 1, rewindCode: true },
    });
    expect(nothingBefore).toMatchObject({ status: 409, body: { error: { code: "no_checkpoint" } } });
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/restore`, { key: alice.apiKey });
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/restore`, { key: alice.apiKey });
    const code = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, {
      key: alice.apiKey,
      body: { byMessageCount: 2, rewindCode: true },
    });
    expect(code.status).toBe(503);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: alice.apiKey })).body.messageCount).toBe(4);
  });
});

describe("checkpoints and snapshots", () => {
  it("list ascending, snapshots name the conversation at the checkpoint, pin and unpin", async () => {
    const { task, cp1, cp2, snapshot1 } = await seed();
    expect(cp1.checkpointNumber).toBe(1);
    expect(snapshot1).toMatchObject({ snapshotType: "checkpoint", messageCount: 2, checkpointId: cp1.id, pinned: false });
    const list = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints?limit=1`, { key: alice.apiKey });
    expect(list.body.items.map((c: any) => c.id)).toEqual([cp1.id]);
    const rest = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints?limit=1&cursor=${list.body.nextCursor}`, { key: alice.apiKey });
    expect(rest.body).toMatchObject({ items: [{ id: cp2.id }], nextCursor: null });
    expect((await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp2.id}`, { key: alice.apiKey })).body.message).toBe("second");

    const manual = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey, body: { metadata: { why: "x" } } });
    expect(manual).toMatchObject({ status: 201, body: { snapshotType: "manual", messageCount: 4, metadata: { why: "x" } } });
    const noBody = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey });
    expect(noBody.status).toBe(201);
    const snaps = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey });
    expect(snaps.body.items.map((s: any) => s.snapshotType)).toEqual(["manual", "manual", "checkpoint", "checkpoint"]);
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: [{ role: "user", content: "later" }] } });
    const one = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/snapshots/${snapshot1.id}`, { key: alice.apiKey });
    expect(one.body.conversationState.messages.map((m: any) => m.id)).toEqual(["m1", "m2"]);
    const pinned = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots/${snapshot1.id}/pin`, { key: alice.apiKey });
    expect(pinned.body.pinned).toBe(true);
    const unpinned = await api.call("DELETE", `/api/v1/mesh/tasks/${task.id}/snapshots/${snapshot1.id}/pin`, { key: alice.apiKey });
    expect(unpinned.body.pinned).toBe(false);
  });

  it("answers 503 for what needs a daemon, 404 for another task's checkpoint, 409 for a running task", async () => {
    const { task, cp1 } = await seed();
    const other = await seed();
    const diff = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/diff`, { key: alice.apiKey });
    expect(diff).toMatchObject({ status: 503, body: { error: { code: "no_daemon" } } });
    expect(diff.body.error.message).toContain("makima daemon");
    const branch = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/branch`, { key: alice.apiKey, body: { branchName: "keep/this" } });
    expect(branch.status).toBe(503);
    const state = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey, body: { captureState: true } });
    expect(state.status).toBe(503);
    const hostile = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/branch`, { key: alice.apiKey, body: { branchName: "../x" } });
    expect(hostile.status).toBe(400);
    expect(hostile.body.error.details[0].path).toBe("body.branchName");
    const rewind = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: alice.apiKey, body: { checkpointId: cp1.id, preserveMode: "discard" } });
    expect(rewind.status).toBe(503);
    const foreign = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: alice.apiKey, body: { checkpointId: other.cp1.id, preserveMode: "discard" } });
    expect(foreign.status).toBe(404);
    const noUndo = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind/undo`, { key: alice.apiKey });
    expect(noUndo.status).toBe(404);
    await api.call("PATCH", `/api/v1/mesh/tasks/${task.id}`, { key: alice.apiKey, body: { status: "running" } });
    const running = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/rewind`, { key: alice.apiKey, body: { checkpointId: cp1.id, preserveMode: "stash" } });
    expect(running).toMatchObject({ status: 409, body: { error: { code: "task_running" } } });
    const cont = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: alice.apiKey, body: { mode: "with_context" } });
    expect(cont.status).toBe(409);
  });
});

describe("fork and resume", () => {
  it("forks from a checkpoint sharing the conversation by reference, with lineage on both tasks", async () => {
    const { task, cp1 } = await seed();
    const fork = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: cp1.id, newTaskName: "alt", newTaskPlan: "try another way" },
    });
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({
      sourceTaskId: task.id,
      forkPoint: { type: "checkpoint", value: cp1.id, checkpointId: cp1.id, messageCount: 2 },
      task: { status: "pending", forkedFromTaskId: task.id, forkedAtCheckpointId: cp1.id, baseSha: "1".repeat(40), messageCount: 2 },
    });
    expect(fork.body.branchName).toMatch(/^makima\/fork\/[0-9a-f]{8}-cp1-[0-9a-f]{8}$/);
    expect(fork.body.task.branchName).toBe(fork.body.branchName);
    const conv = await api.call("GET", `/api/v1/mesh/tasks/${fork.body.task.id}/conversation`, { key: alice.apiKey });
    expect(conv.body.messages.map((m: any) => m.id)).toEqual(["m1", "m2"]);
    const onParent = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/history?eventTypes=fork`, { key: alice.apiKey });
    expect(onParent.body.items[0]).toMatchObject({ eventSubtype: "forked", eventData: { forkTaskId: fork.body.task.id } });
    const onChild = await api.call("GET", `/api/v1/mesh/tasks/${fork.body.task.id}/history?eventTypes=fork`, { key: alice.apiKey });
    expect(onChild.body.items[0]).toMatchObject({ eventSubtype: "created", eventData: { sourceTaskId: task.id } });
    const forks = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/forks`, { key: alice.apiKey });
    expect(forks.body.items.map((t: any) => t.id)).toEqual([fork.body.task.id]);

    const byNumber = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "2", newTaskName: "b", newTaskPlan: "p", includeConversation: false, branchName: "mine" },
    });
    expect(byNumber.body).toMatchObject({ branchName: "mine", forkPoint: { messageCount: 4 }, task: { messageCount: 0 } });
    const byMessage = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { forkFromType: "message_id", forkFromValue: "m3", newTaskName: "c", newTaskPlan: "p" },
    });
    expect(byMessage.body).toMatchObject({ forkPoint: { messageCount: 3, checkpointId: cp1.id }, task: { forkedAtMessageId: "m3" } });
    const byTime = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { forkFromType: "timestamp", forkFromValue: await receivedAt(alice, task.id, "m2"), newTaskName: "d", newTaskPlan: "p" },
    });
    expect(byTime.body.forkPoint.messageCount).toBe(2);
  });

  it("refuses fork points past the end or unknown", async () => {
    const { task } = await seed();
    const body = { newTaskName: "x", newTaskPlan: "p" };
    const future = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { ...body, forkFromType: "timestamp", forkFromValue: "2099-01-01T00:00:00Z" },
    });
    expect(future.status).toBe(400);
    expect(future.body.error.details[0].path).toBe("forkFromValue");
    const unknown = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { ...body, forkFromType: "message_id", forkFromValue: "nope" },
    });
    expect(unknown.status).toBe(400);
    const cp = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { ...body, forkFromType: "checkpoint", forkFromValue: "9" },
    });
    expect(cp.status).toBe(404);
  });

  it("resumes from a checkpoint, continues a task, resumes a supervisor in every mode", async () => {
    const { contract, supervisor, task, cp1 } = await seed();
    const resumed = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, {
      key: alice.apiKey,
      body: { plan: "again from 1", includeConversation: true },
    });
    expect(resumed.status).toBe(201);
    expect(resumed.body).toMatchObject({
      sourceTaskId: task.id,
      checkpointId: cp1.id,
      task: { name: "worker (from checkpoint 1)", baseSha: "1".repeat(40), messageCount: 2, status: "pending" },
    });
    const clean = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: alice.apiKey, body: { mode: "clean_restart" } });
    expect(clean.body).toMatchObject({ status: "pending", messageCount: 0 });
    const restore = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/restore`, { key: alice.apiKey });
    expect(restore.body.messageCount).toBe(4);
    const fromCp = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, {
      key: alice.apiKey,
      body: { mode: "from_checkpoint", checkpointSha: "1".repeat(40), additionalContext: "the tests were wrong" },
    });
    expect(fromCp.body).toMatchObject({ messageCount: 2, baseSha: "1".repeat(40) });
    const missingSha = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: alice.apiKey, body: { mode: "from_checkpoint" } });
    expect(missingSha.body.error.details[0].path).toBe("body.checkpointSha");

    for (const mode of ["continue", "restart_phase"]) {
      const r = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/resume`, { key: alice.apiKey, body: { resumeMode: mode } });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ contractId: contract.id, supervisorTaskId: supervisor.id, resumeMode: mode, start: "waiting" });
    }
    const needsCp = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/resume`, { key: alice.apiKey, body: { resumeMode: "from_checkpoint" } });
    expect(needsCp.status).toBe(400);
    const events = await api.call("GET", `/api/v1/contracts/${contract.id}/history?eventTypes=resume`, { key: alice.apiKey });
    expect(events.body.items.map((e: any) => e.eventSubtype)).toEqual([
      "supervisor_restart_phase",
      "supervisor_continue",
      "task_from_checkpoint",
      "task_clean_restart",
      "resumed_elsewhere",
      "from_checkpoint",
    ]);
    await api.call("PATCH", `/api/v1/mesh/tasks/${supervisor.id}`, { key: alice.apiKey, body: { status: "running" } });
    const busy = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/resume`, { key: alice.apiKey, body: { resumeMode: "continue" } });
    expect(busy.status).toBe(409);
    const target = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/fork`, {
      key: alice.apiKey,
      body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "t", newTaskPlan: "p", targetDaemonId: crypto.randomUUID() },
    });
    expect(target.status).toBe(503);
    const forks = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/forks`, { key: alice.apiKey });
    expect(forks.body.items.map((t: any) => t.name)).not.toContain("t");
  });
});

describe("continue from a checkpoint", () => {
  it("shows exactly the conversation the checkpoint saw, whatever was rewound or added since", async () => {
    const task = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "w", plan: "p" } })).body;
    const send = (ids: string[]) =>
      api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: ids.map((id) => ({ id, role: "assistant", content: id })) } });
    await send(["m1", "m2", "m3", "m4", "m5", "m6"]);
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: "c".repeat(40), branchName: "main", message: "c" } });
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, { key: alice.apiKey, body: { byMessageCount: 4 } });
    await send(["n1", "n2", "n3", "n4", "n5"]);
    const res = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/continue`, { key: alice.apiKey, body: { mode: "from_checkpoint", checkpointSha: "c".repeat(40) } });
    expect(res.body.messageCount).toBe(6);
    const conv = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation`, { key: alice.apiKey });
    expect(conv.body.messages.map((m: any) => m.id)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6"]);
    const rewinds = (await api.call("GET", `/api/v1/mesh/tasks/${task.id}/conversation/rewinds`, { key: alice.apiKey })).body.items;
    expect(rewinds[0]).toMatchObject({ messageCount: 6, hiddenCount: 5 }); // n1–n5 hidden; m3–m6 shown again
  });
});

describe("supervisor restart_phase", () => {
  it("hides what the supervisor said since the current phase began, and the restore brings it back", async () => {
    const contract = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "phased" } })).body;
    const sup = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "s", plan: "p", contractId: contract.id, isSupervisor: true } })).body;
    const say = (content: string) =>
      api.call("POST", `/api/v1/mesh/tasks/${sup.id}/messages`, { key: alice.apiKey, body: { messages: [{ role: "assistant", content }] } });
    await say("researching");
    await say("found it");
    await new Promise((r) => setTimeout(r, 5));
    await api.call("PATCH", `/api/v1/contracts/${contract.id}`, { key: alice.apiKey, body: { phase: "plan" } });
    await api.call("PATCH", `/api/v1/contracts/${contract.id}`, { key: alice.apiKey, body: { status: "paused" } });
    await new Promise((r) => setTimeout(r, 5));
    await say("planning badly");
    await say("still bad");
    const resumed = await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/resume`, {
      key: alice.apiKey,
      body: { resumeMode: "restart_phase", additionalContext: "plan again" },
    });
    expect(resumed.status).toBe(200);
    const conv = await api.call("GET", `/api/v1/contracts/${contract.id}/supervisor/conversation`, { key: alice.apiKey });
    expect(conv.body.messages.map((m: any) => m.content)).toEqual(["researching", "found it"]);
    const event = (await api.call("GET", `/api/v1/mesh/tasks/${sup.id}/history?eventTypes=resume`, { key: alice.apiKey })).body.items[0];
    expect(event).toMatchObject({ eventSubtype: "supervisor_restart_phase", eventData: { hiddenCount: 2, additionalContext: true } });
    await api.call("POST", `/api/v1/contracts/${contract.id}/supervisor/conversation/restore`, { key: alice.apiKey });
    const back = await api.call("GET", `/api/v1/contracts/${contract.id}/supervisor/conversation`, { key: alice.apiKey });
    expect(back.body.messages).toHaveLength(4);
  });
});

describe("history", () => {
  it("timeline and contract history page through several pages with filters", async () => {
    const owner = await api.newOwner("pager");
    const { contract } = await seed(owner);
    for (const phase of ["specify", "plan", "execute", "review"]) {
      await api.call("PATCH", `/api/v1/contracts/${contract.id}`, { key: owner.apiKey, body: { phase } });
    }
    const collect = async (path: string) => {
      const seen: any[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = path.includes("?") ? "&" : "?";
        const res = await api.call("GET", `${path}${sep}limit=2${cursor ? `&cursor=${cursor}` : ""}`, { key: owner.apiKey });
        expect(res.status).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      return { seen, pages };
    };
    const phases = await collect(`/api/v1/contracts/${contract.id}/history?eventTypes=phase`);
    expect(phases.seen.map((e) => e.eventSubtype)).toEqual(["changed", "changed", "changed", "changed", "contract_created"]);
    expect(phases.pages).toBe(3);
    const inPlan = await collect(`/api/v1/contracts/${contract.id}/history?phase=research`);
    expect(inPlan.seen.every((e) => e.phase === "research")).toBe(true);
    expect(inPlan.seen.length).toBeGreaterThan(3);
    const all = await collect(`/api/v1/timeline`);
    const ids = all.seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort().reverse()).toEqual(ids);
    const first = all.seen.at(-1).createdAt;
    const windowed = await collect(`/api/v1/timeline?from=${first}&to=${first}`);
    expect(windowed.seen.every((e) => e.createdAt === first)).toBe(true);
    const bad = await api.call("GET", `/api/v1/timeline?eventTypes=nonsense`, { key: owner.apiKey });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toMatch(/^query\.eventTypes/);
  });
});

describe("isolation and scope", () => {
  it("every GET route answers 404 to another owner", async () => {
    const s = await seed();
    const fork = (
      await api.call("POST", `/api/v1/mesh/tasks/${s.task.id}/fork`, {
        key: alice.apiKey,
        body: { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "f", newTaskPlan: "p" },
      })
    ).body;
    const doc = (await api.call("GET", "/api/v1/openapi.json")).body;
    const values: Record<string, string> = { id: s.task.id, cid: s.cp1.id, sid: s.snapshot1.id, messageId: "m1" };
    const contractPaths = new Set(["/api/v1/contracts/{id}", "/api/v1/contracts/{id}/history", "/api/v1/contracts/{id}/supervisor/conversation", "/api/v1/contracts/{id}/tasks"]);
    const getPaths = Object.entries(doc.paths)
      .filter(([p, ops]: [string, any]) => ops.get && p.includes("{"))
      .map(([p]) => p);
    expect(getPaths.length).toBeGreaterThanOrEqual(14);
    for (const path of getPaths) {
      const concrete = path.replace(/\{(\w+)\}/g, (_, name) => (name === "id" && contractPaths.has(path) ? s.contract.id : name === "id" && path.includes("operations") ? fork.task.id : values[name]!));
      if (path.includes("/diff")) continue; // needs a daemon even for the owner; checked below
      const own = await api.call("GET", concrete, { key: alice.apiKey });
      if (!path.includes("operations")) expect(own.status, `${path} for its owner`).toBe(200);
      const other = await api.call("GET", concrete, { key: bob.apiKey });
      expect(other.status, `${path} for another owner`).toBe(404);
    }
    const diff = await api.call("GET", `/api/v1/mesh/tasks/${s.task.id}/checkpoints/${s.cp1.id}/diff`, { key: bob.apiKey });
    expect(diff.status).toBe(404);
    const write = await api.call("POST", `/api/v1/mesh/tasks/${s.task.id}/messages`, { key: bob.apiKey, body: { messages: [{ role: "user", content: "x" }] } });
    expect(write.status).toBe(404);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${s.task.id}`, { key: alice.apiKey })).body.messageCount).toBe(4);
  });

  it("a tool key reaches its contract's supervisor and history endpoints only", async () => {
    const mine = await seed();
    const other = await seed();
    const tool = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId: mine.contract.id, name: "sup" } });
    expect(tool.status).toBe(201);
    expect(tool.body.key).toMatch(/^mkt_/);
    const key = tool.body.key;
    expect((await api.call("GET", `/api/v1/contracts/${mine.contract.id}/history`, { key })).status).toBe(200);
    expect((await api.call("GET", `/api/v1/contracts/${mine.contract.id}/supervisor/conversation`, { key })).status).toBe(200);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${mine.task.id}/conversation`, { key })).status).toBe(200);
    expect((await api.call("GET", `/api/v1/contracts/${other.contract.id}/history`, { key })).status).toBe(403);
    expect((await api.call("GET", `/api/v1/mesh/tasks/${other.task.id}/conversation`, { key })).status).toBe(403);
    expect((await api.call("GET", `/api/v1/timeline`, { key })).status).toBe(403);
    expect((await api.call("GET", `/api/v1/keys`, { key })).status).toBe(403);
    expect((await api.call("POST", `/api/v1/contracts`, { key, body: { name: "no" } })).status).toBe(403);
    const { createOperation } = await import("../core/store/operations.js");
    const mineOp = await createOperation(api.db, { id: crypto.randomUUID(), ownerId: alice.ownerId, commandType: "getCheckpointDiff", context: { taskId: mine.task.id } });
    const otherOp = await createOperation(api.db, { id: crypto.randomUUID(), ownerId: alice.ownerId, commandType: "getCheckpointDiff", context: { taskId: other.task.id } });
    expect((await api.call("GET", `/api/v1/operations/${mineOp.id}`, { key })).body).toMatchObject({ id: mineOp.id, status: "pending" });
    expect((await api.call("GET", `/api/v1/operations/${otherOp.id}`, { key })).status).toBe(403);
    const missingContract = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool" } });
    expect(missingContract.body.error.details[0].path).toBe("body.contractId");
  });

  it("keys: list without secrets, revoke", async () => {
    const created = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "api", name: "ci" } });
    const list = await api.call("GET", "/api/v1/keys?limit=200", { key: alice.apiKey });
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    expect(list.body.items.find((k: any) => k.id === created.body.id)).toMatchObject({ kind: "api", name: "ci" });
    expect((await api.call("DELETE", `/api/v1/keys/${created.body.id}`, { key: bob.apiKey })).status).toBe(404);
    expect((await api.call("DELETE", `/api/v1/keys/${created.body.id}`, { key: alice.apiKey })).status).toBe(204);
    expect((await api.call("GET", "/api/v1/contracts", { key: created.body.key })).status).toBe(401);
  });

  it("retention can be set per owner", async () => {
    const owner = await api.newOwner("keeper");
    expect((await api.call("GET", "/api/v1/account/retention", { key: owner.apiKey })).body).toEqual({ retentionDays: 30, defaultRetentionDays: 30 });
    const set = await api.call("PUT", "/api/v1/account/retention", { key: owner.apiKey, body: { retentionDays: 90 } });
    expect(set.body.retentionDays).toBe(90);
    expect((await api.call("PUT", "/api/v1/account/retention", { key: owner.apiKey, body: { retentionDays: 0 } })).status).toBe(400);
  });

  it("cleanup runs are readable by operators, not by other owners or tool keys", async () => {
    const { runCleanup } = await import("../core/retention/index.js");
    const summary = await runCleanup(api.db, { log: () => undefined });
    expect((await api.call("GET", "/api/v1/cleanup-runs", { key: alice.apiKey })).status).toBe(403);
    api.runtime.config.operators.push(alice.ownerId);
    const runs = await api.call("GET", "/api/v1/cleanup-runs", { key: alice.apiKey });
    expect(runs.status).toBe(200);
    expect(runs.body.items[0]).toMatchObject({ runId: summary.runId, deleted: summary.deleted, stoppedBy: "done" });
    const { contract } = await seed();
    const tool = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId: contract.id } })).body.key;
    expect((await api.call("GET", "/api/v1/cleanup-runs", { key: tool })).status).toBe(403);
  });
});

describe("idempotency", () => {
  it("the same key and body return the first answer once; another body is a 409", async () => {
    const headers = { "idempotency-key": `k-${Math.random()}` };
    const first = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "once" }, headers });
    const second = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "once" }, headers });
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const all = (await api.call("GET", "/api/v1/contracts?limit=200", { key: alice.apiKey })).body.items;
    expect(all.filter((c: any) => c.name === "once")).toHaveLength(1);
    const other = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "twice" }, headers });
    expect(other).toMatchObject({ status: 409, body: { error: { code: "idempotency_key_reused" } } });
    const failedKey = { "idempotency-key": `f-${Math.random()}` };
    expect((await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "" }, headers: failedKey })).status).toBe(400);
    expect((await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "retry" }, headers: failedKey })).status).toBe(201);
  });
});

describe("OpenAPI", () => {
  it("describes every route with its request and response schemas, and renders a page", async () => {
    const doc = (await api.call("GET", "/api/v1/openapi.json")).body;
    const routes = Object.entries(doc.paths).flatMap(([p, ops]: [string, any]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    for (const expected of [
      "GET /api/v1/contracts/{id}/history",
      "GET /api/v1/contracts/{id}/supervisor/conversation",
      "GET /api/v1/mesh/tasks/{id}/conversation",
      "GET /api/v1/mesh/tasks/{id}/checkpoints/{cid}/diff",
      "GET /api/v1/timeline",
      "POST /api/v1/contracts/{id}/supervisor/resume",
      "POST /api/v1/mesh/tasks/{id}/checkpoints/{cid}/resume",
      "POST /api/v1/mesh/tasks/{id}/continue",
      "POST /api/v1/mesh/tasks/{id}/rewind",
      "POST /api/v1/mesh/tasks/{id}/rewind/undo",
      "POST /api/v1/contracts/{id}/supervisor/conversation/rewind",
      "POST /api/v1/mesh/tasks/{id}/fork",
      "POST /api/v1/mesh/tasks/{id}/checkpoints/{cid}/branch",
      "POST /api/v1/keys",
      "GET /api/v1/daemons",
      "GET /api/v1/operations/{id}",
      "POST /api/v1/mesh/tasks/{id}/snapshots/{sid}/pin",
      "DELETE /api/v1/mesh/tasks/{id}/snapshots/{sid}/pin",
    ]) {
      expect(routes).toContain(expected);
    }
    const conv = doc.paths["/api/v1/mesh/tasks/{id}/conversation"].get;
    expect(conv.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(["include_tool_calls", "include_tool_results", "limit", "cursor"]));
    expect(doc.paths["/api/v1/mesh/tasks/{id}/rewind"].post.responses).toHaveProperty("202");
    expect(doc.components.schemas).toHaveProperty("ConversationMessage");
    expect(doc.components.schemas).toHaveProperty("Error");
    expect(doc.paths["/health"].get.security).toEqual([]);
    expect(doc.components.schemas.CreatedKey.properties).not.toHaveProperty("ownerId");
    const page = await api.call("GET", "/api/v1/docs");
    expect(page.status).toBe(200);
    expect(page.body).toContain("<code>/api/v1/mesh/tasks/{id}/fork</code>");
    expect(page.body).not.toMatch(/<script src=/);
  });
});

describe("JWT", () => {
  it("accepts a token from the configured issuer; its sub is the owner", async () => {
    const { generateKeyPair, exportJWK, SignJWT } = await import("jose");
    const { createServer } = await import("node:http");
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" };
    const server = createServer((_, res) => res.end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const jwtApi = await createTestApi({
        config: { jwt: { jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer: "https://issuer.example", audience: "makima" } },
      });
      const sign = (claims: Record<string, unknown>, issuer = "https://issuer.example") =>
        new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuer(issuer).setAudience("makima").setExpirationTime("5m").sign(privateKey);
      const token = await sign({ sub: "user-jwt-1" });
      const created = await jwtApi.call("POST", "/api/v1/contracts", { key: token, body: { name: "via jwt" } });
      expect(created.status).toBe(201);
      expect(created.body.ownerId).toBe("user-jwt-1");
      const wrongIssuer = await sign({ sub: "user-jwt-1" }, "https://evil.example");
      expect((await jwtApi.call("GET", "/api/v1/contracts", { key: wrongIssuer })).status).toBe(401);
    } finally {
      server.close();
    }
  });
});

describe("Lambda entry", () => {
  it("serves genuine API Gateway HTTP API v2 events", async () => {
    const invoke = await lambdaApi(api.db.config);

    const get = awsEvent("apigw-http-v2.json");
    const root = await invoke(get);
    expect(root.statusCode).toBe(404);
    expect(JSON.parse(root.body).error.code).toBe("route_not_found");
    const health = await invoke({ ...get, rawPath: "/health", requestContext: { ...get.requestContext, http: { ...get.requestContext.http, path: "/health" } } });
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ ok: true });

    const post = awsEvent("apigw-http-v2-post-json-body.json");
    const key = (await createApiKey(api.db, alice.ownerId, { kind: "api" })).key;
    const event = {
      ...post,
      rawPath: "/api/v1/contracts",
      headers: { ...post.headers, authorization: `Bearer ${key}`, "content-type": "application/json" },
      requestContext: { ...post.requestContext, http: { ...post.requestContext.http, path: "/api/v1/contracts" } },
      body: JSON.stringify({ name: "from lambda" }),
    };
    const created = await invoke(event);
    expect(created.statusCode).toBe(201);
    expect(JSON.parse(created.body)).toMatchObject({ name: "from lambda", ownerId: alice.ownerId });
    const unauth = await invoke({ ...event, headers: post.headers });
    expect(unauth.statusCode).toBe(401);

    const jwt = awsEvent("apigw-http-v2-jwt-with-body.json");
    // The sample is a GET carrying a body, which no client sends; keep its structure, drop the body.
    const withQuery = await invoke({
      ...jwt,
      body: undefined,
      rawPath: "/api/v1/contracts",
      rawQueryString: "limit=1",
      headers: { ...jwt.headers, authorization: `Bearer ${key}` },
      requestContext: { ...jwt.requestContext, http: { ...jwt.requestContext.http, path: "/api/v1/contracts", method: "GET" } },
    });
    expect(withQuery.statusCode, withQuery.body).toBe(200);
    expect(JSON.parse(withQuery.body).items).toHaveLength(1);
  });
});
