import { beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestOwner } from "../support/api.js";
import { keys } from "../../core/keys.js";
import { highestIdAt, newId } from "../../core/ids.js";

/**
 * A cursor signed with the server's own secret (as anyone holding the local
 * stack's secret could sign one) but naming a position its list cannot hold
 * is a 400 that says so, never a 500 or a page read from somewhere else.
 */

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let task: { id: string };
let contract: { id: string };

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  contract = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "c" } })).body;
  task = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", contractId: contract.id, baseSha: "a".repeat(40), branchName: "main" } })).body;
  for (let i = 1; i <= 3; i++) {
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: [{ id: `m${i}`, role: "user", content: `hi ${i}` }] } });
    await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: String(i).repeat(40), branchName: "main", message: `c${i}` } });
  }
});

/** GET `path` with a cursor the server's secret signs for `scope`: a 400 naming the cursor. */
async function refused(path: string, scope: string, position: unknown) {
  const cursor = api.db.cursors.encode(scope, position);
  const res = await api.call("GET", `${path}?limit=1&cursor=${encodeURIComponent(cursor)}`, { key: alice.apiKey });
  expect(res.status, `${path} ${JSON.stringify(position)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  expect(res.body.error.message).toMatch(/cursor/);
}

/** The same list's own cursors still page. */
async function pages(path: string) {
  const first = await api.call("GET", `${path}?limit=1`, { key: alice.apiKey });
  expect(first.status).toBe(200);
  expect(first.body.nextCursor).toEqual(expect.any(String));
  const next = await api.call("GET", `${path}?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`, { key: alice.apiKey });
  expect(next.status).toBe(200);
}

describe("a validly signed cursor that does not fit its list is a 400", () => {
  it("a conversation position that is negative, fractional or not a position", async () => {
    const path = `/api/v1/mesh/tasks/${task.id}/conversation`;
    const scope = `conversation:${task.id}`;
    for (const position of [{ i: -1, after: 0 }, { i: 0, after: 0.5 }, { i: 0.5, after: 1 }, { i: 0, after: -1 }, { i: 0 }, "x", null, [0, 1], { i: 0, after: 1, extra: 1 }]) {
      await refused(path, scope, position);
    }
    await pages(path);
  });

  it("a checkpoint start key of the wrong shape, kind or partition", async () => {
    const path = `/api/v1/mesh/tasks/${task.id}/checkpoints`;
    const scope = `checkpoints:${task.id}`;
    const partition = keys.taskPartition(task.id);
    for (const position of [
      { pk: partition, sk: "SNAPSHOT#x" },
      { pk: partition, sk: keys.logBatch(task.id, 1).sk },
      { pk: keys.taskPartition(newId()), sk: keys.checkpoint(task.id, 1).sk },
      { pk: partition, sk: 5 },
      { pk: partition },
      { pk: partition, sk: keys.checkpoint(task.id, 1).sk, other: "x" },
      "CHECKPOINT#000001",
      7,
    ]) {
      await refused(path, scope, position);
    }
    await pages(path);
  });

  it("an index start key naming another partition", async () => {
    const path = "/api/v1/contracts";
    const scope = `contracts:${alice.ownerId}`;
    const mine = keys.ownerContracts(alice.ownerId);
    for (const position of [
      { ...keys.contract(contract.id), gsi1pk: keys.ownerContracts("someone-else"), gsi1sk: "x" },
      { ...keys.contract(contract.id), gsi1pk: mine },
      { ...keys.contract(contract.id), gsi1pk: mine, gsi1sk: 1 },
    ]) {
      await refused(path, scope, position);
    }
  });

  it("a history position that is not an event id, or a lane start on the wrong key kind", async () => {
    const id = highestIdAt(new Date());
    const lists = [
      { path: `/api/v1/mesh/tasks/${task.id}/history`, scope: `taskHistory:${task.id}` },
      { path: `/api/v1/contracts/${contract.id}/history`, scope: `contractHistory:${contract.id}` },
      { path: "/api/v1/timeline", scope: `timeline:${alice.ownerId}` },
    ];
    for (const { path, scope } of lists) {
      for (const position of ["zz", "", 5, { id: "not an id", hosts: {} }, { id }]) await refused(path, scope, position);
      await pages(path);
    }
    const { path, scope } = lists[0]!;
    for (const hosts of [
      { [keys.logIdsPrefix]: { sk: keys.checkpoint(task.id, 1).sk, after: true } },
      { [keys.checkpointPrefix]: { sk: keys.logIds(task.id, 1).sk, after: false } },
      { [keys.logIdsPrefix]: { sk: 1, after: true } },
    ]) {
      await refused(path, scope, { id, hosts });
    }
  });
});
