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
  names?: Record<string, string>;
  values: Record<string, unknown>;
  filter?: string;
  /** Oldest first when true; the API's lists are newest first unless stated. */
  forward?: boolean;
  parse: (item: Item) => T;
}

/** How many items one filtered page may read before it answers short, with a cursor. */
const MAX_EVALUATED = 1000;

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
 * page exists (so an exactly-full last page has no cursor), and with a filter
 * keeps reading until the page is full or MAX_EVALUATED items were looked at.
 */
export async function queryPage<T>(db: Db, q: PageQuery<T>): Promise<Page<T>> {
  let startKey = db.cursors.decode<Item>(q.scope, q.cursor);
  const matched: Item[] = [];
  let evaluated = 0;
  let exhausted = false;
  while (matched.length <= q.limit && evaluated < MAX_EVALUATED) {
    const { items, lastKey, scanned } = await db.table.query({
      IndexName: q.index,
      KeyConditionExpression: q.keyCondition,
      ExpressionAttributeNames: q.names,
      ExpressionAttributeValues: q.values,
      FilterExpression: q.filter,
      ScanIndexForward: q.forward ?? false,
      ExclusiveStartKey: startKey,
      Limit: q.filter ? Math.min(200, MAX_EVALUATED - evaluated) : q.limit + 1 - matched.length,
    });
    matched.push(...items);
    evaluated += scanned;
    startKey = lastKey;
    if (!lastKey) {
      exhausted = true;
      break;
    }
  }
  if (matched.length > q.limit) {
    const page = matched.slice(0, q.limit);
    return { items: page.map(q.parse), nextCursor: db.cursors.encode(q.scope, cursorKey(page.at(-1)!, q.index)) };
  }
  return {
    items: matched.map(q.parse),
    nextCursor: exhausted || !startKey ? null : db.cursors.encode(q.scope, startKey),
  };
}
