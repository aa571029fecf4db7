import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ConversationMessage } from "../core/models.js";
import { newId } from "../core/ids.js";
import { createRuntime } from "../core/runtime.js";
import { runCleanup } from "../core/retention/index.js";
import { createApp } from "../functions/http/app.js";
import { createApiKey, createOwner } from "../core/store/owners.js";
import { createOperation, getOperationRecord, settleOperation } from "../core/store/operations.js";
import { keys } from "../core/keys.js";
import { buildConversation, BATCH, footprint, historyBytes, MESSAGES, rebuildPlan, storePlan } from "./storage.js";
import { createBenchDb, formatBytes, formatNumber, invokedDirectly, printTable, withEmulators, writeBenchResult } from "./support.js";
import type { Emulators } from "../stacks/local/emulators.js";

/**
 * bench/cost: what a month of a workload costs, priced with AWS's published
 * on-demand prices, for this service, for the plan's design (bench/planDesign.ts:
 * a row and a history event per message, every snapshot carrying the whole
 * conversation) and for the two stores a user would pick
 * instead: the LangGraph.js DynamoDB checkpoint saver
 * (`@rwai/langgraphjs-checkpoint-dynamodb`, the whole graph state in each
 * checkpoint) and LangChain's `DynamoDBChatMessageHistory`
 * (`@langchain/community`, a session's messages in one item). The peers run
 * for real against DynamoDB Local from bench/peers/, a package of its own
 * installed on this bench's first run (the project's `npm install` stays lean).
 *
 * One task of the workload is run for real per design; a month is 1,000 of
 * them. Capacity units are what DynamoDB Local reports, transactions
 * re-costed as AWS prices them (bench/support.ts MeteredTable); S3 requests as
 * the store counts them. Stored bytes accumulate month after month (logs are
 * kept), except the plan's snapshots, which its retention deletes after 30
 * days.
 */

// ------------------------------------------------------------------ prices

/** AWS on-demand prices, us-east-1, as published in November 2026. */
const PRICES = {
  date: "2026-11",
  dynamo: { perMillionWrites: 0.625, perMillionReads: 0.125, perGbMonth: 0.25 },
  s3: { perGbMonth: 0.023, perThousandPuts: 0.005, perThousandGets: 0.0004 },
  /** arm64, the functions' architecture. */
  lambda: { perMillionRequests: 0.2, perGbSecond: 0.0000133334, memoryGb: 1 },
  apiGateway: { perMillionHttpRequests: 1.0, perMillionWebSocketMessages: 1.0 },
} as const;

// ------------------------------------------------------------------ workload

const WORKLOAD = {
  tasksPerMonth: 1_000,
  messages: MESSAGES,
  checkpointEvery: BATCH,
  conversationReads: 3,
  historyLists: 50,
  diffs: 10,
} as const;
const MONTHS = 12;
const GB = 1024 ** 3;

/** Capacity units a phase of a run used. */
interface Units {
  wcu: number;
  rcu: number;
}

/** What one task of the workload used. */
interface Usage {
  wcu: number;
  rcu: number;
  s3Puts: number;
  s3Gets: number;
  /** Bytes kept for good (logs, checkpoints) and bytes kept one month (snapshots under retention). */
  dynamoBytes: number;
  s3Bytes: number;
  expiringDynamoBytes: number;
  expiringS3Bytes: number;
  httpRequests: number;
  lambdaInvocations: number;
  lambdaMs: number;
  webSocketMessages: number;
  /** The message at which the store refused the workload, if it did. */
  failedAt?: { message: number; error: string };
  /** This service's run by phase: writing the conversation, reading it, listing history, relaying diffs. */
  phases?: { writes: Units; reads: Units; history: Units; diffs: Units };
}

const emptyUsage = (): Usage => ({
  wcu: 0, rcu: 0, s3Puts: 0, s3Gets: 0, dynamoBytes: 0, s3Bytes: 0, expiringDynamoBytes: 0, expiringS3Bytes: 0,
  httpRequests: 0, lambdaInvocations: 0, lambdaMs: 0, webSocketMessages: 0,
});

/** The bill of month `month` (1-based), by line: a month of tasks, and the storage every month so far has left. */
function monthLines(u: Usage, month: number) {
  const t = WORKLOAD.tasksPerMonth;
  const kept = month * t;
  return {
    "DynamoDB writes": (t * u.wcu * PRICES.dynamo.perMillionWrites) / 1e6,
    "DynamoDB reads": (t * u.rcu * PRICES.dynamo.perMillionReads) / 1e6,
    "DynamoDB storage": ((kept * u.dynamoBytes + t * u.expiringDynamoBytes) / GB) * PRICES.dynamo.perGbMonth,
    "S3 requests": (t * u.s3Puts * PRICES.s3.perThousandPuts) / 1e3 + (t * u.s3Gets * PRICES.s3.perThousandGets) / 1e3,
    "S3 storage": ((kept * u.s3Bytes + t * u.expiringS3Bytes) / GB) * PRICES.s3.perGbMonth,
    "API Gateway": (t * u.httpRequests * PRICES.apiGateway.perMillionHttpRequests) / 1e6 + (t * u.webSocketMessages * PRICES.apiGateway.perMillionWebSocketMessages) / 1e6,
    Lambda: (t * u.lambdaInvocations * PRICES.lambda.perMillionRequests) / 1e6 + t * (u.lambdaMs / 1000) * PRICES.lambda.memoryGb * PRICES.lambda.perGbSecond,
  };
}

const monthBill = (u: Usage, month: number): number => Object.values(monthLines(u, month)).reduce((a, b) => a + b, 0);

// ------------------------------------------------------------------ this service, through its HTTP API

/** One task of the workload through the Hono app, in process: every request counted and timed as a Lambda invocation. */
async function runOurs(emulators: Emulators, conversation: ConversationMessage[]): Promise<Usage> {
  const db = await createBenchDb(emulators, "cost-ours");
  const runtime = createRuntime(db.config, { db });
  const app = createApp(runtime);
  const owner = await createOwner(db, "cost bench");
  const key = (await createApiKey(db, owner.id, { kind: "api" })).key;
  const start = { wcu: db.table.modelledWrite, rcu: db.meter.read };
  const usage = emptyUsage();
  let mark = { ...start };
  const phase = (): Units => {
    const now = { wcu: db.table.modelledWrite, rcu: db.meter.read };
    const used = { wcu: now.wcu - mark.wcu, rcu: now.rcu - mark.rcu };
    mark = now;
    return used;
  };

  const call = async (method: string, path: string, body?: unknown) => {
    const started = performance.now();
    const res = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as Record<string, unknown>;
    usage.lambdaMs += Math.ceil(performance.now() - started);
    usage.httpRequests++;
    usage.lambdaInvocations++;
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const task = await call("POST", "/api/v1/mesh/tasks", { name: "cost bench", plan: "Work through a long conversation." });
  const taskId = String(task.id);
  for (let from = 0, n = 1; from < conversation.length; from += WORKLOAD.checkpointEvery, n++) {
    await call("POST", `/api/v1/mesh/tasks/${taskId}/messages`, { messages: conversation.slice(from, from + WORKLOAD.checkpointEvery) });
    await call("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: newId().replace(/-/g, "").padEnd(40, "0").slice(0, 40), branchName: "makima/cost", message: `checkpoint ${n}` });
  }
  const writes = phase();
  for (let r = 0; r < WORKLOAD.conversationReads; r++) {
    let cursor: string | undefined;
    do {
      const page = await call("GET", `/api/v1/mesh/tasks/${taskId}/conversation?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      cursor = typeof page.nextCursor === "string" ? page.nextCursor : undefined;
    } while (cursor);
  }
  const reads = phase();
  for (let l = 0; l < WORKLOAD.historyLists; l++) await call("GET", `/api/v1/mesh/tasks/${taskId}/history?limit=50`);
  const history = phase();

  // A relayed diff: the api stores the operation, posts the command (one WebSocket message), polls it;
  // the daemon's reply (one message) runs ws-message, which settles it. Measured on the store, without a daemon.
  for (let d = 0; d < WORKLOAD.diffs; d++) {
    const started = performance.now();
    const op = await createOperation(db, { id: newId(), ownerId: owner.id, commandType: "getCheckpointDiff", context: { taskId } });
    await getOperationRecord(db, owner.id, op.id);
    await settleOperation(db, op, { status: "succeeded", result: { files: [], stats: { filesChanged: 3, insertions: 40, deletions: 12 } } });
    await getOperationRecord(db, owner.id, op.id);
    usage.httpRequests++;
    usage.lambdaInvocations += 2;
    usage.webSocketMessages += 2;
    usage.lambdaMs += 2 * Math.ceil(performance.now() - started);
  }

  usage.phases = { writes, reads, history, diffs: phase() };
  usage.wcu = db.table.modelledWrite - start.wcu;
  usage.rcu = db.meter.read - start.rcu;
  usage.s3Puts = db.blobs.stats.puts;
  usage.s3Gets = db.blobs.stats.gets;
  // The cleanup job's sweep removes the objects of batches folded into sealed chunks (after its grace period).
  await runCleanup({ ...db, clock: () => new Date(Date.now() + 2 * 86_400_000) }, { log: () => undefined });
  const stored = await footprint(db, taskId);
  // Snapshots are kept for the retention period (30 days), as the plan's are; the log and the history for good.
  const snapshotBytes = stored.byKind.get("SNAPSHOT")?.billed ?? 0;
  usage.dynamoBytes = stored.billedBytes - snapshotBytes + (await historyBytes(db, owner.id)).billed;
  usage.expiringDynamoBytes = snapshotBytes;
  usage.s3Bytes = stored.s3Bytes;
  return usage;
}

// ------------------------------------------------------------------ the plan's design

/** Each of the plan's API requests reads the caller's key: one eventually consistent read of a small item. */
const PLAN_READS_PER_REQUEST = 0.5;

/**
 * The plan's design (bench/planDesign.ts), its own writes, reads and
 * storage: per message a task_events row and a chat history event, per
 * checkpoint one transaction with the full-copy snapshot; a conversation read
 * reads the latest snapshot's state, a history listing is a page of 50 of the
 * task's events (one query of its task index). Its relay is this service's (the same
 * operations), and its HTTP requests, Lambda time and WebSocket messages are
 * taken equal to this service's.
 */
async function runPlan(emulators: Emulators, conversation: ConversationMessage[], ours: Usage): Promise<Usage> {
  const db = await createBenchDb(emulators, "cost-plan");
  const stored = await storePlan(db, conversation);
  const usage = emptyUsage();
  let readUnits = 0;
  let s3Gets = 0;
  for (let r = 0; r < WORKLOAD.conversationReads; r++) {
    const rebuilt = await rebuildPlan(db, stored.taskId, stored.lastSnapshotId);
    readUnits += rebuilt.rcu;
    s3Gets += rebuilt.s3Gets;
  }
  const beforeLists = db.meter.read;
  // A page of the task's events: one query of its index (the plan's events are all in the main timeline).
  for (let l = 0; l < WORKLOAD.historyLists; l++) {
    await db.table.query({
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :p",
      ExpressionAttributeValues: { ":p": keys.taskEvents(stored.taskId) },
      ScanIndexForward: false,
      Limit: 50,
    });
  }
  readUnits += db.meter.read - beforeLists;
  const diffs = ours.phases!.diffs;
  usage.wcu = stored.wcu + diffs.wcu;
  usage.rcu = stored.rcu + readUnits + diffs.rcu + ours.httpRequests * PLAN_READS_PER_REQUEST;
  usage.s3Puts = stored.s3.puts;
  usage.s3Gets = stored.s3.gets + s3Gets;
  const kept = await footprint(db, stored.taskId);
  const snapshotBytes = kept.byKind.get("SNAPSHOT")?.billed ?? 0;
  // Snapshots (items and their S3 states) go after the plan's 30-day retention; task events, checkpoints and history stay.
  usage.dynamoBytes = kept.billedBytes - snapshotBytes + (await historyBytes(db, stored.ownerId)).billed;
  usage.expiringDynamoBytes = snapshotBytes;
  usage.expiringS3Bytes = kept.s3Bytes;
  usage.httpRequests = ours.httpRequests;
  usage.lambdaInvocations = ours.lambdaInvocations;
  usage.lambdaMs = ours.lambdaMs;
  usage.webSocketMessages = ours.webSocketMessages;
  return usage;
}

// ------------------------------------------------------------------ the peers

const PEERS_DIR = fileURLToPath(new URL("./peers/", import.meta.url));

/** bench/peers/node_modules, installed with npm on the first run. */
function ensurePeersInstalled(): void {
  if (existsSync(`${PEERS_DIR}node_modules/@rwai/langgraphjs-checkpoint-dynamodb`) && existsSync(`${PEERS_DIR}node_modules/@langchain/community`)) return;
  console.log("installing the peers into bench/peers (first run only)…");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  execFileSync(npm, ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: PEERS_DIR, stdio: "inherit" });
}

async function importPeer<T>(specifier: string): Promise<T> {
  const resolved = createRequire(`${PEERS_DIR}package.json`).resolve(specifier);
  return (await import(pathToFileURL(resolved).href)) as T;
}

/** The part of an AWS SDK client a middleware is added through. */
interface MiddlewareClient {
  middlewareStack: {
    add(
      mw: (next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>) => (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
      options: { step: "initialize"; name: string },
    ): void;
  };
}

async function createPeerTable(config: PeerClientConfig, name: string, hash: string, range?: string): Promise<void> {
  const client = new DynamoDBClient(config);
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: hash, AttributeType: "S" }, ...(range ? [{ AttributeName: range, AttributeType: "S" as const }] : [])],
      KeySchema: [{ AttributeName: hash, KeyType: "HASH" }, ...(range ? [{ AttributeName: range, KeyType: "RANGE" as const }] : [])],
    }),
  );
  client.destroy();
}

interface PeerClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

type Capacity = { wcu: number; rcu: number };

/** The peers' own SDK copy meters nothing: capacity is read per call through a middleware on their client. */
function meteredCalls(client: unknown, capacity: Capacity): void {
  const c = client as MiddlewareClient;
  c.middlewareStack.add(
    (next) => async (args) => {
      args.input.ReturnConsumedCapacity = "TOTAL";
      const isWrite = "Item" in args.input || "UpdateExpression" in args.input || "RequestItems" in args.input && !("Keys" in Object.values(args.input.RequestItems as object)[0]!);
      const out = await next(args);
      const consumed = out.output.ConsumedCapacity;
      for (const one of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
        const units = (one as { CapacityUnits?: number }).CapacityUnits ?? 0;
        if (isWrite) capacity.wcu += units;
        else capacity.rcu += units;
      }
      return out;
    },
    { step: "initialize", name: "makimaCostMeter" },
  );
}

interface SaverModule {
  DynamoDBSaver: new (options: { clientConfig: PeerClientConfig; checkpointsTableName: string; writesTableName: string }) => {
    put(config: { configurable: Record<string, string | undefined> }, checkpoint: Record<string, unknown>, metadata: Record<string, unknown>): Promise<{ configurable: Record<string, string> }>;
    getTuple(config: { configurable: Record<string, string | undefined> }): Promise<unknown>;
    list(config: { configurable: Record<string, string> }, options?: { limit?: number }): AsyncGenerator<unknown>;
  };
}

/** What an agent's message becomes in a LangChain/LangGraph state: a stored message of the same bytes. */
function lcMessage(m: ConversationMessage): {
  type: string;
  data: { content: string; role?: string; tool_call_id?: string; additional_kwargs: Record<string, unknown> };
} {
  const { id, role, content, timestamp, ...rest } = m;
  const type = role === "user" ? "human" : role === "tool" ? "tool" : role === "system" ? "system" : "ai";
  return { type, data: { content, ...(type === "tool" ? { tool_call_id: id } : {}), additional_kwargs: { id, timestamp, ...rest } } };
}

/**
 * The LangGraph saver: every message a step of the graph, so a checkpoint
 * with the whole state (all messages so far); a conversation read is the
 * latest checkpoint, a history listing the saver's `list` of 50.
 */
async function runLangGraph(config: PeerClientConfig, conversation: ConversationMessage[]): Promise<Usage> {
  const { DynamoDBSaver } = await importPeer<SaverModule>("@rwai/langgraphjs-checkpoint-dynamodb");
  const suffix = newId().slice(0, 8);
  const checkpointsTableName = `lg-checkpoints-${suffix}`;
  const writesTableName = `lg-writes-${suffix}`;
  await createPeerTable(config, checkpointsTableName, "thread_id", "checkpoint_id");
  await createPeerTable(config, writesTableName, "thread_id_checkpoint_id_checkpoint_ns", "task_id_idx");
  const saver = new DynamoDBSaver({ clientConfig: config, checkpointsTableName, writesTableName });
  const capacity: Capacity = { wcu: 0, rcu: 0 };
  meteredCalls(Reflect.get(saver, "client"), capacity);
  const usage = emptyUsage();
  const thread_id = newId();
  const messages: ReturnType<typeof lcMessage>[] = [];
  let parent: string | undefined;
  for (const [i, m] of conversation.entries()) {
    messages.push(lcMessage(m));
    const id = newId();
    const checkpoint = {
      v: 1,
      id,
      ts: new Date().toISOString(),
      channel_values: { messages },
      channel_versions: { messages: i + 1 },
      versions_seen: { agent: { messages: i } },
      pending_sends: [],
    };
    try {
      await saver.put({ configurable: { thread_id, checkpoint_ns: "", checkpoint_id: parent } }, checkpoint, { source: "loop", step: i, writes: null, parents: {} });
      parent = id;
      usage.dynamoBytes += Buffer.byteLength(JSON.stringify(checkpoint));
    } catch (error) {
      usage.failedAt = { message: i + 1, error: (error as Error).message.slice(0, 120) };
      break;
    }
  }
  for (let r = 0; r < WORKLOAD.conversationReads; r++) await saver.getTuple({ configurable: { thread_id, checkpoint_ns: "" } });
  for (let l = 0; l < WORKLOAD.historyLists; l++) for await (const _ of saver.list({ configurable: { thread_id } }, { limit: 50 })) void _;
  usage.wcu = capacity.wcu;
  usage.rcu = capacity.rcu;
  peerRequests(usage, usage.failedAt?.message ?? conversation.length);
  return usage;
}

interface HistoryModule {
  DynamoDBChatMessageHistory: new (options: { tableName: string; sessionId: string; config: PeerClientConfig }) => {
    addMessage(message: unknown): Promise<void>;
    getMessages(): Promise<unknown[]>;
  };
}
interface MessagesModule {
  mapStoredMessagesToChatMessages(messages: Array<ReturnType<typeof lcMessage>>): unknown[];
}

/** LangChain's DynamoDBChatMessageHistory: each message appended to the session's one item; reads and listings read it whole. */
async function runLangChain(config: PeerClientConfig, conversation: ConversationMessage[]): Promise<Usage> {
  const { DynamoDBChatMessageHistory } = await importPeer<HistoryModule>("@langchain/community/stores/message/dynamodb");
  const { mapStoredMessagesToChatMessages } = await importPeer<MessagesModule>("@langchain/core/messages");
  const tableName = `lc-history-${newId().slice(0, 8)}`;
  await createPeerTable(config, tableName, "id");
  const history = new DynamoDBChatMessageHistory({ tableName, sessionId: newId(), config });
  const capacity: Capacity = { wcu: 0, rcu: 0 };
  meteredCalls(Reflect.get(history, "client"), capacity);
  const usage = emptyUsage();
  for (const [i, m] of conversation.entries()) {
    const stored = lcMessage(m);
    // It stores no tool_call_id, so a tool message could not be read back: a tool result is kept as a chat message of role "tool".
    const kept = stored.type === "tool" ? { type: "generic", data: { content: stored.data.content, role: "tool", additional_kwargs: {} } } : { ...stored, data: { ...stored.data, additional_kwargs: {} } };
    const [message] = mapStoredMessagesToChatMessages([kept]);
    // Its serializer keeps only content (and role): the rest of the message rides in the content, as a user would.
    Reflect.set(message as object, "content", `${m.content}\n${JSON.stringify({ ...stored.data.additional_kwargs })}`);
    try {
      await history.addMessage(message);
      usage.dynamoBytes += Buffer.byteLength(JSON.stringify(stored));
    } catch (error) {
      usage.failedAt = { message: i + 1, error: (error as Error).message.slice(0, 120) };
      break;
    }
  }
  for (let r = 0; r < WORKLOAD.conversationReads + WORKLOAD.historyLists; r++) await history.getMessages();
  usage.wcu = capacity.wcu;
  usage.rcu = capacity.rcu;
  peerRequests(usage, usage.failedAt?.message ?? conversation.length);
  return usage;
}

/** The peers behind a function of their own: one request and invocation per message written and per read, 20 ms each. */
function peerRequests(usage: Usage, messages: number): void {
  const calls = messages + WORKLOAD.conversationReads + WORKLOAD.historyLists;
  usage.httpRequests = calls;
  usage.lambdaInvocations = calls;
  usage.lambdaMs = calls * 20;
}

// ------------------------------------------------------------------ the bench

export async function runCostBench(): Promise<void> {
  ensurePeersInstalled();
  const conversation = buildConversation();
  console.log(`prices: AWS on-demand, us-east-1, ${PRICES.date}: ${JSON.stringify(PRICES)}`);
  console.log(
    `workload: ${formatNumber(WORKLOAD.tasksPerMonth)} tasks a month, each ${formatNumber(WORKLOAD.messages)} messages (~${formatBytes(Buffer.byteLength(JSON.stringify(conversation)) / conversation.length)} each) ` +
      `with a checkpoint every ${WORKLOAD.checkpointEvery}, its conversation read whole ${WORKLOAD.conversationReads} times, its history listed ${WORKLOAD.historyLists} times, ${WORKLOAD.diffs} diffs relayed; logs accumulate for ${MONTHS} months\n`,
  );
  await withEmulators(async (emulators) => {
    const peerConfig: PeerClientConfig = { endpoint: emulators.dynamoEndpoint, region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" } };
    const ours = await runOurs(emulators, conversation);
    const plan = await runPlan(emulators, conversation, ours);
    const langGraph = await runLangGraph(peerConfig, conversation);
    const langChain = await runLangChain(peerConfig, conversation);
    const designs: Array<[string, Usage]> = [
      ["this service", ours],
      ["the plan's design", plan],
      ["LangGraph DynamoDB saver", langGraph],
      ["LangChain DynamoDBChatMessageHistory", langChain],
    ];
    printTable(
      ["per task", "WCU", "RCU", "S3 PUT", "S3 GET", "bytes kept", "kept 30 days", "HTTP req", "Lambda ms", "$ month 1", "$ month 12"],
      designs.map(([name, u]) => [
        name,
        formatNumber(u.wcu),
        formatNumber(u.rcu),
        formatNumber(u.s3Puts),
        formatNumber(u.s3Gets),
        formatBytes(u.dynamoBytes + u.s3Bytes),
        formatBytes(u.expiringDynamoBytes + u.expiringS3Bytes),
        formatNumber(u.httpRequests),
        formatNumber(u.lambdaMs),
        formatNumber(monthBill(u, 1), 2),
        formatNumber(monthBill(u, MONTHS), 2),
      ]),
    );
    const phases = Object.entries(ours.phases!).map(([name, u]) => `${name} ${formatNumber(u.wcu)} WCU / ${formatNumber(u.rcu)} RCU`);
    console.log(`\nthis service by phase: ${phases.join(", ")}`);
    console.log(`\nmonth ${MONTHS}, by line ($)`);
    const lines = Object.keys(monthLines(ours, MONTHS));
    printTable(
      ["per month", ...lines],
      designs.map(([name, u]) => [name, ...Object.values(monthLines(u, MONTHS)).map((d) => formatNumber(d, 2))]),
    );
    console.log("");
    for (const [name, u] of designs) {
      if (u.failedAt) console.log(`${name}: cannot hold the workload: failed at message ${u.failedAt.message} of ${WORKLOAD.messages} (${u.failedAt.error}); its figures cover the messages before it`);
    }
    console.log("");
    for (const [name, u] of designs) {
      console.log(`${name}: $ month 1: ${formatNumber(monthBill(u, 1), 2)}, $ month 12: ${formatNumber(monthBill(u, MONTHS), 2)}`);
    }
    const lgNote = langGraph.failedAt ? ` (the saver failed at message ${langGraph.failedAt.message}: its bill covers the messages before it)` : "";
    console.log(`\nLangGraph/ours: ×${(monthBill(langGraph, MONTHS) / monthBill(ours, MONTHS)).toFixed(2)} (month ${MONTHS})${lgNote}`);
    console.log(`\ncost ratio: ${(monthBill(plan, MONTHS) / monthBill(ours, MONTHS)).toFixed(2)}`);
    console.log(`\n${viewerHourLine()}`);
    const bills = Object.fromEntries(designs.flatMap(([name, u]) => [[`${name}, $ month 1`, monthBill(u, 1)], [`${name}, $ month ${MONTHS}`, monthBill(u, MONTHS)]]));
    const ourLines = Object.fromEntries(Object.entries(monthLines(ours, MONTHS)).map(([line, d]) => [`this service, month ${MONTHS} ${line} $`, d]));
    writeBenchResult("cost", { ...bills, ...ourLines, "cost ratio": Number((monthBill(plan, MONTHS) / monthBill(ours, MONTHS)).toFixed(2)) });
  });
}

/**
 * The viewer's live tail polls the task it shows (GET …/tasks/{id}: one
 * HTTP request, one invocation, one item read) every VIEWER_POLL_MS, and
 * reads the conversation again only when it moved. Priced per viewer-hour
 * of an idle task, the invocation at VIEWER_POLL_LAMBDA_MS.
 */
const VIEWER_POLL_MS = 1_500;
const VIEWER_POLL_LAMBDA_MS = 20;
function viewerHourLine(): string {
  const polls = 3_600_000 / VIEWER_POLL_MS;
  const gbSeconds = (polls * VIEWER_POLL_LAMBDA_MS * PRICES.lambda.memoryGb) / 1000;
  const dollars =
    (polls * (PRICES.apiGateway.perMillionHttpRequests + PRICES.lambda.perMillionRequests + PRICES.dynamo.perMillionReads)) / 1e6 + gbSeconds * PRICES.lambda.perGbSecond;
  return `viewer live tail (polling every ${VIEWER_POLL_MS} ms): ${formatNumber(polls)} requests per viewer-hour, $${formatNumber(dollars, 4)} per viewer-hour (HTTP API, Lambda at ${VIEWER_POLL_LAMBDA_MS} ms, 1 read unit each)`;
}

if (invokedDirectly(import.meta.url)) await runCostBench();
