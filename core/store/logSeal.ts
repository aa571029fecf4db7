import { keys } from "../keys.js";
import { blobKeys } from "../blobs.js";
import { recordMetric } from "../metrics.js";
import type { Db } from "./db.js";
import { queryPages } from "./paging.js";
import { isConditionFailure, type Item } from "./table.js";
import { decodeLogItem, LogItem, newToken, type LogChunk, type MessagesItem } from "./logBatch.js";

type SealedItem = Extract<LogItem, { kind: "sealed" }>;

/**
 * Sealing: logs are kept forever, and S3 keeps a byte for about a tenth of
 * DynamoDB's price. Once a task's committed log holds SEAL_MESSAGES more
 * messages than were sealed, beyond the newest HOT_MESSAGES (which live
 * readers read), the oldest unsealed batches (up to SEAL_MESSAGES messages
 * or SEAL_BYTES of them) move into one S3 chunk:
 *
 * 1. the chunk (JSON in the log's codec: the messages as hashed, their
 *    chain hashes and receive times) is written to S3;
 * 2. the first batch's item becomes the stretch's index item, naming the
 *    chunk (conditional on that batch being unchanged: of two sealers, one
 *    wins; the other's chunk is an orphan the cleanup sweep removes);
 * 3. every other batch of the stretch becomes a tombstone pointing at it
 *    (its key stays taken, so no late append can ever write there);
 * 4. the task's `sealedTo` moves past the stretch.
 *
 * A sealer that stops between steps leaves a state the next one finishes:
 * it finds the index item at `sealedTo + 1` and carries on from step 3.
 * Readers read a sealed stretch with one S3 GET, whatever the step.
 */

/** A sealed stretch holds at least this many messages (whole batches, so a few more). */
const SEAL_MESSAGES = 500;
/** The newest messages stay in table items. */
const HOT_MESSAGES = 200;
/** A sealed stretch holds at most about this many bytes of messages (JSON), so that a reader can hold it: well under 1 MB compressed. */
const SEAL_BYTES = 1_500_000;

/** Seals the oldest unsealed stretch when the log has grown enough since the last one. */
export async function sealIfDue(db: Db, task: { id: string; ownerId: string }, end: { seq: number; sealedTo: number }): Promise<boolean> {
  if (end.seq - end.sealedTo < SEAL_MESSAGES + HOT_MESSAGES) return false;
  return sealStretch(db, task, end.sealedTo + 1, end.seq - HOT_MESSAGES);
}

/** The log items whose first sequence number is in from..to, in order, read a page at a time as the caller pulls. */
async function* itemsBetween(db: Db, taskId: string, from: number, to: number): AsyncGenerator<Item> {
  const pages = queryPages(db, {
    KeyConditionExpression: "pk = :p AND sk BETWEEN :lo AND :hi",
    ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":lo": keys.logBatch(taskId, from).sk, ":hi": keys.logBatch(taskId, to).sk },
    Limit: 25,
    ConsistentRead: true,
  });
  for await (const items of pages) yield* items;
}

/** The log items from `from` on, ending at or before `upTo`, until they hold SEAL_MESSAGES messages. */
async function stretchFrom(db: Db, taskId: string, from: number, upTo: number): Promise<Item[]> {
  const out: Item[] = [];
  let count = 0;
  for await (const item of itemsBetween(db, taskId, from, upTo)) {
    const { seq, last } = LogItem.parse(item);
    if (last > upTo || count >= SEAL_MESSAGES) break;
    out.push(item);
    count += last - seq + 1;
  }
  return out;
}

/** Whole batches from the first of `items`, up to SEAL_MESSAGES messages or SEAL_BYTES of them, whichever comes first. */
async function packStretch(db: Db, taskId: string, items: Item[]): Promise<{ chunk: LogChunk; bytes: number; taken: number }> {
  const chunk: LogChunk = { messages: [], chains: [], receivedAt: [] };
  let bytes = 0;
  let taken = 0;
  for (const item of items) {
    const batch = await decodeLogItem(db, taskId, item);
    const size = batch.bodies.reduce((n, b) => n + b.length, 0);
    if (taken > 0 && bytes + size > SEAL_BYTES) break;
    chunk.messages.push(...batch.bodies.map((b) => JSON.parse(b) as Record<string, unknown>));
    chunk.chains.push(...batch.chains);
    chunk.receivedAt.push(...batch.messages.map((m) => m.receivedAt ?? ""));
    bytes += size;
    taken++;
  }
  return { chunk, bytes, taken };
}

/** Steps 1 and 2: the stretch's chunk written, and the first batch's item made its index; what is left to fold, if it was. */
async function writeStretch(
  db: Db,
  task: { id: string; ownerId: string },
  head: Exclude<LogItem, { kind: "tombstone" | "sealed" }>,
  upTo: number,
): Promise<{ index: SealedItem; folded: Item[] } | undefined> {
  const from = head.seq;
  const items = await stretchFrom(db, task.id, from, upTo);
  if (items.length === 0 || LogItem.parse(items[0]!).seq !== from) return undefined;
  const { chunk, bytes, taken } = await packStretch(db, task.id, items);
  if (chunk.messages.length < SEAL_MESSAGES && bytes < SEAL_BYTES && taken === items.length) return undefined;
  const lastItem = LogItem.parse(items[taken - 1]!) as MessagesItem;
  let index: SealedItem;
  if (taken === 1 && head.kind === "batchInS3") {
    // One batch as large as a stretch already lives in an S3 object of its own: it is its own stretch.
    index = { ...head, kind: "sealed" };
  } else {
    const token = newToken();
    const chunkKey = blobKeys.logChunk(task.ownerId, task.id, from, token);
    await db.blobs.putJson(chunkKey, chunk);
    index = { kind: "sealed", seq: from, last: lastItem.last, token, chunkKey, chain: chunk.chains.at(-1)!, receivedAt: lastItem.receivedAt };
  }
  try {
    await db.table.put(
      { ...keys.logBatch(task.id, from), ...index },
      { ConditionExpression: "#t = :t", ExpressionAttributeNames: { "#t": "token" }, ExpressionAttributeValues: { ":t": head.token } },
    );
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  return { index, folded: items.slice(1, taken) };
}

/** Seals the stretch starting at `from` (at least SEAL_MESSAGES, ending at or before `upTo`); whether it did. */
export async function sealStretch(db: Db, task: { id: string; ownerId: string }, from: number, upTo: number): Promise<boolean> {
  const first = await db.table.get(keys.logBatch(task.id, from));
  if (!first) return false;
  const head = LogItem.parse(first);
  if (head.kind === "tombstone") return false;
  let stretch: { index: SealedItem; folded: Item[] } | undefined;
  if (head.kind === "sealed") {
    // A sealer stopped after step 2: finish its stretch.
    const folded: Item[] = [];
    for await (const item of itemsBetween(db, task.id, from + 1, head.last)) if (LogItem.parse(item).kind !== "tombstone") folded.push(item);
    stretch = { index: head, folded };
  } else stretch = await writeStretch(db, task, head, upTo);
  if (!stretch) return false;
  // Step 3: the batches folded in become tombstones.
  await db.table.batchWrite(
    stretch.folded.map((item) => {
      const { seq, last } = LogItem.parse(item);
      return { put: { ...keys.logBatch(task.id, seq), kind: "tombstone", seq, last, sealedInto: from } };
    }),
  );
  recordMetric("LogSealed", stretch.index.last - stretch.index.seq + 1, {});
  // Step 4: the task's sealedTo moves past the stretch.
  try {
    await db.table.update(keys.task(task.id), {
      UpdateExpression: "SET sealedTo = :to",
      ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(sealedTo) OR sealedTo < :to)",
      ExpressionAttributeValues: { ":to": stretch.index.last },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  return true;
}
