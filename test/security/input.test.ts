import { beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createTestApi, type TestOwner } from "../support/api.js";
import { branchNameProblem } from "../../core/gitRefs.js";
import { putConnection } from "../../core/store/connections.js";
import { createHandler as createMessageHandler } from "../../functions/ws-message.js";
import { newId } from "../../core/ids.js";
import { getTaskRecord } from "../../core/store/tasks.js";
import { appendMessages as appendStoredMessages } from "../../core/store/conversationAppend.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let task: { id: string };
let cp: { id: string };

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  task = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", baseSha: "a".repeat(40), branchName: "main" } })).body;
  await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: [{ id: "m1", role: "user", content: "hi" }] } });
  cp = (await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: "1".repeat(40), branchName: "main", message: "one" } })).body.checkpoint;
});

const nested = (depth: number, leaf: string = "1") => "[".repeat(depth) + leaf + "]".repeat(depth);
const nestedObject = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

async function expect400(method: string, path: string, rawBody: string) {
  const res = await api.call(method, path, { key: alice.apiKey, rawBody });
  expect(res.status, `${path} ${rawBody.slice(0, 80)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  return res;
}

describe("hostile free-form JSON over HTTP is a 400 with the error shape (the reproductions)", () => {
  it("an empty key", async () => {
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, JSON.stringify({ commitSha: "2".repeat(40), branchName: "main", message: "m", filesChanged: { "": true } }));
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, JSON.stringify({ metadata: { "": 1 } }));
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, JSON.stringify({ metadata: { a: { "": 1 } } }));
  });

  it("numbers DynamoDB cannot hold exactly", async () => {
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, '{"metadata":{"n":1e-200}}');
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, '{"metadata":{"n":9007199254740993}}');
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, `{"commitSha":"${"3".repeat(40)}","branchName":"main","message":"m","filesChanged":[1e-131]}`);
    const fine = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey, rawBody: '{"metadata":{"n":1e-100,"z":0,"m":-5.5}}' });
    expect(fine.status).toBe(201);
  });

  it("nesting thousands of levels deep, in every free-form field", async () => {
    for (const depth of [40, 4_100, 20_000]) {
      await expect400("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, `{"metadata":{"a":${nested(depth)}}}`);
      await expect400("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, `{"commitSha":"${"4".repeat(40)}","branchName":"main","message":"m","filesChanged":${nestedObject(depth)}}`);
      await expect400("POST", `/api/v1/mesh/tasks/${task.id}/messages`, `{"messages":[{"role":"tool","content":"x","toolInput":${nested(depth)}}]}`);
      await expect400("POST", `/api/v1/mesh/tasks/${task.id}/messages`, `{"messages":[{"role":"assistant","content":"x","toolCalls":[{"id":"c","name":"n","input":${nestedObject(depth)}}]}]}`);
    }
  });

  it("what is already stored is read back as it is, however deep (the bounds apply to what comes in)", async () => {
    const record = (await getTaskRecord(api.db, alice.ownerId, task.id))!;
    const deep = JSON.parse(nested(40));
    await appendStoredMessages(api.db, record, [{ id: "stored-deep", role: "tool", content: "x", toolInput: deep }]);
    const got = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/messages/stored-deep`, { key: alice.apiKey });
    expect(got.status).toBe(200);
    expect(got.body.toolInput).toEqual(deep);
  });

  it("ids that become part of a key are bounded: toMessageId and a fork's message id of 1,100 characters", async () => {
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/conversation/rewind`, JSON.stringify({ toMessageId: "m".repeat(1_100) }));
    await expect400("POST", `/api/v1/mesh/tasks/${task.id}/fork`, JSON.stringify({ forkFromType: "message_id", forkFromValue: "m".repeat(1_100), newTaskName: "f", newTaskPlan: "p" }));
    const long = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/messages/${"m".repeat(1_100)}`, { key: alice.apiKey });
    expect([400, 404]).toContain(long.status);
  });

  it("a message id holding separators names that message only", async () => {
    const messages = [
      { id: "a#b", role: "user", content: "one" },
      { id: "a", role: "user", content: "two" },
      { id: "a#b#MSG#0000000001", role: "user", content: "three" },
    ];
    expect((await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages } })).status).toBe(201);
    for (const m of messages) {
      const got = await api.call("GET", `/api/v1/mesh/tasks/${task.id}/messages/${encodeURIComponent(m.id)}`, { key: alice.apiKey });
      expect(got.status).toBe(200);
      expect(got.body.content).toBe(m.content);
    }
  });

  it("branch names: a lone surrogate and refs/heads/x are refused", async () => {
    for (const branchName of ["x\uD800y", "refs/heads/x", "a.lock/b", "HEAD", "@"]) {
      const res = await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/branch`, { key: alice.apiKey, body: { branchName } });
      expect(res.status, branchName).toBe(400);
      expect(res.body.error.details[0].path).toBe("body.branchName");
    }
  });
});

describe("branch names are judged as git check-ref-format --branch judges them", () => {
  const names = [
    "main", "feature/x", "a.b", "é", "a@b", "x-y_z", "a/b/c", "v1.0", "-x", "x.", ".x", "a/.b", "a..b", "x/", "/x", "a//b",
    "a@{b", "x.lock", "a/b.lock", "a.lock/b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a b", "a\tb", "a\u007fb",
    "HEAD", "head", "@{-1}", "a/@", "日本/ブランチ", "a.lock.b", "x..lock", "lock", ".lock", "a/.lock/b",
  ];
  it.each(names)("%s", (name) => {
    let gitAccepts: boolean;
    try {
      const out = execFileSync("git", ["check-ref-format", "--branch", name], { stdio: ["ignore", "pipe", "ignore"] }).toString().replace(/\n$/, "");
      gitAccepts = out === name;
    } catch {
      gitAccepts = false;
    }
    expect(branchNameProblem(name) === undefined, `${name}: ${branchNameProblem(name)}`).toBe(gitAccepts);
  });
});

describe("hostile daemon messages are refused, never thrown (the reproductions)", () => {
  let send: (body: string) => Promise<{ statusCode: number; body?: string }>;
  beforeAll(async () => {
    const connectionId = `conn-${newId()}`;
    await putConnection(api.db, { connectionId, ownerId: alice.ownerId, daemonId: newId(), connectedAt: new Date().toISOString() });
    const handler = createMessageHandler(api.runtime);
    send = (body) =>
      handler({ requestContext: { connectionId, routeKey: "$default" } as never, body, isBase64Encoded: false } as Parameters<typeof handler>[0]);
  });

  const checkpoint = (filesChanged: string) =>
    `{"type":"checkpointCreated","taskId":"${task.id}","commitSha":"${"5".repeat(40)}","branchName":"main","message":"m","filesChanged":${filesChanged}}`;

  it("checkpointCreated.filesChanged nested 40 deep, or with a number above 2^53, or an empty key", async () => {
    for (const filesChanged of [nestedObject(40), nested(5_000), '{"a":9007199254740993}', '{"":true}', "[1e-200]"]) {
      const answer = await send(checkpoint(filesChanged));
      expect(answer.statusCode, filesChanged.slice(0, 40)).toBe(400);
      expect(JSON.parse(answer.body!).error.code).toBe("validation_failed");
    }
  });

  it("a deep toolInput in taskMessages", async () => {
    const answer = await send(`{"type":"taskMessages","taskId":"${task.id}","messages":[{"id":"w1","role":"tool","content":"x","toolInput":${nested(5_000)}}]}`);
    expect(answer.statusCode).toBe(400);
  });

  it("a branch name git would not take, in a report", async () => {
    const answer = await send(`{"type":"checkpointCreated","taskId":"${task.id}","commitSha":"${"6".repeat(40)}","branchName":"refs/heads/x","message":"m"}`);
    expect(answer.statusCode).toBe(400);
  });
});
