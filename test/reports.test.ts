import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { initRepo, removeTempDirs, tempDir } from "./support/git.js";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { runReports } from "./support/reportsRun.js";
import { seededRandom } from "../bench/support.js";
import { createTask, getTaskRecord } from "../core/store/tasks.js";
import { readWholeConversation } from "../core/store/conversationLog.js";
import { randomUUID } from "node:crypto";
import { WebSocket } from "ws";
import { getOperationRecord } from "../core/store/operations.js";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { blobKeys } from "../core/blobs.js";
import { newId, timeOfId } from "../core/ids.js";
import { ServerClock } from "../daemon/ws/serverClock.js";
import { appendMessages } from "../core/store/conversationAppend.js";
import { listCheckpoints } from "../core/store/checkpoints.js";
import { Outbox } from "../daemon/ws/outbox.js";
import { Reporter } from "../daemon/ws/reporter.js";
import type { DaemonMessage, ReportAck } from "../core/protocol.js";
import { gzipSync } from "node:zlib";

/**
 * Daemon reports under a hostile network: the gateway drops, duplicates,
 * delays and reorders messages, loses acknowledgements and cuts
 * connections; the daemon restarts once. What is stored must still be
 * exactly what the agent did.
 */

let env: RelayEnv;
let owner: TestOwner;

beforeAll(async () => {
  env = await createRelayEnv();
  owner = await env.newOwner("reports");
});

afterAll(async () => {
  await env?.close();
  removeTempDirs();
});

/** A new task, and a scripted daemon whose report acknowledgements are collected. */
async function taskWithAckingDaemon() {
  const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
  const acks: ReportAck[] = [];
  const { ws } = await env.scriptedDaemon(owner, randomUUID(), (m) => {
    if (m.type === "reportAck") acks.push(m);
  });
  return { task, acks, ws };
}

describe("daemon reports", () => {
  it("store every message and checkpoint once, in the agent's order, through chaos and a daemon restart", async () => {
    const outcome = await runReports({
      runtime: env.runtime,
      gateway: env.gateway,
      ownerId: owner.ownerId,
      daemonKey: owner.daemonKey,
      messages: 240,
      commits: 6,
      chaos: { dropInbound: 0.2, duplicateInbound: 0.2, maxDelayMs: 40, dropOutbound: 0.2, closeConnection: 0.05, random: seededRandom(10) },
      timeoutMs: 150_000,
    });
    expect({ lost: outcome.lost, duplicated: outcome.duplicated, reordered: outcome.reordered, short: outcome.shortCheckpoints }).toEqual({
      lost: 0,
      duplicated: 0,
      reordered: 0,
      short: 0,
    });
    expect(outcome.checkpoints).toBe(6);
    expect(outcome.status).toBe("completed");
    // The faults did happen.
    expect(env.gateway.chaosStats.droppedInbound + env.gateway.chaosStats.droppedOutbound).toBeGreaterThan(0);
  }, 200_000);

  for (const agent of ["fast", "buffered", "mixed"] as const) {
    it(`a ${agent} agent that never waits: each checkpoint counts exactly the lines it had printed when it ran git`, async () => {
      const outcome = await runReports({
        runtime: env.runtime,
        gateway: env.gateway,
        ownerId: owner.ownerId,
        daemonKey: owner.daemonKey,
        messages: 600,
        commits: 10,
        agent,
        restart: false,
        timeoutMs: 150_000,
      });
      expect(outcome.log.filter((line) => line.startsWith("checkpoint "))).toEqual([]);
      expect({ lost: outcome.lost, duplicated: outcome.duplicated, reordered: outcome.reordered, short: outcome.shortCheckpoints }).toEqual({
        lost: 0,
        duplicated: 0,
        reordered: 0,
        short: 0,
      });
      expect(outcome.checkpoints).toBe(10);
      expect(outcome.status).toBe("completed");
    }, 200_000);
  }

  it("holds a report that overtook its predecessor, applies both in order, and acknowledges each", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const daemonId = randomUUID();
    const acks: Array<{ seq: number; status: string; applied: number }> = [];
    const { ws } = await env.scriptedDaemon(owner, daemonId, (m) => {
      if (m.type === "reportAck") acks.push(m);
    });
    const stream = newId();
    const report = (seq: number, content: string) =>
      JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: `m${seq}`, role: "assistant", content }], report: { stream, seq } });
    ws.send(report(2, "second"));
    ws.send(report(1, "first"));
    ws.send(report(1, "first")); // a resend, racing the first copy
    await waitFor(() => acks.length === 3, 20_000, "three acknowledgements");
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.content)).toEqual(["first", "second"]);
    expect(acks.find((a) => a.seq === 2)).toMatchObject({ status: "applied", applied: 2 });
    expect(acks.filter((a) => a.seq === 1).map((a) => a.status).sort()).toEqual(["applied", "duplicate"]);
    ws.close();
  }, 60_000);

  it("a commit's report carries the messages before it: stored first, counted by its snapshot, never twice", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const acks: Array<{ seq: number; status: string; applied: number }> = [];
    const { ws } = await env.scriptedDaemon(owner, randomUUID(), (m) => {
      if (m.type === "reportAck") acks.push(m);
    });
    // An earlier copy of the report stored its first message, then its checkpoint failed.
    await appendMessages(env.db, task, [{ id: "m1", role: "assistant", content: "one" }]);
    const stream = newId();
    const commit = JSON.stringify({
      type: "checkpointCreated",
      taskId: task.id,
      commitSha: "c".repeat(40),
      branchName: "main",
      message: "after two",
      messages: [
        { id: "m1", role: "assistant", content: "one" },
        { id: "m2", role: "assistant", content: "two" },
      ],
      report: { stream, seq: 1 },
    });
    ws.send(commit);
    ws.send(commit); // a resend, racing the first copy
    await waitFor(() => acks.length === 2, 20_000, "two acknowledgements");
    expect(acks.map((a) => a.status).sort()).toEqual(["applied", "duplicate"]);
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "m3", role: "assistant", content: "three" }], report: { stream, seq: 2 } }));
    await waitFor(() => acks.some((a) => a.seq === 2), 20_000, "an answer to report 2");
    expect(acks.find((a) => a.seq === 2)).toMatchObject({ status: "applied", applied: 2 });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.content)).toEqual(["one", "two", "three"]);
    expect((await listCheckpoints(env.db, record, 10)).items.map((c) => c.messageCount)).toEqual([2]);
    ws.close();
  }, 60_000);

  it("answers early when the predecessor never comes, and takes an older daemon's unnumbered report as before", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const acks: Array<{ seq: number; status: string; applied: number }> = [];
    const { ws } = await env.scriptedDaemon(owner, randomUUID(), (m) => {
      if (m.type === "reportAck") acks.push(m);
    });
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "x", role: "assistant", content: "x" }], report: { stream: newId(), seq: 3 } }));
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "old", role: "assistant", content: "unnumbered" }] }));
    await waitFor(() => acks.length === 1, 20_000, "an acknowledgement");
    expect(acks[0]).toMatchObject({ seq: 3, status: "early", applied: 0 });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.content)).toEqual(["unnumbered"]);
    ws.close();
  }, 60_000);

  it("a planned reconnect hands waiting operations to the new connection; an unplanned drop still fails them at once", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const daemonId = randomUUID();
    const first = await env.scriptedDaemon(owner, daemonId);
    const command = { type: "getCheckpointDiff" as const, taskId: task.id, checkpointSha: "a".repeat(40) };
    const planned = await env.runtime.relay.dispatch(owner.ownerId, command, { wait: false });
    await waitFor(() => first.received.some((c) => c.requestId === planned.id), 10_000, "the command");
    // A second connection of the same daemon, then the handover on the first, then the first closes.
    const second = await env.scriptedDaemon(owner, daemonId);
    const handedOver = new Promise((resolve) => first.ws.on("message", (d) => JSON.parse(d.toString()).type === "handedOver" && resolve(JSON.parse(d.toString()))));
    first.ws.send(JSON.stringify({ type: "handover" }));
    expect(await handedOver).toEqual({ type: "handedOver", operations: 1 });
    first.ws.close(1000);
    await waitFor(() => first.ws.readyState === WebSocket.CLOSED, 10_000, "the close");
    // The reply arrives on the new connection and settles the operation.
    second.ws.send(JSON.stringify({ type: "checkpointDiffResult", requestId: planned.id, taskId: task.id, success: true, diff: { files: [], stats: { filesChanged: 0, insertions: 0, deletions: 0 } } }));
    await waitFor(async () => (await getOperationRecord(env.db, owner.ownerId, planned.id))?.status === "succeeded", 10_000, "the operation to succeed");

    // Without a handover, the drop fails what waits on the connection at once.
    const dropped = await env.runtime.relay.dispatch(owner.ownerId, command, { wait: false, targetDaemonId: daemonId });
    await waitFor(() => second.received.some((c) => c.requestId === dropped.id), 10_000, "the second command");
    second.ws.terminate();
    const failed = await waitFor(async () => {
      const op = await getOperationRecord(env.db, owner.ownerId, dropped.id);
      return op?.status === "timed_out" ? op : undefined;
    }, 10_000, "the operation to fail");
    expect(failed.error?.code).toBe("daemon_disconnected");
  }, 60_000);

  it("the daemon moves to a new connection before the gateway's limit and keeps one connection", async () => {
    const daemon = await env.startTestDaemon(owner, { maxConnectionMs: 700 });
    await waitFor(() => daemon.connection.opened >= 3, 20_000, "two planned reconnects");
    await waitFor(async () => {
      const items = (await env.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items as Array<{ daemonId: string }>;
      return items.filter((d) => d.daemonId === daemon.daemonId).length === 1;
    }, 10_000, "one connection listed");
    expect(daemon.log.some((l) => /moving to a new connection/.test(l))).toBe(true);
    await daemon.stop();
  }, 60_000);

  it("a message too large for a WebSocket message arrives whole, through S3", async () => {
    const dir = tempDir("makima-agent-");
    const big = "0123456789abcdef".repeat(20_000); // 320 KB
    writeFileSync(
      path.join(dir, "agent.mjs"),
      `import { writeSync } from "node:fs";
writeSync(1, JSON.stringify({ id: "big", role: "tool", content: "result", toolName: "read", toolResult: ${JSON.stringify(big)} }) + "\\n");
writeSync(1, JSON.stringify({ role: "assistant", content: "after" }) + "\\n");
`,
    );
    const daemon = await env.startTestDaemon(owner, { agentCommand: `"${process.execPath}" "${path.join(dir, "agent.mjs")}"` });
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const cwd = initRepo(path.join(daemon.root, task.id));
    await daemon.runner.start({ taskId: task.id, name: "t", plan: "p", cwd, branchName: "main" });
    await waitFor(async () => (await getTaskRecord(env.db, owner.ownerId, task.id))?.status === "completed", 30_000, "the task to complete");
    const whole = await env.call("GET", `/api/v1/mesh/tasks/${task.id}/messages/big`, { key: owner.apiKey });
    expect(whole.status).toBe(200);
    expect(whole.body.toolResult).toBe(big);
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.content)).toEqual(["result", "after"]);
    expect(env.gateway.stats.maxInboundBytes).toBeLessThan(128 * 1024);
    await daemon.stop();
  }, 60_000);
});

describe("daemon reports with bad messages", () => {
  it("a report whose uploaded message is not JSON stores its other messages and names the bad one; the reports after it still apply", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const acks: Array<{ seq: number; status: string; applied: number; error?: { code: string } }> = [];
    const { ws } = await env.scriptedDaemon(owner, randomUUID(), (m) => {
      if (m.type === "reportAck") acks.push(m);
    });
    // The daemon's upload through its presigned URL came out cut short.
    await env.db.blobs.s3.send(
      new PutObjectCommand({ Bucket: env.db.blobs.bucket, Key: blobKeys.messageUpload(owner.ownerId, task.id, "big"), Body: '{"id":"big","role":"tool","content":"res' }),
    );
    const stream = newId();
    const good = { id: "good", role: "assistant", content: "before" };
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [good, { id: "big", role: "tool", content: "", timestamp: new Date().toISOString(), uploaded: true }], report: { stream, seq: 1 } }));
    await waitFor(() => acks.some((a) => a.seq === 1), 10_000, "an answer to report 1");
    expect(acks.find((a) => a.seq === 1)).toMatchObject({ status: "applied", refused: [{ index: 1, id: "big", code: "upload_invalid" }] });

    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "next", role: "assistant", content: "after" }], report: { stream, seq: 2 } }));
    await waitFor(() => acks.some((a) => a.seq === 2), 10_000, "an answer to report 2");
    expect(acks.find((a) => a.seq === 2)).toMatchObject({ status: "applied" });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.id)).toEqual(["good", "next"]);
    ws.close();
  }, 60_000);

  it("an upload that expands past the limit is refused as too large, however small it is compressed", async () => {
    const { task, acks, ws } = await taskWithAckingDaemon();
    const bomb = gzipSync(JSON.stringify({ id: "bomb", role: "tool", content: "x".repeat(50 * 1024 * 1024) }));
    expect(bomb.length).toBeLessThan(100 * 1024);
    await env.db.blobs.s3.send(new PutObjectCommand({ Bucket: env.db.blobs.bucket, Key: blobKeys.messageUpload(owner.ownerId, task.id, "bomb"), Body: bomb }));
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "bomb", role: "tool", content: "", uploaded: true }], report: { stream: newId(), seq: 1 } }));
    await waitFor(() => acks.length > 0, 20_000, "an answer to report 1");
    expect(acks[0]).toMatchObject({ status: "applied", refused: [{ index: 0, id: "bomb", code: "upload_too_large" }] });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect(await readWholeConversation(env.db, record.segments)).toEqual([]);
    ws.close();
  }, 60_000);

  it("stores every valid message of a report, once per id, and names each invalid one by its place", async () => {
    const { task, acks, ws } = await taskWithAckingDaemon();
    const messages: unknown[] = Array.from({ length: 42 }, (_, i) => ({ id: `m${i}`, role: "assistant", content: `line ${i}` }));
    messages[21] = { id: "m20", role: "assistant", content: "line 20 again" };
    messages[30] = { id: "m30", role: "wizard", content: "not a role" };
    messages[31] = "not a message";
    const stream = newId();
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages, report: { stream, seq: 1 } }));
    ws.send(JSON.stringify({ type: "checkpointCreated", taskId: task.id, commitSha: "a".repeat(40), branchName: "main", message: "c", messages: [{ id: "c1" }, { id: "c2", role: "user", content: "ok" }], report: { stream, seq: 2 } }));
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "only-bad" }], report: { stream, seq: 3 } }));
    await waitFor(() => [1, 2, 3].every((seq) => acks.some((a) => a.seq === seq)), 20_000, "answers to reports 1 to 3");
    const bySeq = (seq: number) => acks.find((a) => a.seq === seq)!;
    expect(bySeq(1)).toMatchObject({ status: "applied", applied: 1 });
    expect(bySeq(1).refused!.map((r) => [r.index, r.code])).toEqual([[30, "invalid_message"], [31, "invalid_message"]]);
    expect(bySeq(1).refused![0]).toMatchObject({ id: "m30" });
    expect(bySeq(2)).toMatchObject({ status: "applied", applied: 2, refused: [{ index: 0, id: "c1", code: "invalid_message" }] });
    expect(bySeq(3)).toMatchObject({ status: "applied", applied: 3, refused: [{ index: 0, id: "only-bad" }] });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    const stored = await readWholeConversation(env.db, record.segments);
    const expected = Array.from({ length: 42 }, (_, i) => `m${i}`).filter((id, i) => i !== 21 && i !== 30 && i !== 31);
    expect(stored.map((m) => m.id)).toEqual([...expected, "c2"]);
    expect(stored.find((m) => m.id === "m20")!.content).toBe("line 20");
    const checkpoints = (await listCheckpoints(env.db, record, 10)).items;
    expect(checkpoints.map((c) => c.messageCount)).toEqual([40]);
    ws.close();
  }, 60_000);
});

describe("report streams bounded by the server's time", () => {
  const YEAR = 365 * 86_400_000;
  const report = (taskId: string, stream: string, id: string, seq = 1) =>
    JSON.stringify({ type: "taskMessages", taskId, messages: [{ id, role: "assistant", content: id }], report: { stream, seq } });

  it("refuses a stream from the future or not UUIDv7, whole, and a stream made now still takes the task", async () => {
    const { task, acks, ws } = await taskWithAckingDaemon();
    ws.send(report(task.id, newId(new Date(Date.now() + 8000 * YEAR)), "from-the-future"));
    ws.send(report(task.id, randomUUID(), "random-stream"));
    await waitFor(() => acks.length === 2, 20_000, "two answers");
    expect(acks.map((a) => [a.status, a.error?.code]).sort()).toEqual([
      ["rejected", "stream_in_future"],
      ["rejected", "stream_not_uuidv7"],
    ]);
    const now = newId();
    ws.send(report(task.id, now, "now"));
    await waitFor(() => acks.length === 3, 20_000, "an answer to the stream made now");
    expect(acks[2]).toMatchObject({ stream: now, status: "applied", applied: 1 });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect(record.reportStream).toBe(now);
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.id)).toEqual(["now"]);
    ws.close();
  }, 60_000);

  it("an older stream's late report never takes the task back", async () => {
    const { task, acks, ws } = await taskWithAckingDaemon();
    const older = newId(new Date(Date.now() - 60_000));
    const newer = newId();
    ws.send(report(task.id, newer, "newer"));
    await waitFor(() => acks.length === 1, 20_000, "an answer to the newer stream");
    ws.send(report(task.id, older, "older"));
    ws.send(report(task.id, older, "older-2", 2));
    await waitFor(() => acks.length === 3, 20_000, "answers to the older stream");
    expect(acks.slice(1).map((a) => a.status)).toEqual(["superseded", "superseded"]);
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect(record.reportStream).toBe(newer);
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.id)).toEqual(["newer"]);
    ws.close();
  }, 60_000);

  it("a daemon whose clock runs a year ahead restreams from the server's time and loses nothing; refused messages reach it", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const clock = new ServerClock(() => Date.now() + YEAR);
    const ws = new WebSocket(`${env.gateway.url}/?daemonId=${randomUUID()}`, { headers: { Authorization: `Bearer ${owner.daemonKey}` } });
    const opened = new Promise<void>((resolve, reject) => ws.once("open", resolve).once("error", reject));
    let welcomed = false;
    const acks: ReportAck[] = [];
    const refusals: Array<{ seq: number; ids: Array<string | undefined> }> = [];
    const outbox = new Outbox({
      dir: tempDir("makima-outbox-"),
      send: async (m) => ws.send(JSON.stringify(m)),
      connected: () => welcomed,
      clock: () => clock.now(),
      onRefused: (_taskId, seq, refused) => refusals.push({ seq, ids: refused.map((r) => r.id) }),
      log: () => undefined,
    });
    // Queued before the daemon has heard the server's time: a stream from its own clock, a year ahead.
    await outbox.add({ type: "taskMessages", taskId: task.id, messages: [{ id: "a", role: "assistant", content: "a" }] });
    await outbox.add({ type: "taskMessages", taskId: task.id, messages: [{ id: "b", role: "assistant", content: "b" }, { id: "gone", role: "tool", content: "", uploaded: true }] });
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === "welcome") {
        clock.learn(m.serverTime);
        welcomed = true;
        outbox.onConnected();
      } else if (m.type === "reportAck") {
        acks.push(m);
        outbox.onAck(m);
      }
    });
    await opened;
    ws.send(JSON.stringify({ type: "hello", hostname: "ahead", version: "test" }));
    await waitFor(async () => {
      const record = await getTaskRecord(env.db, owner.ownerId, task.id);
      return record && (await readWholeConversation(env.db, record.segments)).length === 2;
    }, 30_000, "both reports stored under a new stream");
    await outbox.whenEmpty();
    expect(acks[0]).toMatchObject({ status: "rejected", error: { code: "stream_in_future" } });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.id)).toEqual(["a", "b"]);
    expect(Math.abs(timeOfId(record.reportStream!).getTime() - Date.now())).toBeLessThan(120_000);
    expect(refusals).toEqual([{ seq: 2, ids: ["gone"] }]);
    outbox.stop();
    ws.close();
  }, 60_000);
});

describe("the daemon's reporter", () => {
  const sentBy = async (queue: (reporter: Reporter) => Promise<void>) => {
    const sent: DaemonMessage[] = [];
    const outbox = new Outbox({ dir: tempDir("makima-outbox-"), send: async (m) => void sent.push(m), connected: () => true, log: () => undefined });
    const reporter = new Reporter({ outbox, log: () => undefined, flushMs: 60_000 });
    await queue(reporter);
    await reporter.drain();
    outbox.stop();
    return sent.map((m) => ({ type: m.type, messages: "messages" in m ? m.messages?.map((x) => x.id) : undefined }));
  };
  const taskId = newId();
  const checkpoint = { type: "checkpointCreated" as const, taskId, commitSha: "d".repeat(40), branchName: "main", message: "m" };
  const line = (id: string, bytes = 10) => ({ id, role: "assistant" as const, content: "x".repeat(bytes), timestamp: new Date().toISOString() });

  it("sends a commit with the messages waiting before it as one report", async () => {
    expect(
      await sentBy(async (r) => {
        r.message(taskId, line("a"));
        r.message(taskId, line("b"));
        await r.report(taskId, checkpoint);
      }),
    ).toEqual([{ type: "checkpointCreated", messages: ["a", "b"] }]);
  });

  it("sends them apart when together they would not fit one report", async () => {
    expect(
      await sentBy(async (r) => {
        r.message(taskId, line("a", 55_000));
        r.message(taskId, line("b", 30_000));
        await r.report(taskId, { ...checkpoint, message: "m".repeat(10_000) });
      }),
    ).toEqual([
      { type: "taskMessages", messages: ["a", "b"] },
      { type: "checkpointCreated", messages: undefined },
    ]);
  });
});
