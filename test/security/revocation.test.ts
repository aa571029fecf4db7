import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { WebSocket } from "ws";
import { createRelayEnv, waitFor, type RelayEnv } from "../support/relay.js";
import type { TestOwner } from "../support/api.js";
import { getConnection } from "../../core/store/connections.js";
import { receiveDaemonMessage } from "../../core/services/daemon/sessions.js";

let env: RelayEnv;
let alice: TestOwner;

beforeAll(async () => {
  env = await createRelayEnv({ relayWaitMs: 3000, relayTimeoutMs: 3000 });
  alice = await env.newOwner("alice");
});
afterAll(() => env.close());

async function daemonKeyId(owner: TestOwner): Promise<string> {
  return (await env.runtime.auth.authenticateDaemon(owner.daemonKey)).keyId;
}

describe("revoking a daemon key takes effect at once (the reproduction)", () => {
  it("closes its live connection, drops it from /daemons, routes nothing to it, and refuses what it still sends", async () => {
    const task = (await env.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", baseSha: "a".repeat(40), branchName: "main" } })).body;
    const cp = (await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: "1".repeat(40), branchName: "main", message: "one" } })).body.checkpoint;
    const daemonId = randomUUID();
    const { ws, received } = await env.scriptedDaemon(alice, daemonId, (command, socket) => {
      socket.send(JSON.stringify({ type: "checkpointDiffResult", requestId: command.requestId, taskId: command.taskId, success: true, diff: { files: [], stats: { filesChanged: 0, insertions: 0, deletions: 0 } } }));
    });
    // Before: the daemon answers a diff.
    expect((await env.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/diff`, { key: alice.apiKey })).status).toBe(200);
    const connectionId = env.gateway.connectionIds()[0]!;
    expect((await getConnection(env.db, connectionId))?.keyId).toBe(await daemonKeyId(alice));

    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const keyId = await daemonKeyId(alice);
    expect((await env.call("DELETE", `/api/v1/keys/${keyId}`, { key: alice.apiKey })).status).toBe(204);
    // The record is gone by the time DELETE answers; the socket closes right after.
    expect(await getConnection(env.db, connectionId)).toBeUndefined();
    expect((await env.call("GET", "/api/v1/daemons", { key: alice.apiKey })).body.items).toEqual([]);
    await closed;

    const sentBefore = received.length;
    const diff = await env.call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/diff`, { key: alice.apiKey });
    expect(diff.status).toBe(503);
    expect(received.length).toBe(sentBefore);

    // What the connection would still send is refused: it is no longer known.
    const late = await receiveDaemonMessage(
      env.runtime,
      connectionId,
      JSON.stringify({ type: "taskStatus", taskId: task.id, status: "completed" }),
    );
    expect(late.statusCode).toBe(403);
    expect((await env.call("GET", `/api/v1/mesh/tasks/${task.id}`, { key: alice.apiKey })).body.status).not.toBe("completed");
  });

  it("a revoked daemon key cannot connect again", async () => {
    const bob = await env.newOwner("bob");
    const keyId = await daemonKeyId(bob);
    expect((await env.call("DELETE", `/api/v1/keys/${keyId}`, { key: bob.apiKey })).status).toBe(204);
    const ws = new WebSocket(`${env.gateway.url}/?daemonId=${randomUUID()}`, { headers: { Authorization: `Bearer ${bob.daemonKey}` } });
    // A refused handshake also reports an error; the status is what is checked.
    ws.on("error", () => undefined);
    const status = await new Promise<number>((resolve) => {
      ws.once("unexpected-response", (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      ws.once("open", () => {
        resolve(200);
        ws.terminate();
      });
    });
    expect(status).toBe(401);
  });

  it("revoking one daemon key leaves the owner's other daemon keys connected", async () => {
    const carol = await env.newOwner("carol");
    const second = (await env.call("POST", "/api/v1/keys", { key: carol.apiKey, body: { kind: "daemon" } })).body;
    const first = await env.scriptedDaemon(carol, randomUUID());
    const other = await env.scriptedDaemon({ ...carol, daemonKey: second.key }, randomUUID());
    expect((await env.call("DELETE", `/api/v1/keys/${second.id}`, { key: carol.apiKey })).status).toBe(204);
    await waitFor(() => other.ws.readyState === WebSocket.CLOSED, 10_000, "the revoked key's socket to close");
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    const daemons = (await env.call("GET", "/api/v1/daemons", { key: carol.apiKey })).body.items;
    expect(daemons).toHaveLength(1);
  });
});
