import { beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestOwner } from "../support/api.js";
import { createApiKey } from "../../core/store/owners.js";
import { claimIdempotencyKey, completeIdempotencyKey, recordKey, REQUEST_TIME_LIMIT_SECONDS } from "../../core/store/idempotency.js";
import { createTestDb } from "../support/env.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let contractId: string;
let toolKey: string;
let otherContractTask: string;

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  contractId = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "scoped" } })).body.id;
  const other = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "other" } })).body.id;
  otherContractTask = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", contractId: other } })).body.id;
  toolKey = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId } })).body.key;
});

const idem = (key: string) => ({ "idempotency-key": key });

describe("idempotency is bound to the credential and the route", () => {
  it("a tool key replaying a user's key creation gets a 403, never the secret (the reproduction)", async () => {
    const headers = idem(`keys-${Math.random()}`);
    const created = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "api" }, headers });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^mk_/);
    const replayedByTool = await api.call("POST", "/api/v1/keys", { key: toolKey, body: { kind: "api" }, headers });
    expect(replayedByTool.status).toBe(403);
    expect(JSON.stringify(replayedByTool.body)).not.toContain(created.body.key);
  });

  it("a replayed key creation returns the id and metadata without the secret, and no secret is kept at rest", async () => {
    const key = `keys-${Math.random()}`;
    const created = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "daemon", name: "laptop" }, headers: idem(key) });
    const replay = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "daemon", name: "laptop" }, headers: idem(key) });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual({ id: created.body.id, kind: "daemon", name: "laptop", createdAt: created.body.createdAt });
    expect(replay.body.key).toBeUndefined();
    const keyId = (await api.call("GET", "/api/v1/keys?limit=200", { key: alice.apiKey })).body.items.find(
      (k: { id: string }) => k.id === created.body.id,
    ).id;
    const aliceApiKeyId = (await api.runtime.auth.authenticate(`Bearer ${alice.apiKey}`)).keyId!;
    const item = await api.db.table.get(recordKey({ ownerId: alice.ownerId, credentialId: aliceApiKeyId, method: "POST", route: "/api/v1/keys" }, key));
    expect(item).toBeDefined();
    expect(JSON.stringify(item)).not.toContain(created.body.key);
    expect(JSON.stringify(item)).toContain(keyId);
  });

  it("another key of the same owner with the same Idempotency-Key makes a fresh request", async () => {
    const second = (await createApiKey(api.db, alice.ownerId, { kind: "api" })).key;
    const headers = idem(`c-${Math.random()}`);
    const first = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "same" }, headers });
    const other = await api.call("POST", "/api/v1/contracts", { key: second, body: { name: "same" }, headers });
    expect(other.status).toBe(201);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(other.body.id).not.toBe(first.body.id);
  });

  it("a tool key cannot replay a contract creation or an append outside its contract", async () => {
    const headers = idem(`x-${Math.random()}`);
    expect((await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "c" }, headers })).status).toBe(201);
    expect((await api.call("POST", "/api/v1/contracts", { key: toolKey, body: { name: "c" }, headers })).status).toBe(403);
    const append = { messages: [{ id: "m1", role: "user", content: "hi" }] };
    const appendHeaders = idem(`a-${Math.random()}`);
    expect((await api.call("POST", `/api/v1/mesh/tasks/${otherContractTask}/messages`, { key: alice.apiKey, body: append, headers: appendHeaders })).status).toBe(201);
    const byTool = await api.call("POST", `/api/v1/mesh/tasks/${otherContractTask}/messages`, { key: toolKey, body: append, headers: appendHeaders });
    expect(byTool.status).toBe(403);
  });

  it("the same key on another route is another request", async () => {
    const headers = idem(`r-${Math.random()}`);
    const a = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "r" }, headers });
    const t = await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "r", plan: "p" }, headers });
    expect(a.status).toBe(201);
    expect(t.status).toBe(201);
    expect(t.body.plan).toBe("p");
  });

  it("separators in an Idempotency-Key name no other record; keys outside visible ASCII are refused", async () => {
    const k = `k${Math.random()}`;
    const one = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "one" }, headers: idem(`x#${k}`) });
    const two = await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "two" }, headers: idem(k) });
    expect(one.status).toBe(201);
    expect(two.status).toBe(201);
    expect(two.body.id).not.toBe(one.body.id);
    expect((await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "x" }, headers: idem("a".repeat(201)) })).status).toBe(400);
    expect((await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "x" }, headers: idem("a b") })).status).toBe(400);
  });
});

describe("a running idempotency record expires with the request's time limit", () => {
  it("a dead request's key is usable again after the limit; its late answer is not kept", async () => {
    let now = Date.UTC(2026, 5, 1);
    const db = await createTestDb({ clock: () => new Date(now) });
    const scope = { ownerId: "o", credentialId: "k", method: "POST", route: "/api/v1/contracts" };
    const dead = await claimIdempotencyKey(db, scope, "key", "h");
    expect(dead).toHaveProperty("claimId");
    await expect(claimIdempotencyKey(db, scope, "key", "h")).rejects.toMatchObject({ code: "request_in_progress" });
    now += (REQUEST_TIME_LIMIT_SECONDS + 1) * 1000;
    const retry = await claimIdempotencyKey(db, scope, "key", "h");
    expect(retry).toHaveProperty("claimId");
    // The dead request finishing late must not overwrite the retry's record.
    await completeIdempotencyKey(db, scope, "key", (dead as { claimId: string }).claimId, { status: 201, body: { late: true } });
    await expect(claimIdempotencyKey(db, scope, "key", "h")).rejects.toMatchObject({ code: "request_in_progress" });
    await completeIdempotencyKey(db, scope, "key", (retry as { claimId: string }).claimId, { status: 201, body: { retry: true } });
    expect(await claimIdempotencyKey(db, scope, "key", "h")).toEqual({ replay: { status: 201, body: { retry: true } } });
    expect(REQUEST_TIME_LIMIT_SECONDS).toBeLessThanOrEqual(60);
  });
});
