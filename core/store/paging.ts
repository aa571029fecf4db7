import * as z from "zod";
import type { Db } from "./db.js";
import type { IndexName } from "../keys.js";
import { TABLE_KEYS } from "../keys.js";
import type { QueryCommandInput } from "@aws-sdk/lib-dynamodb";
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
  /** The partition is `:p` (`<hash key> = :p`), and a sort key prefix, if any, `begins_with(<range key>, :x)`. */
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

/** The key attributes of a table or index item: the table's, and the index's when the query reads one. */
const keyNames = (index?: IndexName) => {
  const { hashKey, rangeKey } = index ? TABLE_KEYS.globalIndexes[index] : { hashKey: "pk", rangeKey: "sk" };
  return { hashKey, rangeKey };
};

/**
 * What a cursor of this list may hold: the key of an item the query could
 * return (its partition, a sort key under its prefix), every key attribute
 * a string, nothing else.
 */
function startKeyOf(q: Pick<PageQuery<unknown>, "index" | "keyCondition" | "values">) {
  const { hashKey, rangeKey } = keyNames(q.index);
  const prefixName = new RegExp(`begins_with\\(${rangeKey}, (:\\w+)\\)`).exec(q.keyCondition)?.[1];
  const prefix = prefixName === undefined ? "" : String(q.values[prefixName]);
  return z.strictObject({
    pk: z.string(),
    sk: z.string(),
    [hashKey]: z.literal(String(q.values[":p"])),
    [rangeKey]: z.string().startsWith(prefix),
  });
}

/**
 * One page of a Query: reads one item past the page to know whether another
 * page exists, so an exactly-full last page has no cursor.
 */
export async function queryPage<T>(db: Db, q: PageQuery<T>): Promise<Page<T>> {
  let startKey: Item | undefined = db.cursors.decode(q.scope, q.cursor, startKeyOf(q));
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

/** A Query as DynamoDB takes it here: the table name is the Db's, the start key the helper's. */
export type QueryInput = Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey">;

/**
 * Every paged Query goes through here: the pages of a Query, read as the
 * caller pulls (one request each, the start key carried from one to the
 * next), until they run out or `most` items were read (as DynamoDB counts
 * them, before a filter).
 */
export async function* queryPages(db: Db, input: QueryInput, most = Infinity): AsyncGenerator<Item[]> {
  let startKey: Item | undefined;
  let read = 0;
  do {
    const { items, lastKey, scanned } = await db.table.query({ ...input, ...(most < Infinity ? { Limit: Math.min(input.Limit ?? most, most - read) } : {}), ExclusiveStartKey: startKey });
    read += scanned;
    yield items;
    startKey = lastKey;
  } while (startKey && read < most);
}

/** The first item of a (filtered) Query among the first `within` it reads; undefined when none of those matched. */
export async function queryFirst(db: Db, input: Omit<QueryInput, "Limit">, within: number): Promise<Item | undefined> {
  for await (const items of queryPages(db, input, within)) if (items[0]) return items[0];
  return undefined;
}
