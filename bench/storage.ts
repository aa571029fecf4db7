import { gzipSync } from "node:zlib";
import {
  ConversationMessage,
  HistoryEventType,
  Phase,
  type CreateCheckpointRequest,
  type NewConversationMessage,
  type TaskRecord,
} from "../core/models.js";
import { keys, shardLanes, TIMELINE_SHARDS } from "../core/keys.js";
import { newId } from "../core/ids.js";
import { type Db } from "../core/store/db.js";
import { BlobStore } from "../core/blobs.js";
import { runCleanup } from "../core/retention/index.js";
import { createTask, getTaskRecord } from "../core/store/tasks.js";
import { appendMessages } from "../core/store/conversationAppend.js";
import { readConversation } from "../core/store/conversationLog.js";
import { createCheckpointWithSnapshot } from "../core/store/checkpoints.js";
import { getSnapshot } from "../core/store/snapshots.js";
import { phaseFacet, typeFacet } from "../core/store/history.js";
import { chatEvent } from "../core/services/taskEvents.js";
import { checkpointCreatedEvent } from "../core/services/checkpoints.js";
import { planAppendMessages, planCheckpointWithSnapshot, planSnapshotState, planTaskConversation } from "./planDesign.js";
import {
  type BenchDb,
  countingView,
  createBenchDb,
  formatBytes,
  formatNumber,
  invokedDirectly,
  itemSize,
  billedBytes,
  printTable,
  seededRandom,
  withEmulators,
  writeBenchResult,
} from "./support.js";

/**
 * Storage bench: one 2,000-message conversation with a checkpoint every 20
 * messages, stored our way (append-only log; a snapshot names a log prefix)
 * and the plan's way (bench/planDesign.ts: a row and a history event per
 * message, every snapshot carrying the whole conversation_state), each in a
 * table and bucket of its own on the same emulators. Then our appends alone,
 * at the batch sizes a daemon sends.
 */

export const MESSAGES = 2_000;
export const BATCH = 20;
const OWNER = "bench-owner";
/**
 * The plan's snapshot item keeps conversation_state inline while the item
 * stays within the 64 KB this service keeps its items under
 * (BENCH_PLAN_INLINE_KB overrides it, e.g. 350). Beyond it, the state goes to
 * S3 gzip (written first), as our storage principles require.
 */
const PLAN_INLINE_BYTES = Number(process.env.BENCH_PLAN_INLINE_KB ?? 64) * 1024;
/** A strongly consistent read unit covers 4 KB; a write unit 1 KB. */
const READ_UNIT_BYTES = 4 * 1024;

// ------------------------------------------------------------------ the conversation

const WORDS = `the a this that each every when while because so then after before instead of with without into
from over under between across within through during only also still already never always often rarely
handler request response table item key partition sort index query page cursor segment snapshot checkpoint
conversation message sequence log append fork rewind resume branch commit worktree daemon relay socket
connection timeout retry backoff condition transaction capacity bucket object stream buffer payload schema
validation error status owner contract task phase supervisor timeline event history retention expiry cleanup
function module import export type interface class method field value string number boolean array map set
promise async await callback closure scope test suite fixture mock emulator endpoint route middleware config
environment variable secret token header body json gzip compress size limit threshold batch chunk offset
returns throws reads writes stores loads parses checks builds creates deletes updates moves keeps drops
skips handles sends receives waits fails passes covers breaks fixes adds removes renames splits merges
correct wrong stale fresh missing empty large small slow fast safe unsafe concurrent ordered sorted unique
first last next previous current old new whole partial local remote pending done running failed`
  .split(/\s+/)
  .filter(Boolean);

const FILES = [
  "core/store/conversation.ts", "core/store/checkpoints.ts", "core/store/snapshots.ts", "core/services/resume.ts",
  "functions/api/routes/history.ts", "daemon/worktree/git.ts", "daemon/ws/client.ts", "core/relay.ts",
  "test/store.test.ts", "test/relay.test.ts", "core/models.ts", "stacks/storage.ts", "src/server/handlers/tasks.rs",
  "src/db/repository.rs", "web/src/components/Timeline.tsx", "web/src/hooks/useConversation.ts",
];
const TOOLS = ["read_file", "edit_file", "bash", "grep", "list_directory", "run_tests"];
const IDENT_PARTS = [
  "task", "message", "segment", "snapshot", "checkpoint", "owner", "page", "cursor", "item", "key", "batch", "blob",
  "state", "event", "history", "fork", "rewind", "daemon", "relay", "conn", "result", "count", "limit", "size",
  "read", "write", "load", "save", "build", "parse", "check", "find", "list", "next", "last", "first", "seq", "hash",
];

class ConversationGenerator {
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  private int(lo: number, hi: number) {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }
  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }
  private ident(parts = this.int(2, 3)) {
    const words = Array.from({ length: parts }, () => this.pick(IDENT_PARTS));
    return words[0]! + words.slice(1).map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  }

  sentence(): string {
    const words = Array.from({ length: this.int(8, 22) }, () => {
      const r = this.random();
      if (r < 0.06) return `\`${this.ident()}\``;
      if (r < 0.08) return this.pick(FILES);
      if (r < 0.1) return String(this.int(2, 5000));
      return this.pick(WORDS);
    });
    const text = words.join(" ");
    return text[0]!.toUpperCase() + text.slice(1) + this.pick([".", ".", ".", "?", ":"]);
  }

  prose(chars: number): string {
    const paragraphs: string[] = [];
    let length = 0;
    while (length < chars) {
      const paragraph = Array.from({ length: this.int(2, 5) }, () => this.sentence()).join(" ");
      paragraphs.push(paragraph);
      length += paragraph.length + 2;
    }
    return paragraphs.join("\n\n");
  }

  code(chars: number): string {
    const lines: string[] = [];
    let length = 0;
    while (length < chars) {
      const fn = this.ident();
      const args = Array.from({ length: this.int(1, 3) }, () => `${this.ident(1)}: ${this.pick(["string", "number", "Item", "TaskRecord", "Db"])}`);
      const block = [
        `export async function ${fn}(${args.join(", ")}): Promise<${this.pick(["void", "Item[]", "number", "string | undefined"])}> {`,
        `  const ${this.ident()} = await db.table.query({ KeyConditionExpression: "pk = :p", Limit: ${this.int(1, 500)} });`,
        `  if (!${this.ident()}) throw notFound("${this.pick(WORDS)} ${this.pick(WORDS)}");`,
        `  for (const ${this.ident(1)} of ${this.ident()}.items) {`,
        `    ${this.ident()} += ${this.ident(1)}.${this.ident(1)} ?? ${this.int(0, 64)};`,
        `    // ${this.sentence()}`,
        `  }`,
        `  return ${this.ident()};`,
        `}`,
        "",
      ];
      lines.push(...block);
      length += block.join("\n").length;
    }
    return lines.join("\n");
  }

  commandOutput(chars: number): string {
    const lines: string[] = [];
    let length = 0;
    while (length < chars) {
      const line = this.pick([
        () => ` ✓ ${this.pick(FILES)} > ${this.sentence()} (${this.int(1, 900)}ms)`,
        () => ` ✗ ${this.pick(FILES)} > ${this.sentence()}`,
        () => `${this.pick(FILES)}:${this.int(1, 800)}:${this.int(1, 80)}: ${this.sentence()}`,
        () => `${this.pick(["M", "A", "D", "??"])} ${this.pick(FILES)}`,
        () => `@@ -${this.int(1, 400)},${this.int(1, 30)} +${this.int(1, 400)},${this.int(1, 30)} @@ ${this.ident()}`,
        () => `${this.pick(["+", "-", " "])}  const ${this.ident()} = ${this.ident()}(${this.ident(1)}, ${this.int(0, 99)});`,
      ])();
      lines.push(line);
      length += line.length + 1;
    }
    return lines.join("\n");
  }

  /** One message of an agent's loop: a user turn opens each batch, then assistant tool calls and tool results. */
  message(i: number, at: Date): NewConversationMessage {
    const base = { id: newId(at), timestamp: at.toISOString(), tokenCount: this.int(50, 1500) };
    const position = i % BATCH;
    if (position === 0) return { ...base, role: "user", content: this.prose(this.int(800, 1600)) };
    if (position === BATCH - 1) {
      const text = `${this.prose(this.int(700, 1200))}\n\n\`\`\`ts\n${this.code(this.int(600, 1000))}\`\`\`\n\n${this.prose(300)}`;
      return { ...base, role: "assistant", content: text, costUsd: Number((this.random() / 20).toFixed(4)) };
    }
    if (position % 2 === 1) {
      const tool = this.pick(TOOLS);
      const input =
        tool === "edit_file"
          ? { path: this.pick(FILES), oldText: this.code(this.int(150, 350)), newText: this.code(this.int(200, 500)) }
          : tool === "bash" || tool === "run_tests"
            ? { command: `npx vitest run ${this.pick(FILES)} -t "${this.sentence()}"`, timeoutMs: 120_000 }
            : { path: this.pick(FILES), pattern: this.ident(), lines: [this.int(1, 200), this.int(201, 600)] };
      return {
        ...base,
        role: "assistant",
        content: this.prose(this.int(300, 800)),
        toolCalls: [{ id: `toolu_${newId(at).replace(/-/g, "")}`, name: tool, input }],
        costUsd: Number((this.random() / 50).toFixed(4)),
      };
    }
    const tool = this.pick(TOOLS);
    const result = tool === "read_file" || tool === "edit_file" ? this.code(this.int(1800, 2800)) : this.commandOutput(this.int(1500, 2600));
    return {
      ...base,
      role: "tool",
      content: "",
      toolName: tool,
      toolInput: { path: this.pick(FILES) },
      toolResult: result,
      isError: this.random() < 0.05,
    };
  }
}

/** The whole conversation, fully formed (ids and timestamps set), so both ways store the same messages. */
export function buildConversation(): ConversationMessage[] {
  const generator = new ConversationGenerator(20_240_601);
  const start = Date.parse("2025-01-06T09:00:00Z");
  return Array.from({ length: MESSAGES }, (_, i) => ConversationMessage.parse(generator.message(i, new Date(start + i * 4_000))));
}

function checkpointInput(n: number, random: () => number): CreateCheckpointRequest {
  const hex = () => Math.floor(random() * 16).toString(16);
  return {
    commitSha: Array.from({ length: 40 }, hex).join(""),
    branchName: "makima/task-storage-bench",
    message: `Checkpoint ${n}: batch ${n} of the conversation applied`,
    filesChanged: Array.from({ length: 1 + (n % 4) }, (_, i) => ({ path: FILES[(n + i) % FILES.length], status: "modified" })),
    linesAdded: Math.floor(random() * 200),
    linesRemoved: Math.floor(random() * 80),
  };
}

// ------------------------------------------------------------------ running a way

export interface StoreResult {
  ownerId: string;
  taskId: string;
  lastSnapshotId: string;
  /** Write units as DynamoDB Local reported them, and with transactions re-costed (see MeteredTable). */
  wcuReported: number;
  wcu: number;
  /** Of `wcu` (re-costed): appending the messages (log, id index, task, history events), and the checkpoints. */
  appendWcu: number;
  checkpointWcu: number;
  writesByKind: Map<string, { writes: number; units: number }>;
  rcu: number;
  s3: { puts: number; gets: number; lists: number; bytesWritten: number };
  ms: number;
  inlineSnapshots: number;
}

/** Runs a way over the conversation: an append of BATCH messages, then a checkpoint, until the end. */
async function storeWith(
  db: BenchDb,
  conversation: ConversationMessage[],
  label: string,
  way: {
    append: (task: TaskRecord, batch: ConversationMessage[]) => Promise<void>;
    checkpoint: (task: TaskRecord, n: number, input: CreateCheckpointRequest, upTo: number) => Promise<{ snapshotId: string; inline: boolean }>;
  },
): Promise<StoreResult> {
  const started = performance.now();
  const random = seededRandom(7);
  const task = await createTask(db, OWNER, { name: `storage bench (${label})`, plan: "Store a long conversation with checkpoints." });
  let lastSnapshotId = "";
  let inlineSnapshots = 0;
  let appendWcu = 0;
  let checkpointWcu = 0;
  for (let from = 0, n = 1; from < conversation.length; from += BATCH, n++) {
    const batch = conversation.slice(from, from + BATCH);
    const current = (await getTaskRecord(db, OWNER, task.id))!;
    let mark = db.table.modelledWrite;
    await way.append(current, batch);
    appendWcu += db.table.modelledWrite - mark;
    const after = (await getTaskRecord(db, OWNER, task.id))!;
    const input = checkpointInput(n, random);
    mark = db.table.modelledWrite;
    const made = await way.checkpoint(after, n, input, from + batch.length);
    checkpointWcu += db.table.modelledWrite - mark;
    lastSnapshotId = made.snapshotId;
    if (made.inline) inlineSnapshots++;
  }
  const { puts, gets, lists, bytesWritten } = db.blobs.stats;
  return {
    ownerId: OWNER,
    taskId: task.id,
    lastSnapshotId,
    wcuReported: db.meter.write,
    wcu: db.table.modelledWrite,
    appendWcu,
    checkpointWcu,
    writesByKind: new Map(db.table.writesByKind),
    rcu: db.meter.read,
    s3: { puts, gets, lists, bytesWritten },
    ms: performance.now() - started,
    inlineSnapshots,
  };
}

/** This service's store: appendMessages with its history events, and createCheckpointWithSnapshot with its event. */
export function storeOurs(db: BenchDb, conversation: ConversationMessage[]): Promise<StoreResult> {
  return storeWith(db, conversation, "ours", {
    append: async (task, batch) => {
      await appendMessages(db, task, batch, { event: chatEvent(task, undefined) });
    },
    checkpoint: async (task, _n, input) => {
      const made = await createCheckpointWithSnapshot(db, task, input, undefined, (checkpoint, snapshot) =>
        checkpointCreatedEvent(task, undefined, checkpoint, snapshot),
      );
      return { snapshotId: made.snapshot.id, inline: false };
    },
  });
}

/** The plan's design (bench/planDesign.ts): a row and a history event per message, a full-copy snapshot per checkpoint. */
export function storePlan(db: BenchDb, conversation: ConversationMessage[]): Promise<StoreResult> {
  return storeWith(db, conversation, "plan", {
    append: (task, batch) => planAppendMessages(db, task, batch),
    checkpoint: (task, n, input, upTo) => planCheckpointWithSnapshot(db, task, n, input, conversation.slice(0, upTo), PLAN_INLINE_BYTES),
  });
}

/** Batch sizes a daemon sends (messages per append) for the write-units-per-message table. */
export const APPEND_BATCH_SIZES = [1, 5, 20, 45, 90] as const;
/** Messages appended per batch size: a multiple of every size. */
const APPENDED_PER_SIZE = 180;

/** Write units (re-costed) per appended message, our way, at each batch size: a task of its own per size. */
export async function appendWriteUnits(
  db: BenchDb,
  conversation: ConversationMessage[],
): Promise<Array<{ batch: number; appends: number; wcu: number; perMessage: number }>> {
  const out: Array<{ batch: number; appends: number; wcu: number; perMessage: number }> = [];
  for (const size of APPEND_BATCH_SIZES) {
    const task = await createTask(db, OWNER, { name: `append batch ${size}`, plan: "Append at one batch size." });
    let wcu = 0;
    let appends = 0;
    for (let from = 0; from < APPENDED_PER_SIZE; from += size) {
      const current = (await getTaskRecord(db, OWNER, task.id))!;
      const mark = db.table.modelledWrite;
      await appendMessages(db, current, conversation.slice(from, from + size), { event: chatEvent(current, undefined) });
      wcu += db.table.modelledWrite - mark;
      appends++;
    }
    out.push({ batch: size, appends, wcu, perMessage: wcu / APPENDED_PER_SIZE });
  }
  return out;
}

export interface Footprint {
  itemBytes: number;
  /** What DynamoDB bills storage for (bench/support.ts billedBytes): overhead and index copies included. */
  billedBytes: number;
  items: number;
  byKind: Map<string, { items: number; bytes: number; billed: number }>;
  /** Attribute names seen per item kind, to check that the shared items match between the ways. */
  attributes: Map<string, Set<string>>;
  s3Bytes: number;
  s3Objects: number;
}

/** Everything the way stored: every item of the task's partition (Query, never Scan) and every object in its bucket. */
export async function footprint(db: Db, taskId: string): Promise<Footprint> {
  const byKind = new Map<string, { items: number; bytes: number; billed: number }>();
  const attributes = new Map<string, Set<string>>();
  let itemBytes = 0;
  let billed = 0;
  let items = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.table.query({
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": keys.taskPartition(taskId) },
      ExclusiveStartKey: startKey,
    });
    for (const item of page.items) {
      const size = itemSize(item);
      const billedSize = billedBytes(item);
      const kind = String(item.sk).replace(/#.*$/, "");
      const entry = byKind.get(kind) ?? { items: 0, bytes: 0, billed: 0 };
      entry.items++;
      entry.bytes += size;
      entry.billed += billedSize;
      billed += billedSize;
      byKind.set(kind, entry);
      const names = attributes.get(kind) ?? new Set<string>();
      for (const name of Object.keys(item)) names.add(name);
      attributes.set(kind, names);
      itemBytes += size;
      items++;
    }
    startKey = page.lastKey;
  } while (startKey);
  let s3Bytes = 0;
  let s3Objects = 0;
  let after: string | undefined;
  do {
    const page = await db.blobs.list("", after);
    for (const object of page.objects) {
      s3Bytes += object.size;
      s3Objects++;
    }
    after = page.next;
  } while (after);
  return { itemBytes, billedBytes: billed, items, byKind, attributes, s3Bytes, s3Objects };
}

/** The owner's history events as stored: the timeline and its copies by type and by phase, every shard. */
export async function historyBytes(db: Db, ownerId: string): Promise<{ items: number; bytes: number; billed: number }> {
  let bytes = 0;
  let billed = 0;
  let items = 0;
  const facets = [undefined, ...HistoryEventType.options.map(typeFacet), ...Phase.options.map(phaseFacet)];
  for (const facet of facets) {
    for (const shard of shardLanes(TIMELINE_SHARDS)) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await db.table.query({ KeyConditionExpression: "pk = :p", ExpressionAttributeValues: { ":p": keys.ownerEvents(ownerId, facet, shard) }, ExclusiveStartKey: startKey });
        for (const item of page.items) {
          bytes += itemSize(item);
          billed += billedBytes(item);
        }
        items += page.items.length;
        startKey = page.lastKey;
      } while (startKey);
    }
  }
  return { items, bytes, billed };
}

export interface Rebuild {
  messages: ConversationMessage[];
  itemBytes: number;
  s3Bytes: number;
  rcu: number;
  dynamoCalls: number;
  s3Gets: number;
}

/** Our way: the snapshot item, then its segments page by page (200, the API's largest page) until the end. */
export async function rebuildOurs(db: Db, taskId: string, snapshotId: string): Promise<Rebuild> {
  // A blob store of its own: nothing read while storing is kept for the rebuild.
  const view = { ...countingView(db), blobs: new BlobStore(db.blobs.s3, db.blobs.bucket) };
  const task = (await getTaskRecord(db, OWNER, taskId))!;
  const snapshot = await getSnapshot(view, task, snapshotId);
  const messages: ConversationMessage[] = [];
  let cursor: string | undefined;
  do {
    const page = await readConversation(view, snapshot.segments, { scope: `bench:${snapshotId}`, limit: 200, cursor });
    messages.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return { messages, itemBytes: view.table.bytesRead, s3Bytes: view.blobs.stats.bytesRead, rcu: view.table.meter.read, dynamoCalls: view.table.calls, s3Gets: view.blobs.stats.gets };
}

/** The plan's way: the latest snapshot's conversation_state (the row, and its S3 object when not inline). */
export async function rebuildPlan(db: Db, taskId: string, snapshotId: string): Promise<Rebuild> {
  const view = countingView(db);
  const before = { gets: db.blobs.stats.gets, bytes: db.blobs.stats.bytesRead };
  const messages = await planSnapshotState(view, taskId, snapshotId);
  return {
    messages,
    itemBytes: view.table.bytesRead,
    s3Bytes: db.blobs.stats.bytesRead - before.bytes,
    rcu: view.table.meter.read,
    dynamoCalls: view.table.calls,
    s3Gets: db.blobs.stats.gets - before.gets,
  };
}

/** A message as its sender gave it: without the receive time the server assigns. */
const asSent = (messages: ConversationMessage[]) => messages.map(({ receivedAt: _receivedAt, ...sent }) => sent);

/** Key order differs after a trip through DynamoDB maps; compare canonically. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// ------------------------------------------------------------------ the bench

export async function runStorageBench(): Promise<void> {
  const conversation = buildConversation();
  const json = Buffer.from(JSON.stringify(conversation));
  const gzipped = gzipSync(json).length;
  console.log(
    `conversation: ${MESSAGES} messages, ${formatBytes(json.length)} JSON (mean ${formatNumber(json.length / MESSAGES)} B/message), ` +
      `gzip ${formatBytes(gzipped)} (×${(json.length / gzipped).toFixed(2)}); a checkpoint every ${BATCH} messages (${MESSAGES / BATCH} checkpoints)`,
  );
  console.log(
    "plan's design (bench/planDesign.ts): a task_events row and a chat history event per message, uncompressed; at each checkpoint " +
      `one transaction of the checkpoint, its conversation_snapshots row with the full conversation_state (inline while the item is ≤ ${formatBytes(PLAN_INLINE_BYTES)}, else gzip in S3) and its history event`,
  );

  await withEmulators(async (emulators) => {
    const oursDb = await createBenchDb(emulators, "ours");
    const planDb = await createBenchDb(emulators, "plan");
    const ours = await storeOurs(oursDb, conversation);
    const plan = await storePlan(planDb, conversation);

    // The batches folded into sealed chunks leave their S3 objects behind; the cleanup job's sweep removes them after its grace period.
    await runCleanup({ ...oursDb, clock: () => new Date(Date.now() + 2 * 86_400_000) }, { log: () => undefined });
    const oursStored = await footprint(oursDb, ours.taskId);
    const planStored = await footprint(planDb, plan.taskId);
    const oursEvents = await historyBytes(oursDb, OWNER);
    const planEvents = await historyBytes(planDb, OWNER);
    const oursRebuild = await rebuildOurs(oursDb, ours.taskId, ours.lastSnapshotId);
    const planRebuild = await rebuildPlan(planDb, plan.taskId, plan.lastSnapshotId);

    // Every way must give back the conversation as sent, or the comparison means nothing.
    const expected = canonical(conversation);
    const rebuilt: Array<[string, ConversationMessage[]]> = [
      ["ours", oursRebuild.messages],
      ["plan", planRebuild.messages],
      ["plan (task_events)", await planTaskConversation(planDb, plan.taskId)],
    ];
    for (const [way, messages] of rebuilt) {
      if (canonical(asSent(messages)) !== expected) {
        throw new Error(`${way}: the conversation rebuilt at the last checkpoint differs from the one stored (${messages.length} messages)`);
      }
    }

    // The plan's checkpoint rows are written by bench/planDesign.ts, ours by the store: say so if the checkpoint's own
    // fields grew apart (ours also hosts its history event, which the plan keeps as a row of its own).
    for (const kind of ["CHECKPOINT"]) {
      const fields = (stored: Footprint) => [...(stored.attributes.get(kind) ?? [])].filter((a) => a !== "historyEvent").sort().join(",");
      const [o, p] = [fields(oursStored), fields(planStored)];
      if (o !== p) console.warn(`warning: ${kind} items differ between the ways (ours: ${o}; plan: ${p}); update bench/planDesign.ts`);
    }

    const total = (f: Footprint, events: { bytes: number }) => f.itemBytes + events.bytes + f.s3Bytes;
    const ratioOf = (p: number, o: number) => (o === 0 ? "–" : `×${(p / o).toFixed(2)}`);
    const row = (label: string, o: number, p: number, fmt: (n: number) => string = (n) => formatNumber(n)) => [
      label,
      fmt(o),
      fmt(p),
      ratioOf(p, o),
    ];
    const requests = (r: StoreResult) => r.s3.puts + r.s3.gets + r.s3.lists;
    const units = (n: number) => formatNumber(n, 1);
    console.log("");
    printTable(
      ["", "ours", "plan", "plan/ours"],
      [
        row("DynamoDB item bytes (task partition)", oursStored.itemBytes, planStored.itemBytes, formatBytes),
        row("DynamoDB items (task partition)", oursStored.items, planStored.items),
        row("DynamoDB item bytes (history events)", oursEvents.bytes, planEvents.bytes, formatBytes),
        row("DynamoDB items (history events)", oursEvents.items, planEvents.items),
        row("S3 object bytes", oursStored.s3Bytes, planStored.s3Bytes, formatBytes),
        row("S3 objects", oursStored.s3Objects, planStored.s3Objects),
        row("bytes stored (items + S3)", total(oursStored, oursEvents), total(planStored, planEvents), formatBytes),
        row("write capacity units (Local's report)", ours.wcuReported, plan.wcuReported, units),
        row("write capacity units (txns re-costed)", ours.wcu, plan.wcu, units),
        row("  of which appends", ours.appendWcu, plan.appendWcu, units),
        row("  of which checkpoints", ours.checkpointWcu, plan.checkpointWcu, units),
        row("write units per appended message", ours.appendWcu / MESSAGES, plan.appendWcu / MESSAGES, (n) => formatNumber(n, 2)),
        row("write units per checkpoint", ours.checkpointWcu / (MESSAGES / BATCH), plan.checkpointWcu / (MESSAGES / BATCH), units),
        row("read capacity units", ours.rcu, plan.rcu, units),
        row("S3 requests (put/get/list)", requests(ours), requests(plan)),
        row("S3 bytes written", ours.s3.bytesWritten, plan.s3.bytesWritten, formatBytes),
        row("rebuild @ last checkpoint: bytes read", oursRebuild.itemBytes + oursRebuild.s3Bytes, planRebuild.itemBytes + planRebuild.s3Bytes, formatBytes),
        row("  of which item bytes", oursRebuild.itemBytes, planRebuild.itemBytes, formatBytes),
        row("  of which S3 bytes (gzip)", oursRebuild.s3Bytes, planRebuild.s3Bytes, formatBytes),
        row("  read capacity units", oursRebuild.rcu, planRebuild.rcu, units),
        row("  RCU × 4 KB", oursRebuild.rcu * READ_UNIT_BYTES, planRebuild.rcu * READ_UNIT_BYTES, formatBytes),
        row("  requests (DynamoDB + S3)", oursRebuild.dynamoCalls + oursRebuild.s3Gets, planRebuild.dynamoCalls + planRebuild.s3Gets),
        row("store time (ms)", ours.ms, plan.ms),
      ],
    );

    console.log("");
    const kinds = [
      ...new Set([...oursStored.byKind.keys(), ...planStored.byKind.keys(), ...ours.writesByKind.keys(), ...plan.writesByKind.keys()]),
    ].sort();
    printTable(
      ["item kind", "ours items", "ours bytes", "ours writes", "ours WCU", "plan items", "plan bytes", "plan writes", "plan WCU"],
      kinds.map((k) => {
        const o = k === "EVENT" ? oursEvents : (oursStored.byKind.get(k) ?? { items: 0, bytes: 0 });
        const p = k === "EVENT" ? planEvents : (planStored.byKind.get(k) ?? { items: 0, bytes: 0 });
        const ow = ours.writesByKind.get(k) ?? { writes: 0, units: 0 };
        const pw = plan.writesByKind.get(k) ?? { writes: 0, units: 0 };
        return [
          k,
          formatNumber(o.items),
          formatBytes(o.bytes),
          formatNumber(ow.writes),
          formatNumber(ow.units, 1),
          formatNumber(p.items),
          formatBytes(p.bytes),
          formatNumber(pw.writes),
          formatNumber(pw.units, 1),
        ];
      }),
    );

    // Ours, appends alone at a daemon's batch sizes: a fresh table, so nothing else is counted.
    const batchesDb = await createBenchDb(emulators, "batches");
    const bySize = await appendWriteUnits(batchesDb, conversation);
    console.log("");
    console.log(`ours: write units per appended ~${formatBytes(json.length / MESSAGES)} message by batch size (${APPENDED_PER_SIZE} messages each; log items, id index, task update, history events; txns re-costed)`);
    printTable(
      ["messages per append", "appends", "write units", "write units / message"],
      bySize.map((b) => [String(b.batch), formatNumber(b.appends), formatNumber(b.wcu, 1), formatNumber(b.perMessage, 2)]),
    );

    console.log("");
    console.log(
      "method: item bytes = DynamoDB's item-size rules applied to every item of the task's partition (Query pk = TASK#id) and of the owner's " +
        "history partitions (Query per timeline facet and shard): UTF-8 bytes of attribute names and string values, numbers ≈ 1 B per 2 digits + 1, " +
        "lists/maps 3 B + 1 B per element; GSI copies and DynamoDB's 100 B per-item overhead not counted. S3 bytes = ListObjectsV2 sizes. " +
        "Capacity units = ConsumedCapacity (TOTAL) as DynamoDB Local reports it, summed by core/store/table.ts's CapacityMeter; " +
        "Local undercounts TransactWriteItems (it reports one item's cost, not the sum), so the re-costed rows price each Put of a " +
        "transaction per AWS's rules (2 units per started KB, again per index copy). Appends = the appendMessages (ours) or the plan's " +
        "row inserts of each batch of messages; checkpoints = the rest of the loop (snapshot, checkpoint, their history event). " +
        "Rebuild bytes = the same item sizing over the items each read returned, plus S3 object bytes as transferred (gzip; brotli for sealed stretches).",
    );
    console.log(`plan: ${plan.inlineSnapshots} of ${MESSAGES / BATCH} snapshots kept conversation_state inline`);
    console.log(
      `write units ratio (plan/ours): ${(plan.wcu / ours.wcu).toFixed(2)} (with DynamoDB Local's own transaction figures: ${(plan.wcuReported / ours.wcuReported).toFixed(2)})`,
    );
    console.log(`write units per appended message: ${formatNumber(ours.appendWcu / MESSAGES, 2)}`);
    console.log(`ratio: ${(total(planStored, planEvents) / total(oursStored, oursEvents)).toFixed(1)}`);
    const checkpoints = MESSAGES / BATCH;
    writeBenchResult("storage", {
      "write units per appended message": ours.appendWcu / MESSAGES,
      "plan's write units per appended message": plan.appendWcu / MESSAGES,
      "write units per checkpoint": ours.checkpointWcu / checkpoints,
      "plan's write units per checkpoint": plan.checkpointWcu / checkpoints,
      "bytes stored": formatBytes(total(oursStored, oursEvents)),
      "plan's bytes stored": formatBytes(total(planStored, planEvents)),
      ratio: Number((total(planStored, planEvents) / total(oursStored, oursEvents)).toFixed(1)),
    });
  });
}

if (invokedDirectly(import.meta.url)) {
  runStorageBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
