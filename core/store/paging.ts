import type { Db } from "./db.js";
import type { IndexName } from "../keys.js";
import { TABLE_KEYS } from "../keys.js";
import type { Item } from "./table.js";

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageQuery<T> {
  /** Names the list; a cursor is only accepted by the list with the same scope. */
  scope: string;
  cursor?: string;
  limit: number;
  index?: IndexName;
  keyCondition: string;
  values: Record<string, unknown>;
  /** Oldest first when true; the API's lists are newest first unless stated. */
  forward?: boolean;
  parse: (item: Item) => T;
}

function cursorKey(item: Item, index?: IndexName): Item {
  const key: Item = { pk: item.pk, sk: item.sk };
  if (index) {
    const { hashKey, rangeKey } = TABLE_KEYS.globalIndexes[index];
    key[hashKey] = item[hashKey];
    key[rangeKey] = item[rangeKey];
  }
  return key;
}

/**
 * One page of a Query: reads one item past the page to know whether another
 * page exists, so an exactly-full last page has no cursor.
 */
export async function queryPage<T>(db: Db, q: PageQuery<T>): Promise<Page<T>> {
  let startKey = db.cursors.decode<Item>(q.scope, q.cursor);
  const matched: Item[] = [];
  while (matched.length <= q.limit) {
    const { items, lastKey } = await db.table.query({
      IndexName: q.index,
      KeyConditionExpression: q.keyCondition,
      ExpressionAttributeValues: q.values,
      ScanIndexForward: q.forward ?? false,
      ExclusiveStartKey: startKey,
      Limit: q.limit + 1 - matched.length,
    });
    matched.push(...items);
    startKey = lastKey;
    if (!lastKey) break;
  }
  const page = matched.slice(0, q.limit);
  const more = matched.length > q.limit;
  return { items: page.map(q.parse), nextCursor: more ? db.cursors.encode(q.scope, cursorKey(page.at(-1)!, q.index)) : null };
}
