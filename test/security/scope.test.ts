import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createTestApi, type TestOwner } from "../support/api.js";
import { ACCESS_MATRIX, accessMatrixMarkdown } from "../../core/access.js";
import { freePort } from "../../stacks/local/emulators.js";
import { createOwner } from "../../core/store/owners.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let jwks: Server;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
const issuer = "https://issuer.test/";
const audience = "makima";
let ids: Record<string, string>;
let toolKey: string;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const port = await freePort();
  jwks = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(port, "127.0.0.1", () => resolve()));
  api = await createTestApi({ config: { jwt: { jwksUrl: `http://127.0.0.1:${port}/jwks`, issuer, audience } } });
  alice = await api.newOwner("alice");
  api.runtime.config.operators.push(alice.ownerId);

  const contract = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "c" } })).body;
  const task = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", contractId: contract.id, baseSha: "a".repeat(40), branchName: "main" } })).body;
  await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: [{ id: "m1", role: "user", content: "hi" }] } });
  const cp = (await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: "1".repeat(40), branchName: "main", message: "one" } })).body;
  const snapshot = (await api.call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, { key: alice.apiKey, body: {} })).body;
  const created = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId: contract.id } })).body;
  toolKey = created.key;
  ids = { contract: contract.id, task: task.id, cid: cp.checkpoint.id, sid: snapshot.id, key: created.id, message: "m1" };
});
afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

function pathFor(template: string): string {
  return template
    .replace(/^\/api\/v1\/contracts\/\{id\}/, `/api/v1/contracts/${ids.contract}`)
    .replace(/^\/api\/v1\/mesh\/tasks\/\{id\}/, `/api/v1/mesh/tasks/${ids.task}`)
    .replace(/^\/api\/v1\/keys\/\{id\}/, `/api/v1/keys/00000000-0000-7000-8000-000000000000`)
    .replace(/^\/api\/v1\/operations\/\{id\}/, `/api/v1/operations/00000000-0000-7000-8000-000000000000`)
    .replace("{cid}", ids.cid!)
    .replace("{sid}", ids.sid!)
    .replace("{messageId}", ids.message!);
}

describe("the key scope table", () => {
  it("names every route the API serves, and nothing else", async () => {
    const doc = (await api.call("GET", "/api/v1/openapi.json")).body;
    const served = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${p}`))
      .filter((r) => r !== "GET /health");
    expect(ACCESS_MATRIX.map((r) => `${r.method} ${r.path}`).sort()).toEqual(served.sort());
    // The API document is where the table is printed for readers.
    expect(doc.info.description).toContain(accessMatrixMarkdown());
  });

  for (const row of ACCESS_MATRIX) {
    it(`${row.method} ${row.path}: tool key ${row.tool}, user key allowed`, async () => {
      const path = pathFor(row.path);
      const body = row.method === "GET" || row.method === "DELETE" ? undefined : {};
      const asTool = await api.call(row.method, path, { key: toolKey, body });
      if (row.tool === "denied") {
        expect(asTool.status).toBe(403);
        expect(asTool.body.error.code).toBe("forbidden");
      } else {
        expect(asTool.status, JSON.stringify(asTool.body)).not.toBe(403);
        // 503: no daemon online for a relayed route.
        expect([asTool.status < 500, asTool.status === 503]).toContain(true);
      }
      // A user key is never refused by the table (a DELETE of an unknown key is a 404; nothing here is a 403).
      const asUser = await api.call(row.method, path, { key: alice.apiKey, body });
      expect(asUser.status, `${row.method} ${path}: ${JSON.stringify(asUser.body)}`).not.toBe(403);
      expect([asUser.status < 500, asUser.status === 503]).toContain(true);
    });
  }

  it("a tool key may spawn a task in its contract, but not a supervisor task, and not in another contract", async () => {
    const spawn = await api.call("POST", "/api/v1/mesh/tasks", { key: toolKey, body: { name: "w", plan: "p", contractId: ids.contract } });
    expect(spawn.status).toBe(201);
    const supervisor = await api.call("POST", "/api/v1/mesh/tasks", { key: toolKey, body: { name: "s", plan: "p", contractId: ids.contract, isSupervisor: true } });
    expect(supervisor.status).toBe(403);
    const contract = (await api.call("GET", `/api/v1/contracts/${ids.contract}`, { key: alice.apiKey })).body;
    expect(contract.supervisorTaskId).toBeUndefined();
    const other = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "o" } })).body;
    expect((await api.call("GET", `/api/v1/contracts/${other.id}`, { key: toolKey })).status).toBe(403);
    expect((await api.call("POST", "/api/v1/mesh/tasks", { key: toolKey, body: { name: "w", plan: "p", contractId: other.id } })).status).toBe(403);
  });

  it("the reproductions: a tool key cannot archive or rename its contract, rewind or fork", async () => {
    expect((await api.call("PATCH", `/api/v1/contracts/${ids.contract}`, { key: toolKey, body: { status: "archived" } })).status).toBe(403);
    expect((await api.call("PATCH", `/api/v1/contracts/${ids.contract}`, { key: toolKey, body: { name: "renamed" } })).status).toBe(403);
    expect((await api.call("POST", `/api/v1/mesh/tasks/${ids.task}/conversation/rewind`, { key: toolKey, body: { byMessageCount: 1 } })).status).toBe(403);
    expect((await api.call("POST", `/api/v1/mesh/tasks/${ids.task}/fork`, { key: toolKey, body: { forkFromType: "checkpoint", forkFromValue: ids.cid, newTaskName: "f", newTaskPlan: "p" } })).status).toBe(403);
    expect((await api.call("GET", `/api/v1/contracts/${ids.contract}`, { key: alice.apiKey })).body).toMatchObject({ name: "c", status: "active" });
  });

  it("a revoked user key and a revoked tool key get a 401 on their next request", async () => {
    const user = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "api" } })).body;
    const tool = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId: ids.contract } })).body;
    expect((await api.call("GET", "/api/v1/contracts", { key: user.key })).status).toBe(200);
    expect((await api.call("GET", `/api/v1/contracts/${ids.contract}`, { key: tool.key })).status).toBe(200);
    expect((await api.call("DELETE", `/api/v1/keys/${user.id}`, { key: alice.apiKey })).status).toBe(204);
    expect((await api.call("DELETE", `/api/v1/keys/${tool.id}`, { key: alice.apiKey })).status).toBe(204);
    expect((await api.call("GET", "/api/v1/contracts", { key: user.key })).status).toBe(401);
    expect((await api.call("GET", `/api/v1/contracts/${ids.contract}`, { key: tool.key })).status).toBe(401);
  });
});

describe("JWTs", () => {
  const sign = (claims: { sub?: string; exp?: number | false }) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuer(issuer).setAudience(audience).setIssuedAt();
    if (claims.sub !== undefined) jwt = jwt.setSubject(claims.sub);
    if (claims.exp !== false) jwt = jwt.setExpirationTime(claims.exp ?? "10m");
    return jwt.sign(privateKey);
  };

  it("a token with an expiry and a plain subject signs in as that owner", async () => {
    const owner = await createOwner(api.db, "jwt-owner", "auth0|jwt-owner-1");
    const token = await sign({ sub: owner.id });
    const res = await api.call("POST", "/api/v1/contracts", { key: token, body: { name: "from jwt" } });
    expect(res.status).toBe(201);
  });

  it("a token without exp is refused", async () => {
    const token = await sign({ sub: "auth0|someone", exp: false });
    const res = await api.call("GET", "/api/v1/contracts", { key: token });
    expect(res.status).toBe(401);
  });

  it("a subject holding the key separator cannot reach another owner's records (the reproduction)", async () => {
    const headers = { "idempotency-key": "x#k" };
    const created = await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "api" }, headers });
    expect(created.status).toBe(201);
    for (const sub of [`${alice.ownerId}#x`, `${alice.ownerId}#KEYS`, "a b", "", "x".repeat(129)]) {
      if (!sub) continue;
      const token = await sign({ sub });
      const replay = await api.call("POST", "/api/v1/keys", { key: token, body: { kind: "api" }, headers: { "idempotency-key": "k" } });
      expect(replay.status, sub).toBe(401);
      expect(JSON.stringify(replay.body)).not.toContain("mk_");
    }
  });
});
