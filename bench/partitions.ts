import { randomUUID } from "node:crypto";
import { keys, TABLE_KEYS, type IndexName } from "../core/keys.js";
import { newId } from "../core/ids.js";
import { newBatch } from "../core/store/logBatch.js";
import { newHistoryEvent } from "../core/store/history.js";
import { CHAT_HOST, CHECKPOINT_HOST, hostedEvent } from "../core/store/hostedEvents.js";
import { checkpointIdFor } from "../core/store/checkpoints.js";
import { snapshotItem } from "../core/store/snapshots.js";
import { ConversationMessage, SnapshotRecord } from "../core/models.js";
import type { Item } from "../core/store/table.js";
import { formatNumber, invokedDirectly, itemSize, printTable, seededRandom, writeBenchResult } from "./support.js";

/**
 * bench/partitions: a partition-load simulation. It replays one busy owner's
 * writes — 500 agents in one contract printing 2 messages a second each, and
 * 100,000 checkpoint snapshots a day, while the cleanup job deletes a day of
 * 100,000 expired ones as fast as it goes — through the store's own key and
 * item builders, and adds up the write units each partition (of the table
 * and of each index) takes in each second. DynamoDB gives a partition about
 * 1,000 write units a second and throttles the table when an index
 * partition is hot; the figure to read is `max partition WCU/s`.
 *
 * Costing, as AWS bills it: 1 WCU per started KB of an item, twice that in a
 * transaction; an index write costs the same per KB of the projected item
 * (all attributes), counted twice as well when it comes from a transaction
 * (more than AWS charges, never less). No emulator: nothing here is timed.
 */

const AGENTS = 500;
const MESSAGES_PER_AGENT_PER_SECOND = 2;
const MESSAGE_BYTES = 2_000;
const SNAPSHOTS_PER_DAY = 100_000;
const SECONDS = 30;
/** The cleanup job's writes in flight (core/retention/policy.ts DEFAULTS.concurrency) over a fast DynamoDB round trip. */
const CLEANUP_CONCURRENCY = 16;
const CLEANUP_ROUND_TRIP_MS = 3;
const CLEANUP_DELETES_PER_SECOND = (CLEANUP_CONCURRENCY * 1000) / CLEANUP_ROUND_TRIP_MS;
/** The cleanup job handles the entries of a day's shards interleaved, a page of this many from each (DEFAULTS.batchSize). */
const CLEANUP_BATCH = 100;

const KB = 1024;
const units = (item: Item, transactional: boolean) => Math.ceil(itemSize(item) / KB) * (transactional ? 2 : 1);

/** Write units by partition (`table <pk>` or `<index> <hash key>`) and second. */
class PartitionLoad {
  readonly bySecond = new Map<string, Map<number, number>>();

  private add(partition: string, second: number, wcu: number) {
    let seconds = this.bySecond.get(partition);
    if (!seconds) this.bySecond.set(partition, (seconds = new Map()));
    seconds.set(second, (seconds.get(second) ?? 0) + wcu);
  }

  /** A put or delete of `item`: its table partition, and each index partition it is (or was) in. */
  write(item: Item, at: number, transactional = false) {
    const second = Math.floor(at);
    const wcu = units(item, transactional);
    this.add(`table ${String(item.pk)}`, second, wcu);
    for (const [index, { hashKey }] of Object.entries(TABLE_KEYS.globalIndexes) as Array<[IndexName, { hashKey: string }]>) {
      if (typeof item[hashKey] === "string") this.add(`${index} ${String(item[hashKey])}`, second, wcu);
    }
  }

  /** The hottest partition-seconds, optionally with shard suffixes folded (as the keys were before shards). */
  hottest(fold = false): Array<{ partition: string; wcu: number }> {
    const folded = new Map<string, Map<number, number>>();
    for (const [partition, seconds] of this.bySecond) {
      const name = fold ? partition.replace(/#S\d+$/, "") : partition;
      let into = folded.get(name);
      if (!into) folded.set(name, (into = new Map()));
      for (const [s, w] of seconds) into.set(s, (into.get(s) ?? 0) + w);
    }
    return [...folded]
      .map(([partition, seconds]) => ({ partition, wcu: Math.max(...seconds.values()) }))
      .sort((a, b) => b.wcu - a.wcu);
  }
}

const WORDS = "the a to of and in that is for it with as on be this by function file test error value return const change line type check build run code".split(" ");

function messageText(random: () => number, bytes: number): string {
  const words: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = WORDS[Math.floor(random() * WORDS.length)]!;
    words.push(word);
    length += word.length + 1;
  }
  return words.join(" ");
}

export async function runPartitionsBench(): Promise<void> {
  const random = seededRandom(12);
  const load = new PartitionLoad();
  const ownerId = randomUUID();
  const contractId = randomUUID();
  const tasks = Array.from({ length: AGENTS }, () => randomUUID());
  const seqs = new Map<string, number>();

  // Agents: each message is its own append (the costliest way): the batch taken, then committed with its id
  // index and its `chat` history event (its type's timeline and a phase copy, in gsi1, the phase copy in gsi2 too).
  const interval = 1 / MESSAGES_PER_AGENT_PER_SECOND;
  for (let t = 0; t < SECONDS; t += interval) {
    for (const [i, taskId] of tasks.entries()) {
      const at = t + (i / AGENTS) * interval;
      const seq = (seqs.get(taskId) ?? 0) + 1;
      seqs.set(taskId, seq);
      const id = `m-${taskId.slice(0, 8)}-${seq}`;
      const message = { id, role: "assistant" as const, content: messageText(random, MESSAGE_BYTES), timestamp: new Date(Date.UTC(2026, 10, 1) + at * 1000).toISOString() };
      // A daemon's batch of one (its flush window is shorter than the gap between an agent's messages).
      const batch = newBatch({ id: taskId, ownerId }, seq, "", [ConversationMessage.parse(message)], message.timestamp);
      // Taken with a plain put; committed in a transaction with its id index hosting its event, and the event's timeline items.
      load.write(batch.item, at);
      const event = newHistoryEvent(
        { ownerId, contractId, taskId, eventType: "chat", eventSubtype: "messages", phase: "execute", eventData: { count: 1, firstMessageId: id, lastMessageId: id, roles: ["assistant"] } },
        new Date(Date.UTC(2026, 10, 1) + at * 1000),
      );
      const hosted = hostedEvent(event, CHAT_HOST, batch.ids);
      load.write({ ...batch.ids, historyEvent: hosted.historyEvent }, at, true);
      for (const item of hosted.items) load.write(item, at, true);
    }
  }

  // Checkpoints: each with its snapshot (in the day's expiry shard) in one transaction, and a history event.
  const expiresOn = "2026-12-01";
  const snapshotsPerSecond = SNAPSHOTS_PER_DAY / 86_400;
  for (let at = 0; at < SECONDS; at += 1 / snapshotsPerSecond) {
    const taskId = tasks[Math.floor(random() * AGENTS)]!;
    const checkpointId = checkpointIdFor(1, new Date());
    const snapshot = { ...snapshotOf(ownerId, taskId, checkpointId, expiresOn), checkpointNumber: 1 };
    // Its snapshot and pointers before the transaction, at the plain rate; the checkpoint hosting its event, with the event's timeline items.
    load.write(snapshotItem(snapshot), at);
    load.write({ ...keys.checkpointBySha(taskId, "a".repeat(40), 1, checkpointId), checkpointNumber: 1 }, at);
    load.write({ ...keys.checkpointByCount(taskId, 100, 1, checkpointId), checkpointNumber: 1 }, at);
    const checkpoint = { ...keys.checkpoint(taskId, 1), ownerId, id: checkpointId, taskId, checkpointNumber: 1, commitSha: "a".repeat(40), branchName: "makima/task", message: "checkpoint", conversationSnapshotId: snapshot.id, messageCount: 100, createdAt: snapshot.createdAt };
    const event = newHistoryEvent({ ownerId, contractId, taskId, eventType: "checkpoint", eventSubtype: "created", phase: "execute", eventData: { checkpointId, checkpointNumber: 1 } }, new Date());
    const hosted = hostedEvent(event, CHECKPOINT_HOST, checkpoint);
    load.write({ ...checkpoint, historyEvent: hosted.historyEvent }, at, true);
    for (const item of hosted.items) load.write(item, at, true);
  }

  // The cleanup job on a day of 100,000 expired checkpoint snapshots: each delete a transaction (the checkpoint's
  // reference cleared with it), entries taken a page per shard and interleaved, as core/retention/expiry.ts does.
  const dueDay = "2026-11-01";
  const byShard = new Map<string, Item[]>();
  for (let n = 0; n < SNAPSHOTS_PER_DAY; n++) {
    const item = snapshotItem(snapshotOf(ownerId, tasks[n % AGENTS]!, newId(), dueDay));
    const shard = byShard.get(String(item.gsi3pk)) ?? [];
    shard.push(item);
    byShard.set(String(item.gsi3pk), shard);
  }
  const lanes = [...byShard.values()];
  const order: Item[] = [];
  for (let page = 0; order.length < SNAPSHOTS_PER_DAY; page++) {
    const pages = lanes.map((l) => l.slice(page * CLEANUP_BATCH, (page + 1) * CLEANUP_BATCH));
    const longest = Math.max(...pages.map((p) => p.length));
    for (let i = 0; i < longest; i++) for (const p of pages) if (i < p.length) order.push(p[i]!);
  }
  const cleanupSeconds = SNAPSHOTS_PER_DAY / CLEANUP_DELETES_PER_SECOND;
  order.forEach((item, n) => {
    const at = (n / order.length) * cleanupSeconds;
    load.write(item, at, true);
    load.write({ ...keys.checkpoint(String(item.taskId), 1), conversationSnapshotId: item.id }, at, true);
  });
  load.write({ ...keys.cleanupState, oldestDay: dueDay, sweepPrefix: "snapshots/" }, cleanupSeconds);
  load.write({ ...keys.cleanupRun(newId()), deleted: SNAPSHOTS_PER_DAY }, cleanupSeconds);

  console.log(
    `scenario: 1 owner, 1 contract, ${AGENTS} agents × ${MESSAGES_PER_AGENT_PER_SECOND} messages/s of ~${MESSAGE_BYTES / 1000} KB (one append each), ` +
      `${formatNumber(SNAPSHOTS_PER_DAY)} checkpoint snapshots/day, and the cleanup job deleting ${formatNumber(SNAPSHOTS_PER_DAY)} expired ones ` +
      `at ${formatNumber(CLEANUP_DELETES_PER_SECOND)}/s (${CLEANUP_CONCURRENCY} in flight, ${CLEANUP_ROUND_TRIP_MS} ms each); ${SECONDS} s simulated\n`,
  );
  const hottest = load.hottest();
  const family = (partition: string) =>
    partition.replace(ownerId, "<owner>").replace(contractId, "<contract>").replace(/TASK#[0-9a-f-]{36}/, "TASK#<task>").replace(/#S\d+$/, "#S<n>");
  const families = new Map<string, number>();
  for (const p of hottest) if (!families.has(family(p.partition))) families.set(family(p.partition), p.wcu);
  printTable(
    ["partition (the hottest of its kind, its hottest second)", "WCU/s"],
    [...families].map(([name, wcu]) => [name, formatNumber(wcu)]),
  );
  const unsharded = load.hottest(true)[0]!;
  console.log(`\nthe same writes with every shard folded into one partition: ${formatNumber(unsharded.wcu)} WCU/s (${unsharded.partition.replace(ownerId, "<owner>").replace(contractId, "<contract>")})`);
  console.log(`\nmax partition WCU/s: ${Math.round(hottest[0]!.wcu)}`);
  writeBenchResult("partitions", {
    "max partition WCU/s": Math.round(hottest[0]!.wcu),
    "hottest partition": family(hottest[0]!.partition),
    "WCU/s with the shards folded into one": Math.round(unsharded.wcu),
  });
}

function snapshotOf(ownerId: string, taskId: string, checkpointId: string, expiresOn: string): SnapshotRecord {
  return SnapshotRecord.parse({
    id: newId(),
    taskId,
    ownerId,
    checkpointId,
    snapshotType: "checkpoint",
    messageCount: 100,
    pinned: false,
    segments: [{ taskId, from: 1, to: 100 }],
    contentHash: "h".repeat(43),
    expiresOn,
    createdAt: new Date().toISOString(),
  });
}

if (invokedDirectly(import.meta.url)) await runPartitionsBench();
