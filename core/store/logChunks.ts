import { keys } from "../keys.js";
import { blobKeys, parseTaskObjectKey } from "../blobs.js";
import { type Db } from "./db.js";

/**
 * Whether a log chunk in S3 (`logs/<owner>/<taskId>/<first seq>-<token>.json.br`)
 * is still referenced: the log item at its first sequence number names it.
 * One batched read by key, however long the log. A chunk no item names was
 * left by a write that lost (a sealer that lost the race, an append that
 * could not take its sequence number) or folded into a sealed stretch.
 */
export async function unreferencedLogChunks(db: Db, objectKeys: string[]): Promise<string[]> {
  const parsed = objectKeys.flatMap((key) => {
    const parts = parseTaskObjectKey(key, blobKeys.logChunkPrefix);
    const first = parts ? Number(parts.name.split("-")[0]) : NaN;
    return parts && Number.isSafeInteger(first) && first >= 1 ? [{ key, item: keys.logBatch(parts.taskId, first) }] : [];
  });
  // Several chunks may name the same item (a chunk that lost, and the one that won): one read each.
  const items = [...new Map(parsed.map((p) => [p.item.sk + p.item.pk, p.item])).values()];
  const found = await db.table.batchGet(items);
  const named = new Set(found.map((item) => item.chunkKey));
  return parsed.filter((p) => !named.has(p.key)).map((p) => p.key);
}
