/**
 * The reference daemon end to end: real git in temporary repositories, the
 * HTTP API, the local WebSocket gateway and the real
 * @aws-sdk/client-apigatewaymanagementapi client in between, DynamoDB Local
 * and s3rver behind. A task's repository sits at `<root>/<taskId>` the way
 * the daemon keeps it; checkpoints are reported over HTTP or by the daemon.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { captureState, commitAll, g, gTry, initRepo, listFiles, removeTempDirs, tempDir, write } from "./support/git.js";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { splitCommand } from "../daemon/ws/argv.js";
import { DAEMON_ID_FILE, startDaemon } from "../daemon/ws/daemon.js";
import { freePort } from "../stacks/local/emulators.js";
import { startWsGateway } from "../stacks/local/gateway.js";
import { outcomeOf } from "../core/relay.js";
import { createOperation, getOperationRecord } from "../core/store/operations.js";
import { listConnections } from "../core/store/connections.js";
import { DomainError } from "../core/errors.js";
import * as z from "zod";
import { HistoryEvent, TaskCheckpoint } from "../core/models.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The agent the tests run: says what it was given, commits twice, exits (or waits, or fails, as its plan says). */
const AGENT = `
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
const say = (content) => console.log(JSON.stringify({ role: "assistant", content }));
const plan = process.env.MAKIMA_PLAN ?? "";
const file = process.env.MAKIMA_CONVERSATION_FILE;
const count = file ? JSON.parse(readFileSync(file, "utf8")).messages.length : 0;
say("task=" + process.env.MAKIMA_TASK_ID + " plan=" + plan + " conversation=" + count + " context=" + (process.env.MAKIMA_ADDITIONAL_CONTEXT ?? ""));
if (plan.startsWith("wait:")) while (!existsSync(plan.slice(5))) await new Promise((r) => setTimeout(r, 50));
// A moment between saying and committing, as a real agent takes: the daemon reads the line before it sees the commit.
await new Promise((r) => setTimeout(r, 300));
const env = { ...process.env, GIT_AUTHOR_NAME: "Agent", GIT_AUTHOR_EMAIL: "agent@example.com", GIT_COMMITTER_NAME: "Agent", GIT_COMMITTER_EMAIL: "agent@example.com" };
const git = (...args) => execFileSync("git", ["-c", "commit.gpgsign=false", ...args], { env });
writeFileSync("agent-1.txt", "one\\n");
git("add", "-A");
git("commit", "-q", "-m", "agent: first");
say("made the first commit");
console.log("a log line that is not JSON");
writeFileSync("agent-2.txt", "two\\nlines\\n");
git("add", "-A");
// A git that is not the agent's own (no daemon hooks in its environment): the daemon finds its commit by polling HEAD.
const outside = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith("GIT_CONFIG_")));
if (plan === "outside") execFileSync("git", ["-c", "commit.gpgsign=false", "commit", "-q", "-m", "agent: second"], { env: outside });
else git("commit", "-q", "-m", "agent: second");
writeFileSync("left-over.txt", "uncommitted work of the agent\\n");
say("done");
if (plan === "fail") {
  console.error("boom: the tests are red");
  process.exit(3);
}
`;

let env: RelayEnv;
let owner: TestOwner;
let agentCommand: string;

beforeAll(async () => {
  env = await createRelayEnv({ relayWaitMs: 10_000, relayTimeoutMs: 10_000 });
  owner = await env.newOwner("daemon");
  const dir = tempDir("makima-agent-");
  writeFileSync(path.join(dir, "agent.mjs"), AGENT);
  agentCommand = `"${process.execPath}" "${path.join(dir, "agent.mjs")}"`;
});
afterAll(async () => {
  await env?.close();
  removeTempDirs();
});

/** A task (over HTTP) whose repository is `<root>/<taskId>`, as the daemon that ran it keeps it. */
async function taskRepo(root: string, o: TestOwner = owner) {
  const task = (await env.call("POST", "/api/v1/mesh/tasks", { key: o.apiKey, body: { name: "source", plan: "p" } })).body;
  const dir = initRepo(path.join(root, task.id));
  return { task, dir };
}

async function checkpoint(taskId: string, sha: string, message: string, o: TestOwner = owner) {
  const res = await env.call("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { key: o.apiKey, body: { commitSha: sha, branchName: "main", message } });
  expect(res.status).toBe(201);
  return res.body.checkpoint as { id: string; commitSha: string; checkpointNumber: number };
}

const get = (p: string, o: TestOwner = owner) => env.call("GET", p, { key: o.apiKey });
const post = (p: string, body: unknown, o: TestOwner = owner) => env.call("POST", p, { key: o.apiKey, body });

describe("the daemon over the relay (no agent)", () => {
  let daemon: Awaited<ReturnType<RelayEnv["startTestDaemon"]>>;
  beforeAll(async () => {
    daemon = await env.startTestDaemon(owner);
  });

  it("keeps its id in <root>/.makima-daemon.json and says hello with its hostname", async () => {
    const saved = JSON.parse(readFileSync(path.join(daemon.root, DAEMON_ID_FILE), "utf8"));
    expect(saved.daemonId).toBe(daemon.daemonId);
    const listed = (await get("/api/v1/daemons")).body.items.find((d: any) => d.daemonId === daemon.daemonId);
    expect(listed).toMatchObject({ hostname: expect.any(String), version: "0.1.0" });
  });

  it("checkpoint diff: added, modified, deleted, renamed and binary files, parsed into GitDiffInfo", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    const binA = Buffer.from(Array.from({ length: 2048 }, (_, i) => i % 256));
    const binB = Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7) % 256));
    const twenty = Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`).join("");
    write(dir, "keep.txt", "keep\n");
    write(dir, "modify.txt", "one\ntwo\nthree\n");
    write(dir, "delete.txt", "bye\nbye\n");
    write(dir, "old/name.txt", twenty);
    write(dir, "image.bin", binA);
    const c1 = commitAll(dir, "first");
    write(dir, "modify.txt", "one\nTWO\nthree\nfour\n");
    g(dir, "rm", "-q", "delete.txt");
    mkdirSync(path.join(dir, "new"));
    g(dir, "mv", "old/name.txt", "new/name.txt");
    write(dir, "new/name.txt", twenty.replace("line 20\n", "line twenty\n"));
    write(dir, "image.bin", binB);
    write(dir, "added.txt", "fresh\n");
    write(dir, "added.bin", Buffer.from([0, 1, 2, 3, 0, 255]));
    const c2 = commitAll(dir, "second");
    const cp1 = await checkpoint(task.id, c1, "first");
    const cp2 = await checkpoint(task.id, c2, "second");

    const res = await get(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp2.id}/diff`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ taskId: task.id, checkpointId: cp2.id, commitSha: c2, previousSha: c1 });
    const byPath = Object.fromEntries(res.body.files.map((f: any) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual(["added.bin", "added.txt", "delete.txt", "image.bin", "modify.txt", "new/name.txt"]);
    expect(byPath["added.txt"]).toMatchObject({ action: "added", additions: 1, deletions: 0 });
    expect(byPath["added.txt"].hunks[0].lines).toEqual(["+fresh"]);
    expect(byPath["added.bin"]).toMatchObject({ action: "added", binary: true, additions: 0, deletions: 0 });
    expect(byPath["added.bin"].hunks).toBeUndefined();
    expect(byPath["modify.txt"]).toMatchObject({ action: "modified", additions: 2, deletions: 1 });
    expect(byPath["modify.txt"].hunks[0].lines).toEqual([" one", "-two", "+TWO", " three", "+four"]);
    expect(byPath["delete.txt"]).toMatchObject({ action: "deleted", additions: 0, deletions: 2 });
    expect(byPath["new/name.txt"]).toMatchObject({ action: "renamed", oldPath: "old/name.txt", additions: 1, deletions: 1 });
    expect(byPath["image.bin"]).toMatchObject({ action: "modified", binary: true });
    expect(res.body.stats).toEqual({ filesChanged: 6, insertions: 4, deletions: 4 });

    // The first checkpoint is diffed against its parent (here: nothing).
    const first = await get(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/diff`);
    expect(first.status).toBe(200);
    expect(first.body.previousSha).toBeNull();
    expect(first.body.files.every((f: any) => f.action === "added")).toBe(true);
    expect(first.body.stats.filesChanged).toBe(5);
  });

  it("a 2 MB diff travels through S3; no WebSocket message comes near 128 KB", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "small.txt", "x\n");
    const c1 = commitAll(dir, "small");
    const big = Array.from({ length: 40_000 }, (_, i) => `line ${String(i).padStart(6, "0")} of a rather large generated file, padded out\n`).join("");
    expect(big.length).toBeGreaterThan(2_000_000);
    write(dir, "big.txt", big);
    const c2 = commitAll(dir, "big");
    await checkpoint(task.id, c1, "small");
    const cp2 = await checkpoint(task.id, c2, "big");

    const before = env.gateway.stats.maxInboundBytes;
    const res = await get(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp2.id}/diff`);
    expect(res.status).toBe(200);
    expect(res.body.files).toHaveLength(1);
    expect(res.body.files[0]).toMatchObject({ path: "big.txt", action: "added", additions: 40_000 });
    expect(res.body.files[0].hunks[0].lines).toHaveLength(40_000);
    expect(Math.max(before, env.gateway.stats.maxInboundBytes)).toBeLessThan(100 * 1024);
    expect(env.gateway.stats.maxOutboundBytes).toBeLessThan(100 * 1024);
    const uploads = (await env.db.blobs.list(`transfers/${owner.ownerId}/diff-`)).objects;
    expect(uploads.length).toBeGreaterThan(0);
  });

  for (const mode of ["discard", "create_branch", "stash"] as const) {
    it(`rewind (${mode}) saves everything, leaves the expected branch or stash, and undo restores the exact previous state`, async () => {
      const { task, dir } = await taskRepo(daemon.root);
      write(dir, "a.txt", "a1\n");
      write(dir, "b.txt", "b1\n");
      write(dir, ".gitignore", "*.log\n");
      const c1 = commitAll(dir, "one");
      write(dir, "a.txt", "a2\n");
      write(dir, "c.txt", "c2\n");
      const c2 = commitAll(dir, "two");
      const cp1 = await checkpoint(task.id, c1, "one");
      await checkpoint(task.id, c2, "two");
      // Work in progress: staged, unstaged, untracked (in a new directory too), and an ignored file.
      write(dir, "b.txt", "b staged\n");
      g(dir, "add", "b.txt");
      write(dir, "b.txt", "b staged then changed\n");
      write(dir, "c.txt", "c unstaged\n");
      write(dir, "untracked.txt", "new\n");
      write(dir, "new-dir/deep.txt", "deep\n");
      write(dir, "debug.log", "ignored\n");
      const before = captureState(dir);

      // Nothing records these changes as the task's: without force they are refused, and nothing moves.
      const refused = await post(`/api/v1/mesh/tasks/${task.id}/rewind`, { checkpointId: cp1.id, preserveMode: mode });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe("foreign_changes");
      expect(refused.body.error.message).toContain("untracked.txt");
      expect(captureState(dir)).toEqual(before);

      const res = await post(`/api/v1/mesh/tasks/${task.id}/rewind`, {
        checkpointId: cp1.id,
        preserveMode: mode,
        force: true,
        ...(mode === "create_branch" ? { branchName: `keep/${mode}` } : {}),
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ taskId: task.id, checkpoint: { id: cp1.id, commitSha: c1 } });
      expect(res.body.safetyRef).toMatch(new RegExp(`^refs/makima/safety/${task.id}/`));
      expect(g(dir, "rev-parse", `${res.body.safetyRef}^{commit}`)).toMatch(/^[0-9a-f]{40}$/);

      // The worktree is the checkpoint's commit, clean; ignored files stay.
      expect(g(dir, "rev-parse", "HEAD")).toBe(c1);
      expect(g(dir, "status", "--porcelain", "--untracked-files=all")).toBe("");
      expect(listFiles(dir)).toEqual({ "a.txt": "a1\n", "b.txt": "b1\n", ".gitignore": "*.log\n", "debug.log": "ignored\n" });

      if (mode === "discard") expect(res.body.preservedAs).toBeUndefined();
      if (mode === "create_branch") {
        expect(res.body.preservedAs).toEqual({ type: "branch", reference: "keep/create_branch" });
        // The branch holds the commits and the uncommitted work on top.
        expect(g(dir, "rev-parse", "keep/create_branch~1")).toBe(c2);
        expect(g(dir, "show", "keep/create_branch:untracked.txt")).toBe("new");
        expect(g(dir, "show", "keep/create_branch:c.txt")).toBe("c unstaged");
      }
      if (mode === "stash") {
        expect(res.body.preservedAs.type).toBe("stash");
        const ref = res.body.preservedAs.reference;
        expect(ref).toMatch(new RegExp(`^refs/makima/stash/${task.id}/`));
        expect(g(dir, "stash", "list")).toContain("makima");
        expect(g(dir, "show", `${ref}^3:untracked.txt`)).toBe("new");
      }

      const undo = await post(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, {});
      expect(undo.status).toBe(200);
      expect(undo.body).toEqual({ taskId: task.id, restoredFrom: res.body.safetyRef });
      expect(captureState(dir)).toEqual(before);
      expect(readFileSync(path.join(dir, "debug.log"), "utf8")).toBe("ignored\n");
      // Undone once: a second undo has nothing left to undo.
      expect((await post(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, {})).status).toBe(404);
    });
  }

  it("continuing a task from a checkpoint moves its worktree back there, and that can be undone", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "a.txt", "a1\n");
    const c1 = commitAll(dir, "one");
    write(dir, "a.txt", "a2\n");
    const c2 = commitAll(dir, "two");
    await checkpoint(task.id, c1, "one");
    await checkpoint(task.id, c2, "two");
    const res = await post(`/api/v1/mesh/tasks/${task.id}/continue`, { mode: "from_checkpoint", checkpointSha: c1 });
    expect(res.status).toBe(200);
    expect(res.body.baseSha).toBe(c1);
    await waitFor(() => g(dir, "rev-parse", "HEAD") === c1, 10_000, "the worktree back at the first checkpoint");
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${task.id}/history?eventTypes=rewind`)).body.items.length === 1, 10_000, "the rewind recorded");
    const event = (await get(`/api/v1/mesh/tasks/${task.id}/history?eventTypes=rewind`)).body.items[0];
    expect(event).toMatchObject({ eventSubtype: "code", eventData: { commitSha: c1, preserveMode: "create_branch" } });
    // The work after the checkpoint is kept on a branch (nothing was uncommitted), and the rewind undoes like any other.
    expect(g(dir, "rev-parse", event.eventData.preservedAs.reference)).toBe(c2);
    const undo = await post(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, {});
    expect(undo.status).toBe(200);
    expect(g(dir, "rev-parse", "HEAD")).toBe(c2);
    expect(readFileSync(path.join(dir, "a.txt"), "utf8")).toBe("a2\n");
  });

  it("fork and resume-from-checkpoint create a worktree at the checkpoint's commit", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "f.txt", "1\n");
    const c1 = commitAll(dir, "one");
    write(dir, "f.txt", "2\n");
    const c2 = commitAll(dir, "two");
    const cp1 = await checkpoint(task.id, c1, "one");
    await checkpoint(task.id, c2, "two");

    const fork = await post(`/api/v1/mesh/tasks/${task.id}/fork`, { forkFromType: "checkpoint", forkFromValue: "1", newTaskName: "fork", newTaskPlan: "p" });
    expect(fork.status).toBe(201);
    const forkId = fork.body.task.id;
    const forkDir = path.join(daemon.root, forkId);
    // Without an agent the worktree is prepared and the task waits, paused.
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${forkId}`)).body.status === "paused");
    expect(g(forkDir, "rev-parse", "HEAD")).toBe(c1);
    expect(g(forkDir, "symbolic-ref", "--short", "HEAD")).toBe(fork.body.branchName);
    expect(readFileSync(path.join(forkDir, "f.txt"), "utf8")).toBe("1\n");
    expect((await get(`/api/v1/mesh/tasks/${forkId}`)).body.daemonId).toBe(daemon.daemonId);
    // The source worktree is untouched, and shares the fork's objects and branches.
    expect(g(dir, "rev-parse", "HEAD")).toBe(c2);
    expect(g(dir, "rev-parse", fork.body.branchName)).toBe(c1);

    const resume = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, { plan: "again" });
    expect(resume.status).toBe(201);
    const resumeDir = path.join(daemon.root, resume.body.task.id);
    await waitFor(() => existsSync(resumeDir) && gTry(resumeDir, "rev-parse", "HEAD").out === c1);
    expect(g(resumeDir, "symbolic-ref", "--short", "HEAD")).toMatch(/^makima\/resume\//);
  });

  it("branch from a checkpoint creates it in the task's repository", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "x.txt", "x\n");
    const c1 = commitAll(dir, "one");
    const cp1 = await checkpoint(task.id, c1, "one");
    const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/branch`, { branchName: "feature/from-cp1" });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ branchName: "feature/from-cp1", commitSha: c1 });
    expect(g(dir, "rev-parse", "feature/from-cp1")).toBe(c1);
    const again = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/branch`, { branchName: "feature/from-cp1" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("branch_exists");
  });

  it("a hostile branch name or SHA is refused with a clear error, by the API and by the daemon itself", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "x.txt", "x\n");
    const c1 = commitAll(dir, "one");
    const cp1 = await checkpoint(task.id, c1, "one");
    const refsBefore = g(dir, "for-each-ref");

    // The API refuses before any daemon is asked.
    for (const name of ["-D", "a..b", "../../etc/passwd", "x y", "refs/heads/x~1"]) {
      const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/branch`, { branchName: name });
      expect(res.status, name).toBe(400);
    }
    const badSha = await post(`/api/v1/mesh/tasks/${task.id}/rewind`, { checkpointSha: "HEAD~1", preserveMode: "discard" });
    expect(badSha.status).toBe(400);
    expect((await post(`/api/v1/mesh/tasks/${task.id}/checkpoints`, { commitSha: "$(touch /tmp/x)", branchName: "main", message: "m" })).status).toBe(400);

    // The daemon checks again whatever reaches it: a branch name git refuses…
    for (const branchName of ["a..b", "--force", "@", "bad\\name", "x.lock"]) {
      const op = await env.runtime.relay.dispatch(owner.ownerId, { type: "createBranch", taskId: task.id, branchName, commitSha: c1 });
      expect(op, branchName).toMatchObject({ status: "failed", error: { code: "invalid_input" } });
      expect(op.error!.message).toContain("branch name");
      const error = await outcomeOf(env.db, op).catch((e) => e);
      expect(error).toBeInstanceOf(DomainError);
      expect(error.status).toBe(400);
    }
    // …a safety ref that is not the task's…
    const undo = await env.runtime.relay.dispatch(owner.ownerId, { type: "undoRewind", taskId: task.id, safetyRef: "refs/heads/main" });
    expect(undo).toMatchObject({ status: "failed", error: { code: "invalid_input" } });

    // …and a command the server's schema would never build (sent raw through @connections).
    const [connection] = await listConnections(env.db, owner.ownerId);
    const requestId = randomUUID();
    await createOperation(env.db, { id: requestId, ownerId: owner.ownerId, commandType: "rewindToCheckpoint", daemonId: connection!.daemonId });
    const client = new ApiGatewayManagementApiClient({ endpoint: env.gateway.managementEndpoint, region: "us-east-1", credentials: { accessKeyId: "l", secretAccessKey: "l" } });
    const hostile = { type: "rewindToCheckpoint", requestId, taskId: task.id, checkpointSha: "$(touch /tmp/pwned);HEAD", preserveMode: "discard" };
    await client.send(new PostToConnectionCommand({ ConnectionId: connection!.connectionId, Data: Buffer.from(JSON.stringify(hostile)) }));
    const op = await waitFor(async () => {
      const r = await getOperationRecord(env.db, owner.ownerId, requestId);
      return r && r.status !== "pending" ? r : undefined;
    });
    expect(op).toMatchObject({ status: "failed", error: { code: "invalid_command" } });
    expect(op.error!.message).toContain("checkpointSha");

    expect(g(dir, "for-each-ref")).toBe(refsBefore);
    expect(g(dir, "rev-parse", "HEAD")).toBe(c1);
  });

  it("a conversation over 100 KB goes both ways through S3: downloaded at spawn, uploaded as a snapshot's state", async () => {
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "c.txt", "c\n");
    commitAll(dir, "one");
    const long = "x".repeat(5000);
    const messages = Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `${i} ${long}` }));
    expect((await post(`/api/v1/mesh/tasks/${task.id}/messages`, { messages })).status).toBe(201);
    // Continued in place: the daemon reuses the worktree and fetches the conversation from the command's presigned URL.
    const resume = await post(`/api/v1/mesh/tasks/${task.id}/continue`, { mode: "with_context" });
    expect(resume.status).toBe(200);
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${task.id}`)).body.status === "paused");
    const file = path.join(daemon.root, ".makima-daemon", "tasks", task.id, "conversation.json");
    await waitFor(() => existsSync(file));
    expect(JSON.parse(readFileSync(file, "utf8")).messages).toHaveLength(30);

    // A snapshot with the daemon's state, asked for over HTTP: the state comes up through S3 and stays with the snapshot.
    const taken = await post(`/api/v1/mesh/tasks/${task.id}/snapshots`, { captureState: true, metadata: { why: "before the refactor" } });
    expect(taken.status).toBe(201);
    expect(taken.body).toMatchObject({ snapshotType: "manual", messageCount: 30, metadata: { why: "before the refactor", source: "daemon" } });
    const snapshot = (await get(`/api/v1/mesh/tasks/${task.id}/snapshots/${taken.body.id}?limit=1`)).body;
    expect(snapshot.conversationState.state.messages).toHaveLength(30);
    expect(snapshot.conversationState.messages).toHaveLength(1);
    expect(env.gateway.stats.maxInboundBytes).toBeLessThan(100 * 1024);
  });

  it("sends a message larger than a frame in 32 KB frames, and the server reads it whole", async () => {
    const task = (await post("/api/v1/mesh/tasks", { name: "frames", plan: "p" })).body;
    const content = "y".repeat(70_000);
    await daemon.connection.send({ type: "taskMessages", taskId: task.id, messages: [{ id: "big-1", role: "assistant", content }] });
    const message = await waitFor(async () => (await get(`/api/v1/mesh/tasks/${task.id}/messages/big-1`)).body?.content);
    expect(message).toBe(content);
    expect(env.gateway.stats.maxInboundBytes).toBeGreaterThan(70_000);
  });

  it("heartbeats while idle", async () => {
    const o = await env.newOwner("heartbeat");
    const d = await env.startTestDaemon(o, { heartbeatMs: 50 });
    const before = env.gateway.stats.inbound;
    await waitFor(() => env.gateway.stats.inbound >= before + 4);
    await d.stop();
  });

  it("keeps trying while the server is down, and connects when it comes up", async () => {
    const o = await env.newOwner("late-server");
    const port = await freePort();
    const log: string[] = [];
    const d = await startDaemon({ wsUrl: `ws://127.0.0.1:${port}`, daemonKey: o.daemonKey, root: tempDir("makima-root-"), log: (l) => log.push(l), reconnectInitialMs: 50, reconnectMaxMs: 200 });
    let late: Awaited<ReturnType<typeof startWsGateway>> | undefined;
    try {
      expect(d.connection.connected).toBe(false);
      await waitFor(() => log.filter((l) => l.includes("reconnecting in")).length >= 2);
      late = await startWsGateway(env.runtime, { port, log: () => undefined });
      await waitFor(() => d.connection.connected);
      await waitFor(async () => (await listConnections(env.db, o.ownerId)).some((c) => c.daemonId === d.daemonId && c.hostname));
    } finally {
      await d.stop();
      await late?.stop();
    }
  });

  it("reconnects after the connection drops, and keeps answering", async () => {
    const opened = daemon.connection.opened;
    daemon.connection.dropForTest();
    await waitFor(() => daemon.connection.opened > opened && daemon.connection.connected);
    await waitFor(async () => (await listConnections(env.db, owner.ownerId)).filter((c) => c.daemonId === daemon.daemonId).length === 1);
    const { task, dir } = await taskRepo(daemon.root);
    write(dir, "r.txt", "r\n");
    const cp = await checkpoint(task.id, commitAll(dir, "one"), "one");
    expect((await get(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/diff`)).status).toBe(200);
  });
});

describe("the daemon running an agent", () => {
  let daemon: Awaited<ReturnType<RelayEnv["startTestDaemon"]>>;
  let o: TestOwner;
  beforeAll(async () => {
    o = await env.newOwner("agent");
    daemon = await env.startTestDaemon(o, { agentCommand });
  });

  async function sourceWithConversation() {
    const { task, dir } = await taskRepo(daemon.root, o);
    write(dir, "base.txt", "base\n");
    const c1 = commitAll(dir, "base");
    await post(`/api/v1/mesh/tasks/${task.id}/messages`, { messages: [{ role: "user", content: "build it" }, { role: "assistant", content: "on it" }] }, o);
    const cp1 = await checkpoint(task.id, c1, "base", o);
    return { task, dir, c1, cp1 };
  }

  it("spawnTask: a worktree at the checkpoint, the agent runs there; its messages, commits and exit land in the store", async () => {
    const { task, c1, cp1 } = await sourceWithConversation();
    const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, { plan: "carry on", includeConversation: true }, o);
    expect(res.status).toBe(201);
    const id = res.body.task.id;
    const done = await waitFor(async () => {
      const t = (await get(`/api/v1/mesh/tasks/${id}`, o)).body;
      return t.status === "completed" && t;
    }, 60_000, "the agent's task completed");
    expect(done.daemonId).toBe(daemon.daemonId);

    const dir = path.join(daemon.root, id);
    const log = g(dir, "log", "--format=%H %s", `${c1}..HEAD`).split("\n").reverse();
    expect(log.map((l) => l.slice(41))).toEqual(["agent: first", "agent: second"]);

    const messages = (await get(`/api/v1/mesh/tasks/${id}/conversation`, o)).body.messages;
    expect(messages.map((m: any) => m.content)).toEqual([
      "build it",
      "on it",
      `task=${id} plan=carry on conversation=2 context=`,
      "made the first commit",
      "done",
    ]);
    const checkpoints = z.array(TaskCheckpoint).parse((await get(`/api/v1/mesh/tasks/${id}/checkpoints`, o)).body.items);
    expect(checkpoints.map((c) => [c.checkpointNumber, c.commitSha, c.message])).toEqual(log.map((l, i) => [i + 1, l.slice(0, 40), l.slice(41)]));
    expect(checkpoints[0]).toMatchObject({ branchName: res.body.task.branchName, filesChanged: ["agent-1.txt"], linesAdded: 1, linesRemoved: 0 });
    // The checkpoint comes after the message that preceded the commit.
    expect(checkpoints[0]!.messageCount).toBe(3);
    expect(checkpoints.map((c) => c.foundByPolling)).toEqual([undefined, undefined]);

    // What the agent left uncommitted is the task's own work: a rewind needs no force.
    const rewind = await post(`/api/v1/mesh/tasks/${id}/rewind`, { checkpointId: checkpoints[0]!.id, preserveMode: "stash" }, o);
    expect(rewind.status).toBe(200);
    expect(existsSync(path.join(dir, "left-over.txt"))).toBe(false);
    expect((await post(`/api/v1/mesh/tasks/${id}/rewind/undo`, {}, o)).status).toBe(200);
    expect(readFileSync(path.join(dir, "left-over.txt"), "utf8")).toBe("uncommitted work of the agent\n");
  });

  it("a plan too long for a WebSocket message reaches the agent whole, through S3", async () => {
    const { task, cp1 } = await sourceWithConversation();
    const plan = "étape\n".repeat(8000);
    const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, { plan }, o);
    expect(res.status).toBe(201);
    const id = res.body.task.id;
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${id}`, o)).body.status === "completed", 20_000);
    const first = (await get(`/api/v1/mesh/tasks/${id}/messages/${(await get(`/api/v1/mesh/tasks/${id}/conversation?limit=1`, o)).body.messages[0].id}`, o)).body;
    expect(first.content).toBe(`task=${id} plan=${plan} conversation=0 context=`);
  });

  it("a commit made by a git outside the agent's becomes a checkpoint that says it was found by polling", async () => {
    const { task, cp1 } = await sourceWithConversation();
    const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, { plan: "outside" }, o);
    const id = res.body.task.id;
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${id}`, o)).body.status === "completed", 60_000, "the agent's task completed");
    const checkpoints = z.array(TaskCheckpoint).parse((await get(`/api/v1/mesh/tasks/${id}/checkpoints`, o)).body.items);
    expect(checkpoints.map((c) => [c.message, c.foundByPolling])).toEqual([
      ["agent: first", undefined],
      ["agent: second", true],
    ]);
  });

  it("a failing agent is reported failed, its exit code and last stderr lines in the task's history", async () => {
    const { task, cp1 } = await sourceWithConversation();
    const res = await post(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp1.id}/resume`, { plan: "fail" }, o);
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${res.body.task.id}`, o)).body.status === "failed", 60_000, "the task failed");
    const history = z.array(HistoryEvent).parse((await get(`/api/v1/mesh/tasks/${res.body.task.id}/history`, o)).body.items);
    const failed = history.find((e) => e.eventType === "task" && e.eventSubtype === "failed");
    expect(failed?.eventData).toMatchObject({ to: "failed", exitCode: 3, signal: null, stderrTail: ["boom: the tests are red"] });
  });

  it("refuses to rewind a task whose agent is running, whatever the server believes", async () => {
    const { task, cp1 } = await sourceWithConversation();
    const release = path.join(tempDir("makima-release-"), "go");
    const res = await post(`/api/v1/mesh/tasks/${task.id}/fork`, { forkFromType: "checkpoint", forkFromValue: cp1.id, newTaskName: "waiting", newTaskPlan: `wait:${release}` }, o);
    const id = res.body.task.id;
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${id}`, o)).body.status === "running");
    // The API refuses a running task itself…
    expect((await post(`/api/v1/mesh/tasks/${id}/rewind`, { checkpointId: cp1.id, preserveMode: "discard" }, o)).status).toBe(409);
    // …and when the store says otherwise, the daemon still does.
    expect((await env.call("PATCH", `/api/v1/mesh/tasks/${id}`, { key: o.apiKey, body: { status: "paused" } })).status).toBe(200);
    const forkCp = await checkpoint(id, cp1.commitSha, "start", o);
    const blocked = await post(`/api/v1/mesh/tasks/${id}/rewind`, { checkpointId: forkCp.id, preserveMode: "discard", force: true }, o);
    expect(blocked.status).toBe(409);
    expect(blocked.body.error.code).toBe("task_running");
    writeFileSync(release, "");
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${id}`, o)).body.status === "completed", 20_000);
  });
});

describe("two daemons", () => {
  it("targetDaemonId: the fork's worktree is made by that daemon, in its root", async () => {
    const o = await env.newOwner("two");
    const a = await env.startTestDaemon(o);
    const b = await env.startTestDaemon(o);
    const { task, dir } = await taskRepo(a.root, o);
    write(dir, "t.txt", "t\n");
    const c1 = commitAll(dir, "one");
    // B has the same repository (a clone), as a second machine would.
    execFileSync("git", ["clone", "-q", dir, path.join(b.root, task.id)]);
    const cp1 = await checkpoint(task.id, c1, "one", o);

    const res = await post(`/api/v1/mesh/tasks/${task.id}/fork`, { forkFromType: "checkpoint", forkFromValue: cp1.id, newTaskName: "on b", newTaskPlan: "p", targetDaemonId: b.daemonId }, o);
    expect(res.status).toBe(201);
    const id = res.body.task.id;
    await waitFor(async () => (await get(`/api/v1/mesh/tasks/${id}`, o)).body.status === "paused");
    expect(g(path.join(b.root, id), "rev-parse", "HEAD")).toBe(c1);
    expect(existsSync(path.join(a.root, id))).toBe(false);
    expect((await get(`/api/v1/mesh/tasks/${id}`, o)).body.daemonId).toBe(b.daemonId);
  });
});

/**
 * A directory holding a `git` that hangs for `seconds` on one subcommand (after
 * touching `mark`, so a test knows the daemon is inside it) and runs the real
 * git for everything else: put `bin` first on the daemon's PATH.
 */
function hangingGit(subcommand: string, seconds: number): { bin: string; mark: string } {
  const bin = tempDir(`makima-hanging-${subcommand}-`);
  const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  const mark = path.join(bin, `${subcommand}-started`);
  writeFileSync(path.join(bin, "git"), `#!/bin/sh\nif [ "$1" = "${subcommand}" ]; then touch "${mark}"; sleep ${seconds}; fi\nexec "${realGit}" "$@"\n`);
  chmodSync(path.join(bin, "git"), 0o755);
  return { bin, mark };
}

/** A daemon in a process of its own (so that it can be killed), with `bin` first on its PATH; once it is online. */
async function childDaemon(o: TestOwner, root: string, bin: string): Promise<{ child: ChildProcess; output: () => string }> {
  let output = "";
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "test/support/daemonProcess.ts")], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, MAKIMA_TEST_WS_URL: env.gateway.url, MAKIMA_TEST_DAEMON_KEY: o.daemonKey, MAKIMA_TEST_ROOT: root },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d.toString()));
  child.stderr!.on("data", (d) => (output += d.toString()));
  try {
    await waitFor(() => output.includes("ready "), 30_000, "the child daemon");
    await waitFor(async () => (await get("/api/v1/daemons", o)).body.items.some((d: any) => d.hostname === "child-daemon"));
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return { child, output: () => output };
}

describe("a daemon killed mid-command", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("gives 504 at once and leaves nothing pending", async () => {
    const o = await env.newOwner("killed");
    const root = tempDir("makima-killed-");
    // A git that hangs on `git diff`, so the daemon is busy with the command when it dies.
    const { bin, mark } = hangingGit("diff", 20);
    const { task, dir } = await taskRepo(root, o);
    write(dir, "k.txt", "k\n");
    const cp = await checkpoint(task.id, commitAll(dir, "one"), "one", o);

    const daemon = await childDaemon(o, root, bin);
    child = daemon.child;

    const started = Date.now();
    const pending = get(`/api/v1/mesh/tasks/${task.id}/checkpoints/${cp.id}/diff`, o);
    await waitFor(() => existsSync(mark), 10_000, "git diff to start");
    const requestId = /getCheckpointDiff ([0-9a-f-]{36}) for task/.exec(daemon.output())![1]!;
    child.kill("SIGKILL");
    const res = await pending;
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe("daemon_disconnected");
    // Well before the relay's 10 s: the disconnect settled it.
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await get(`/api/v1/operations/${requestId}`, o)).body).toMatchObject({ status: "timed_out", error: { code: "daemon_disconnected" } });
    expect((await get("/api/v1/daemons", o)).body.items).toEqual([]);
  });
});

describe("A daemon killed mid-rewind", () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
  });

  it("the next start of the daemon completes the rewind and reports it: recorded, and undo puts everything back", async () => {
    const o = await env.newOwner("killed-rewind");
    const root = tempDir("makima-killed-rewind-");
    // A git that hangs on `reset`: the daemon has saved the safety ref and preserved the work, and dies before moving HEAD.
    const { bin, mark } = hangingGit("reset", 30);
    const { task, dir } = await taskRepo(root, o);
    write(dir, "a.txt", "a1\n");
    const c1 = commitAll(dir, "one");
    write(dir, "a.txt", "a2\n");
    const c2 = commitAll(dir, "two");
    const cp1 = await checkpoint(task.id, c1, "one", o);
    await checkpoint(task.id, c2, "two", o);
    write(dir, "wip.txt", "not committed\n");
    const before = captureState(dir);

    const daemon = await childDaemon(o, root, bin);
    child = daemon.child;

    const pending = post(`/api/v1/mesh/tasks/${task.id}/rewind`, { checkpointId: cp1.id, preserveMode: "create_branch", force: true }, o);
    await waitFor(() => existsSync(mark), 20_000, "git reset to start");
    child.kill("SIGKILL");
    const res = await pending;
    expect(res.status).toBe(504);
    // Killed before HEAD moved, with the safety ref saved: its record names that ref, the history has no rewind yet.
    expect(g(dir, "rev-parse", "HEAD")).toBe(c2);
    expect((await get(`/api/v1/mesh/tasks/${task.id}/history?eventTypes=rewind`, o)).body.items).toHaveLength(0);
    const [dispatched] = (await get(`/api/v1/mesh/tasks/${task.id}/rewinds`, o)).body.items;
    expect(["dispatched", "unknown"]).toContain(dispatched.status);
    expect(g(dir, "rev-parse", "--verify", `${dispatched.safetyRef}^{commit}`)).toMatch(/^[0-9a-f]{40}$/);
    // Undo is attempted (no daemon is online to carry it out), never a 404.
    const early = await post(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, { rewindId: dispatched.id }, o);
    expect(early.status).toBe(503);

    // The same daemon (same root, same id) starts again, with a git that works.
    const again = await env.startTestDaemon(o, { root });
    const recorded = await waitFor(async () => (await get(`/api/v1/mesh/tasks/${task.id}/history?eventTypes=rewind`, o)).body.items[0], 20_000, "the rewind reported");
    expect(recorded.eventData.safetyRef).toBe(dispatched.safetyRef);
    expect((await get(`/api/v1/mesh/tasks/${task.id}/rewinds`, o)).body.items).toMatchObject([{ id: dispatched.id, status: "done", safetyRef: dispatched.safetyRef }]);
    expect(g(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(g(dir, "status", "--porcelain", "--untracked-files=all")).toBe("");
    expect(again.log.some((line) => line.includes("interrupted"))).toBe(true);

    const undo = await post(`/api/v1/mesh/tasks/${task.id}/rewind/undo`, {}, o);
    expect(undo.status).toBe(200);
    expect(captureState(dir)).toEqual(before);
  }, 120_000);
});

describe("agent command parsing", () => {
  it("splits without a shell: quotes and escapes are honoured, nothing is expanded", () => {
    expect(splitCommand("node agent.js")).toEqual(["node", "agent.js"]);
    expect(splitCommand(`"/path with space/node"  'a b' c\\ d "x\\"y" $HOME ; rm -rf *`)).toEqual([
      "/path with space/node",
      "a b",
      "c d",
      'x"y',
      "$HOME",
      ";",
      "rm",
      "-rf",
      "*",
    ]);
    expect(() => splitCommand("")).toThrow(/empty/);
    expect(() => splitCommand("node 'unterminated")).toThrow(/unterminated/);
  });
});
