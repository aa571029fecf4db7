/**
 * Cleanup bench: 10,000 expired snapshots among 100,000 (a third of them
 * checkpoint snapshots with their checkpoints, some with a supervisor-state
 * object in S3), spread over 300 tasks, on DynamoDB Local and s3rver. Runs
 * the job with a Lambda's budget until nothing expired is left and prints
 * throughput, capacity units per deleted snapshot, S3 requests and runs.
 * Figures only; no pass/fail on time.
 *
 *   npx tsx bench/cleanup.ts      (also part of `npm run bench`)
 */
import { pathToFileURL } from "node:url";
import { ListObjectsCommand } from "@aws-sdk/client-s3";
import { startEmulators } from "../stacks/local/emulators.js";
import { ensureTable } from "../core/tableSchema.js";
import { dynamoClient } from "../core/aws.js";
import { loadConfig } from "../core/config.js";
import { createDb, type Db } from "../core/store/db.js";
import { keys } from "../core/keys.js";
import { newId } from "../core/ids.js";
import { blobKeys } from "../core/blobs.js";
import { dayOf, snapshotItem } from "../core/store/snapshots.js";
import { checkpointIdFor } from "../core/store/checkpoints.js";
import type { Item } from "../core/store/table.js";
import type { SnapshotRecord, SnapshotType } from "../core/models.js";
import { expiryEntriesOn, runCleanup, type CleanupSummary } from "../core/retention/index.js";
import { writeBenchResult } from "./support.js";

const TOTAL = 100_000;
const EXPIRED = 10_000;
const TASKS = 300;
const OWNERS = 10;
const RETENTION_DAYS = 30;
/** One expired snapshot in this many has a state object in S3 (and one fresh one in FRESH_STATE_EVERY). */
const EXPIRED_STATE_EVERY = 10;
const FRESH_STATE_EVERY = 100;
/** What the Lambda gives a run: 5 minutes less the handler's 30 s margin. */
const RUN_BUDGET_MS = 270_000;
const DAY_MS = 86_400_000;

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface Seeded {
  expiredDays: Set<string>;
  checkpointsExpired: number;
  stateObjectsExpired: number;
  stateObjectsTotal: number;
}

/** Writes the snapshots, checkpoints and state objects straight through the Table wrapper's BatchWrite. */
async function seed(db: Db): Promise<Seeded> {
  const now = Date.now();
  const tasks = Array.from({ length: TASKS }, (_, i) => ({ id: newId(), ownerId: `bench-owner-${i % OWNERS}`, checkpoints: 0 }));
  const writes: Item[] = [];
  const objects: string[] = [];
  const expiredDays = new Set<string>();
  let checkpointsExpired = 0;
  let stateObjectsExpired = 0;
  for (let i = 0; i < TOTAL; i++) {
    const expired = i % (TOTAL / EXPIRED) === 0;
    // Expired: taken 31–40 days ago (ten expiry days); fresh: 0–28 days ago.
    const ageMs = expired ? (31 + Math.random() * 9) * DAY_MS : Math.random() * 28 * DAY_MS;
    const createdAt = new Date(now - ageMs);
    const task = tasks[i % TASKS]!;
    const id = newId(createdAt);
    const snapshotType: SnapshotType = i % 3 === 0 ? "checkpoint" : i % 3 === 1 ? "auto" : "manual";
    const withState = expired ? (i / (TOTAL / EXPIRED)) % EXPIRED_STATE_EVERY === 1 : i % FRESH_STATE_EVERY === 7;
    const stateBlobKey = withState ? blobKeys.snapshotState(task.ownerId, task.id, id) : undefined;
    if (stateBlobKey) objects.push(stateBlobKey);
    const expiresOn = dayOf(new Date(createdAt.getTime() + RETENTION_DAYS * DAY_MS));
    if (expired) expiredDays.add(expiresOn);
    const number = snapshotType === "checkpoint" ? ++task.checkpoints : undefined;
    const checkpointId = number === undefined ? undefined : checkpointIdFor(number, createdAt);
    const record: SnapshotRecord = {
      id,
      taskId: task.id,
      ownerId: task.ownerId,
      checkpointId,
      snapshotType,
      messageCount: 40,
      pinned: false,
      segments: [{ taskId: task.id, from: 1, to: 40 }],
      contentHash: "0".repeat(64),
      stateBlobKey,
      expiresOn,
      createdAt: createdAt.toISOString(),
      checkpointNumber: number,
    };
    writes.push(snapshotItem(record));
    if (checkpointId && number !== undefined) {
      writes.push({
        ...keys.checkpoint(task.id, number),
        ownerId: task.ownerId,
        id: checkpointId,
        taskId: task.id,
        checkpointNumber: number,
        commitSha: "a".repeat(40),
        branchName: "main",
        message: `checkpoint ${number}`,
        conversationSnapshotId: id,
        createdAt: createdAt.toISOString(),
      });
      if (expired) checkpointsExpired++;
    }
    if (expired && stateBlobKey) stateObjectsExpired++;
  }

  // S3 first, then the items that name the objects (as the service does).
  await inParallel(objects, 16, async (key) => {
    await db.blobs.putJson(key, { compacted: "supervisor state", padding: "s".repeat(2048) });
  });
  const chunks: Item[][] = [];
  for (let i = 0; i < writes.length; i += 100) chunks.push(writes.slice(i, i + 100));
  await inParallel(chunks, 8, (chunk) => db.table.batchWrite(chunk.map((put) => ({ put }))));
  return { expiredDays, checkpointsExpired, stateObjectsExpired, stateObjectsTotal: objects.length };
}

/** Index entries left on the given days, every shard. */
async function countOnDays(db: Db, days: Iterable<string>): Promise<number> {
  let n = 0;
  for (const day of days) n += (await expiryEntriesOn(db, day)).length;
  return n;
}

/** Objects under a prefix (ListObjects v1: s3rver cannot page v2 listings on OpenSSL 3). */
async function countObjects(db: Db, prefix: string): Promise<number> {
  let n = 0;
  let marker: string | undefined;
  for (;;) {
    const out = await db.blobs.s3.send(new ListObjectsCommand({ Bucket: db.blobs.bucket, Prefix: prefix, Marker: marker }));
    n += out.Contents?.length ?? 0;
    if (!out.IsTruncated || !out.Contents?.length) return n;
    marker = out.Contents.at(-1)!.Key;
  }
}

export async function runCleanupBench(): Promise<void> {
  const emulators = await startEmulators();
  try {
    const config = {
      ...loadConfig({}),
      dynamoEndpoint: emulators.dynamoEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      tableName: "bench-cleanup",
      bucketName: "bench-cleanup",
      retentionDays: RETENTION_DAYS,
    };
    await ensureTable(dynamoClient(config), config.tableName);
    const db = createDb(config);
    await db.blobs.ensureBucket();

    console.log(`cleanup bench: ${fmt(EXPIRED)} expired among ${fmt(TOTAL)} snapshots, ${TASKS} tasks, ${OWNERS} owners`);
    const seedStart = performance.now();
    const seeded = await seed(db);
    console.log(
      `  seeded in ${fmt((performance.now() - seedStart) / 1000, 1)} s: ${fmt(Math.round(TOTAL / 3))} checkpoint snapshots with checkpoints ` +
        `(${fmt(seeded.checkpointsExpired)} expired), ${fmt(seeded.stateObjectsTotal)} state objects (${fmt(seeded.stateObjectsExpired)} expired)`,
    );
    const freshDays = Array.from({ length: RETENTION_DAYS + 1 }, (_, i) => dayOf(new Date(Date.now() + i * DAY_MS)));
    const freshBefore = await countOnDays(db, freshDays);

    db.table.meter.reset();
    const s3Before = { ...db.blobs.stats };
    const runs: CleanupSummary[] = [];
    const wallStart = performance.now();
    for (let i = 0; i < 50; i++) {
      const run = await runCleanup(db, { trigger: "bench", timeBudgetMs: RUN_BUDGET_MS, log: () => {} });
      runs.push(run);
      if (!run.hasMore) break;
    }
    const wallMs = performance.now() - wallStart;
    const sum = (f: (r: CleanupSummary) => number) => runs.reduce((n, r) => n + f(r), 0);
    const deleted = sum((r) => r.deleted);
    const jobMs = sum((r) => r.durationMs);
    const { read, write } = db.table.meter;
    const s3 = db.blobs.stats;

    const leftExpired = await countOnDays(db, seeded.expiredDays);
    const freshAfter = await countOnDays(db, freshDays);
    const objectsLeft = await countObjects(db, blobKeys.snapshotPrefix);

    console.log(`  runs needed (budget ${RUN_BUDGET_MS / 1000} s each): ${runs.length}`);
    console.log(`  deleted ${fmt(deleted)} snapshots, cleared ${fmt(sum((r) => r.cleared))} checkpoint references, ${fmt(sum((r) => r.stateObjectsDeleted))} state objects, errors ${sum((r) => r.errors)}`);
    console.log(`  time: ${fmt(jobMs / 1000, 1)} s in the job (${fmt(wallMs / 1000, 1)} s wall) → ${fmt(deleted / (jobMs / 1000))} snapshots deleted per second`);
    console.log(
      `  capacity: ${fmt(read, 1)} RCU and ${fmt(write, 1)} WCU in all → ${fmt(read / deleted, 2)} RCU and ${fmt(write / deleted, 2)} WCU per deleted snapshot`,
    );
    console.log(
      `  S3 requests: ${s3.deletes - s3Before.deletes} DeleteObjects + ${s3.lists - s3Before.lists} ListObjects = ${s3.deletes - s3Before.deletes + s3.lists - s3Before.lists}` +
        ` (${fmt(sum((r) => r.s3Requests))} counted by the runs)`,
    );
    console.log(`  check: ${leftExpired} expired index entries left; fresh entries ${fmt(freshBefore)} before, ${fmt(freshAfter)} after; ${objectsLeft} state objects left (expected ${seeded.stateObjectsTotal - seeded.stateObjectsExpired})`);
    if (deleted !== EXPIRED || leftExpired !== 0 || freshAfter !== freshBefore) {
      console.log("  WARNING: the job did not delete exactly the expired snapshots");
    }
    writeBenchResult("cleanup", {
      "snapshots deleted per second": Math.round(deleted / (jobMs / 1000)),
      "RCU per deleted snapshot": read / deleted,
      "WCU per deleted snapshot": write / deleted,
      "expired index entries left": leftExpired,
    });
  } finally {
    await emulators.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCleanupBench().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
