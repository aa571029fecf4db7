import { SnapshotRecord, ConversationSnapshot, type SnapshotType, type TaskRecord } from "../models.js";
import { EXPIRY_SHARDS, keys, shardOf } from "../keys.js";
import { newId } from "../ids.js";
import { notFound } from "../errors.js";
import { blobKeys, parseTaskObjectKey } from "../blobs.js";
import { type Db } from "./db.js";
import { closeSegments, contentHashOf, countOf } from "./segments.js";
import { committedEnd } from "./conversationLog.js";
import { retentionDaysOf } from "./owners.js";
import { queryPage, type Page } from "./paging.js";
import { isConditionFailure, isExpired, type Item, type Key } from "./table.js";

const DAY_MS = 86_400_000;
/** DynamoDB TTL removes an item this long after its expiry day if the cleanup job never got to it. */
const TTL_GRACE_DAYS = 7;

export const dayOf = (at: Date) => at.toISOString().slice(0, 10);

/** The expiry index entry and TTL backstop of an unpinned snapshot: its shard is fixed by its task and id, its place in it by its day. */
export function expiryAttributes(snapshot: Pick<SnapshotRecord, "id" | "taskId">, expiresOn: string): Item {
  return {
    expiresOn,
    gsi3pk: keys.expiryShard(shardOf(`${snapshot.taskId}#${snapshot.id}`, EXPIRY_SHARDS)),
    gsi3sk: `${expiresOn}#${snapshot.taskId}#${snapshot.id}`,
    expiresAt: Math.floor((Date.parse(expiresOn) + TTL_GRACE_DAYS * DAY_MS) / 1000),
  };
}

export function snapshotItem(snapshot: SnapshotRecord): Item & Key {
  return {
    ...keys.snapshot(snapshot.taskId, snapshot.id),
    ...snapshot,
    ...(snapshot.pinned || !snapshot.expiresOn ? {} : expiryAttributes(snapshot, snapshot.expiresOn)),
  };
}

export const toSnapshot = (record: SnapshotRecord): ConversationSnapshot => ConversationSnapshot.parse(record);

/**
 * A snapshot record for the task's conversation as it is now: the segments
 * it names, not a copy. Only a daemon's `state` (which the log cannot
 * reproduce) is written, to S3, before the item.
 */
export async function buildSnapshot(
  db: Db,
  task: TaskRecord,
  input: { snapshotType: SnapshotType; checkpointId?: string; metadata?: Record<string, unknown>; state?: unknown },
): Promise<SnapshotRecord> {
  const [end, retention] = await Promise.all([committedEnd(db, task.id), retentionDaysOf(db, task.ownerId)]);
  const segments = await closeSegments(db, task, end.seq);
  const id = newId();
  const now = db.clock();
  let stateBlobKey: string | undefined;
  if (input.state !== undefined) {
    stateBlobKey = blobKeys.snapshotState(task.ownerId, task.id, id);
    await db.blobs.putJson(stateBlobKey, input.state);
  }
  return SnapshotRecord.parse({
    id,
    taskId: task.id,
    ownerId: task.ownerId,
    checkpointId: input.checkpointId,
    snapshotType: input.snapshotType,
    messageCount: countOf(segments),
    metadata: input.metadata,
    pinned: false,
    segments,
    contentHash: await contentHashOf(db, segments, { taskId: task.id, ...end }),
    stateBlobKey,
    expiresOn: dayOf(new Date(now.getTime() + retention * DAY_MS)),
    createdAt: now.toISOString(),
  });
}

export async function createSnapshot(
  db: Db,
  task: TaskRecord,
  input: Parameters<typeof buildSnapshot>[2],
): Promise<SnapshotRecord> {
  const snapshot = await buildSnapshot(db, task, input);
  await db.table.put(snapshotItem(snapshot));
  return snapshot;
}

/**
 * A snapshot of the task. Past its TTL the item is DynamoDB's to delete any
 * moment: readers treat it as gone, unless they are about to change its
 * expiry (pinning takes it back).
 */
export async function getSnapshot(
  db: Db,
  task: TaskRecord,
  snapshotId: string,
  options: { includeExpired?: boolean } = {},
): Promise<SnapshotRecord> {
  const item = await db.table.get(keys.snapshot(task.id, snapshotId));
  if (!item || item.ownerId !== task.ownerId || (!options.includeExpired && isExpired(db, item))) throw notFound("snapshot");
  const [snapshot] = await vouched(db, [SnapshotRecord.parse(item)]);
  if (!snapshot) throw notFound("snapshot");
  return snapshot;
}

/** Newest first. */
export async function listSnapshots(db: Db, task: TaskRecord, limit: number, cursor?: string): Promise<Page<SnapshotRecord>> {
  const page = await queryPage(db, {
    scope: `snapshots:${task.id}`,
    cursor,
    limit,
    keyCondition: "pk = :p AND begins_with(sk, :s)",
    values: { ":p": keys.taskPartition(task.id), ":s": keys.snapshotPrefix },
    parse: (item) => SnapshotRecord.parse(item),
  });
  return { ...page, items: await vouched(db, page.items) };
}

/**
 * The snapshots that count: a checkpoint's snapshot written before its
 * checkpoint (`checkpointNumber`) counts once that checkpoint names it; one
 * whose checkpoint never came (a refused or cut-short attempt) does not. One
 * batched read of the checkpoints, only for such snapshots.
 */
async function vouched(db: Db, snapshots: SnapshotRecord[]): Promise<SnapshotRecord[]> {
  const hinted = snapshots.filter((s) => s.checkpointNumber !== undefined);
  if (hinted.length === 0) return snapshots;
  const wanted = new Map(hinted.map((s) => keys.checkpoint(s.taskId, s.checkpointNumber!)).map((k) => [`${k.pk}#${k.sk}`, k]));
  const checkpoints = await db.table.batchGet([...wanted.values()]);
  const named = new Set(checkpoints.map((c) => `${String(c.pk)}#${String(c.conversationSnapshotId)}`));
  return snapshots.filter((s) => s.checkpointNumber === undefined || named.has(`${keys.taskPartition(s.taskId)}#${s.id}`));
}

/** A pinned snapshot leaves the expiry index (and loses its TTL), so retention never finds it. */
export async function setPinned(db: Db, task: TaskRecord, snapshotId: string, pinned: boolean): Promise<SnapshotRecord> {
  const snapshot = await getSnapshot(db, task, snapshotId, { includeExpired: true });
  try {
    return await writePinned(db, task, snapshot, pinned);
  } catch (error) {
    // Retention removed it between the read and the write.
    if (isConditionFailure(error)) throw notFound("snapshot");
    throw error;
  }
}

async function writePinned(db: Db, task: TaskRecord, snapshot: SnapshotRecord, pinned: boolean): Promise<SnapshotRecord> {
  const snapshotId = snapshot.id;
  if (pinned) {
    const item = await db.table.update(keys.snapshot(task.id, snapshotId), {
      UpdateExpression: "SET pinned = :t REMOVE gsi3pk, gsi3sk, expiresAt",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":t": true },
      ReturnValues: "ALL_NEW",
    });
    return SnapshotRecord.parse(item);
  }
  const retention = await retentionDaysOf(db, task.ownerId);
  // Never a day in the past: the cleanup job's cursor may have passed it already.
  const due = Math.max(Date.parse(snapshot.createdAt) + retention * DAY_MS, db.clock().getTime());
  const expiresOn = dayOf(new Date(due));
  const attrs = expiryAttributes(snapshot, expiresOn);
  const item = await db.table.update(keys.snapshot(task.id, snapshotId), {
    UpdateExpression: "SET pinned = :f, expiresOn = :e, gsi3pk = :g, gsi3sk = :s, expiresAt = :x",
    ConditionExpression: "attribute_exists(pk)",
    ExpressionAttributeValues: { ":f": false, ":e": expiresOn, ":g": attrs.gsi3pk, ":s": attrs.gsi3sk, ":x": attrs.expiresAt },
    ReturnValues: "ALL_NEW",
  });
  return SnapshotRecord.parse(item);
}

/**
 * The objects among `snapshots/<owner>/<taskId>/<snapshotId>.json.gz` keys
 * that no snapshot item names (a snapshot names its state object by `stateBlobKey`).
 */
export async function unreferencedSnapshotStates(db: Db, objectKeys: string[]): Promise<string[]> {
  const parsed = objectKeys.flatMap((key) => {
    const parts = parseTaskObjectKey(key, blobKeys.snapshotPrefix);
    return parts ? [{ key, item: keys.snapshot(parts.taskId, parts.name) }] : [];
  });
  const found = await db.table.batchGet(parsed.map((p) => p.item));
  const named = new Set(found.map((item) => item.stateBlobKey));
  return parsed.filter((p) => !named.has(p.key)).map((p) => p.key);
}
