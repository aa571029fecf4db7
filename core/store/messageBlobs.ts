import { keys } from "../keys.js";
import { blobKeys, parseTaskObjectKey } from "../blobs.js";
import { type Db } from "./db.js";
import { type Item } from "./table.js";

/**
 * Whether a conversation message's S3 object is still referenced.
 *
 * `messages/<owner>/<taskId>/<encodeURIComponent(messageId)>.json.gz` is
 * referenced when the task has that message id. The log is never to lose a
 * message, so without the id item (a crash between the two writes of an
 * append) the task's log is searched for an entry naming the object.
 */
export async function unreferencedMessageBlobs(db: Db, objectKeys: string[]): Promise<string[]> {
  const parsed = objectKeys.flatMap((key) => {
    const parts = parseTaskObjectKey(key, blobKeys.messagePrefix);
    if (!parts) return [];
    let messageId: string;
    try {
      messageId = decodeURIComponent(parts.name);
    } catch {
      return [];
    }
    return [{ key, taskId: parts.taskId, item: keys.messageById(parts.taskId, messageId) }];
  });
  const found = new Set((await db.table.batchGet(parsed.map((p) => p.item))).map((i) => `${i.pk}\n${i.sk}`));
  const orphans: string[] = [];
  for (const p of parsed) {
    if (found.has(`${p.item.pk}\n${p.item.sk}`)) continue;
    if (!(await logNames(db, p.taskId, p.key))) orphans.push(p.key);
  }
  return orphans;
}

/** Whether any entry of the task's conversation log names the object. */
async function logNames(db: Db, taskId: string, blobKey: string): Promise<boolean> {
  let startKey: Item | undefined;
  do {
    const { items, lastKey } = await db.table.query({
      KeyConditionExpression: "pk = :p AND begins_with(sk, :m)",
      FilterExpression: "blobKey = :k",
      ExpressionAttributeValues: { ":p": keys.taskPartition(taskId), ":m": keys.messagePrefix, ":k": blobKey },
      ProjectionExpression: "pk",
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    });
    if (items.length) return true;
    startKey = lastKey;
  } while (startKey);
  return false;
}
