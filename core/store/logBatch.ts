import { createHash, randomBytes } from "node:crypto";
import * as z from "zod";
import { ConversationMessage } from "../models.js";
import { keys } from "../keys.js";
import { blobKeys, compressLog, inflate, MAX_OBJECT_JSON_BYTES } from "../blobs.js";
import type { Db } from "./db.js";
import type { Item, Key } from "./table.js";

/**
 * How a task's conversation log is stored. The log is a sequence of
 * messages numbered 1, 2, 3, … and stored in batches: one item
 * `MSG#<first seq>` per append, its messages compressed together with the
 * log's one codec (blobs.ts compressLog: conversations are text, and a batch
 * compresses far better than each message alone), with each message's
 * chain hash beside them.
 *
 * An item is of one `kind`:
 * - `batch`: `body` holds the messages; `receivedAt` is when the server
 *   took the append;
 * - `batchInS3`: the same, its messages in the S3 object `chunkKey`, as the
 *   compressed body would pass INLINE_BATCH_BYTES;
 * - `sealed`: a sealed stretch, `chunkKey` names an S3 chunk holding many
 *   batches (see logSeal.ts); `chain` is the chain hash at its end;
 * - `tombstone`: a batch folded into the sealed stretch starting at
 *   `sealedInto`. It keeps its key, so no append can ever take it again.
 *
 * Next to each committed batch, `MSGIDS#<first seq>` holds 8-byte digests
 * of its message ids: message lookup by id and dedupe read those, not the
 * messages.
 */

/**
 * A batch whose compressed messages pass this goes to S3 at once. Every
 * batch in an item is written twice (appended, then sealed), at a write unit
 * per KB each time; an S3 PUT costs what about 8 write units do, and its
 * object is folded into a sealed chunk later for a GET. Past ~5 KB, S3 is
 * the cheaper home, and items stay small whatever a batch holds.
 */
const INLINE_BATCH_BYTES = 6 * 1024;
const CHAIN_BYTES = 16;
const DIGEST_BYTES = 8;

/** 128 bits of sha256 are plenty to pin a log's content. */
export function chainHash(previous: string, body: string): string {
  return createHash("sha256").update(previous).update(body).digest().subarray(0, CHAIN_BYTES).toString("base64url");
}

/** A message id as the id index keeps it. */
export const idDigest = (id: string) => createHash("sha256").update(id).digest().subarray(0, DIGEST_BYTES).toString("hex");

export const newToken = () => randomBytes(9).toString("base64url");

const Bytes = z.instanceof(Uint8Array);

/** Messages first (`seq`) to `last`, and the token of the write that took them. */
const Span = { seq: z.int().min(1), last: z.int().min(1) };
const Taken = { ...Span, token: z.string(), receivedAt: z.string() };

/** A log item as stored, of its kind. */
export const LogItem = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("batch"), ...Taken, chains: Bytes, body: Bytes }),
  z.object({ kind: z.literal("batchInS3"), ...Taken, chunkKey: z.string(), chain: z.string() }),
  z.object({ kind: z.literal("sealed"), ...Taken, chunkKey: z.string(), chain: z.string() }),
  z.object({ kind: z.literal("tombstone"), ...Span, sealedInto: z.int().min(1) }),
]);
export type LogItem = z.infer<typeof LogItem>;
/** The kinds that hold messages (all but a tombstone). */
export type MessagesItem = Exclude<LogItem, { kind: "tombstone" }>;

/** An S3 chunk: messages as they were hashed, their chain hashes and receive times. */
export const LogChunk = z.object({
  messages: z.array(z.record(z.string(), z.unknown())),
  chains: z.array(z.string()),
  receivedAt: z.array(z.string()),
});
export type LogChunk = z.infer<typeof LogChunk>;

/** A committed id index item. */
const LogIds = z.object({ seq: z.int().min(1), ids: Bytes, token: z.string() });

/** Messages first..last of one item, decoded. */
export interface LogBatch {
  taskId: string;
  first: number;
  last: number;
  token?: string;
  /** Each message whole, with its receive time. */
  messages: ConversationMessage[];
  chains: string[];
  /** Each message exactly as it was hashed into the chain. */
  bodies: string[];
}

/** The id index item of a batch: its messages' digests, in order, and the token of the write that took it. */
export function idsItem(taskId: string, first: number, token: string, messageIds: string[]): Item {
  return { ...keys.logIds(taskId, first), seq: first, token, ids: Buffer.from(messageIds.map(idDigest).join(""), "hex") };
}

/** A batch of messages ready to store: the item, and the S3 chunk to write before it when it is too large. */
export interface NewBatch {
  item: Item & Key & { kind: "batch" | "batchInS3"; seq: number; last: number; token: string };
  chunk?: { key: string; value: LogChunk };
  ids: Item;
  chain: string;
  receivedAt: string;
}

/** Messages (complete, without receive times) as the batch starting at `first`, after chain `previous`. */
export function newBatch(
  task: { id: string; ownerId: string },
  first: number,
  previous: string,
  messages: ConversationMessage[],
  receivedAt: string,
): NewBatch {
  const bodies = messages.map((m) => JSON.stringify(m));
  const chains: string[] = [];
  let chain = previous;
  for (const body of bodies) chains.push((chain = chainHash(chain, body)));
  const token = newToken();
  const last = first + messages.length - 1;
  const body = compressLog(Buffer.from(`[${bodies.join(",")}]`));
  const base = { ...keys.logBatch(task.id, first), seq: first, last, token, receivedAt };
  const ids = idsItem(task.id, first, token, messages.map((m) => m.id));
  const packedChains = Buffer.concat(chains.map((c) => Buffer.from(c, "base64url")));
  if (body.length <= INLINE_BATCH_BYTES) return { item: { kind: "batch", ...base, chains: packedChains, body }, ids, chain, receivedAt };
  const key = blobKeys.logChunk(task.ownerId, task.id, first, token);
  return {
    item: { kind: "batchInS3", ...base, chunkKey: key, chain },
    chunk: { key, value: { messages: bodies.map((b) => JSON.parse(b) as Record<string, unknown>), chains, receivedAt: messages.map(() => receivedAt) } },
    ids,
    chain,
    receivedAt,
  };
}

function unpackChains(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += CHAIN_BYTES) out.push(Buffer.from(bytes.subarray(i, i + CHAIN_BYTES)).toString("base64url"));
  return out;
}

function toBatch(taskId: string, item: MessagesItem, raw: Record<string, unknown>[], chains: string[], receivedAt: string[]): LogBatch {
  return {
    taskId,
    first: item.seq,
    last: item.last,
    token: item.token,
    messages: raw.map((m, i) => ConversationMessage.parse({ ...m, receivedAt: receivedAt[i] })),
    chains,
    bodies: raw.map((m) => JSON.stringify(m)),
  };
}

/** A batch or sealed stretch, read whole (one S3 GET when its messages are in S3 and not read lately). */
export async function decodeLogItem(db: Db, taskId: string, stored: Item): Promise<LogBatch> {
  const item = LogItem.parse(stored);
  if (item.kind === "tombstone") throw new Error(`log item ${item.seq} of task ${taskId} is folded into ${item.sealedInto}`);
  if (item.kind === "batch") {
    const raw = JSON.parse(inflate(item.body, "br", MAX_OBJECT_JSON_BYTES).toString("utf8")) as Record<string, unknown>[];
    return toBatch(taskId, item, raw, unpackChains(item.chains), raw.map(() => item.receivedAt));
  }
  const chunk = LogChunk.parse(await db.blobs.getImmutableJson(item.chunkKey));
  return toBatch(taskId, item, chunk.messages, chunk.chains, chunk.receivedAt);
}

/** The digests of a committed id index item, each with its sequence number. */
export function digestsOf(stored: Item): Array<{ digest: string; seq: number }> {
  const { seq, ids } = LogIds.parse(stored);
  const hex = Buffer.from(ids).toString("hex");
  const out: Array<{ digest: string; seq: number }> = [];
  const width = DIGEST_BYTES * 2;
  for (let i = 0; i * width < hex.length; i++) out.push({ digest: hex.slice(i * width, (i + 1) * width), seq: seq + i });
  return out;
}
