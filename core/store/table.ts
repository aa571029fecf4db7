import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type GetCommandInput,
  type PutCommandInput,
  type QueryCommandInput,
  type TransactWriteCommandInput,
  type UpdateCommandInput,
  type DeleteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { ConsumedCapacity } from "@aws-sdk/client-dynamodb";
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";

export type Item = Record<string, unknown>;
export type Key = { pk: string; sk: string };

interface Conditional {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}
/** One write of a transaction; the table name is filled in. */
export type TransactItem =
  | { Put: Conditional & { Item: Item } }
  | { Update: Conditional & { Key: Key; UpdateExpression: string } }
  | { Delete: Conditional & { Key: Key } }
  | { ConditionCheck: Conditional & { Key: Key; ConditionExpression: string } };

/** Adds up the capacity units every call reports (table and indexes), so benches can print them. */
export class CapacityMeter {
  read = 0;
  write = 0;
  add(kind: "read" | "write", consumed: ConsumedCapacity | ConsumedCapacity[] | undefined): void {
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) this[kind] += c.CapacityUnits ?? 0;
  }
  reset(): void {
    this.read = 0;
    this.write = 0;
  }
}

export const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === "ConditionalCheckFailedException");

/**
 * Whether DynamoDB TTL may delete this item any moment now: past its
 * `expiresAt` (epoch seconds), it is treated as gone by readers.
 */
export function isExpired(db: { clock: () => Date }, item: Item): boolean {
  return typeof item.expiresAt === "number" && item.expiresAt * 1000 <= db.clock().getTime();
}

/** For a cancelled transaction: which items' conditions failed (by position). */
export function cancellationReasons(error: unknown): string[] | undefined {
  if (error instanceof TransactionCanceledException || (error instanceof Error && error.name === "TransactionCanceledException")) {
    const reasons = (error as TransactionCanceledException).CancellationReasons ?? [];
    return reasons.map((r) => r.Code ?? "None");
  }
  return undefined;
}

/** A transaction's writes by name (a name may hold several, or none): a refusal is then read by name. */
export type NamedWrites = Record<string, TransactItem | TransactItem[] | undefined>;

/** The writes of a named transaction, in the order they were named. */
export const writesOf = (named: NamedWrites): TransactItem[] => Object.values(named).flatMap((w) => (w === undefined ? [] : Array.isArray(w) ? w : [w]));

/**
 * For a cancelled transaction of named writes: why each name's write was
 * refused (the first reason among its writes, "None" when none was), or
 * undefined when the error is not a cancellation.
 */
export function cancellationReasonsByName<N extends NamedWrites>(error: unknown, named: N): Record<keyof N, string> | undefined {
  const reasons = cancellationReasons(error);
  if (!reasons) return undefined;
  let at = 0;
  const out = {} as Record<keyof N, string>;
  for (const [name, w] of Object.entries(named) as Array<[keyof N, N[keyof N]]>) {
    const count = w === undefined ? 0 : Array.isArray(w) ? w.length : 1;
    out[name] = reasons.slice(at, at + count).find((r) => r !== "None") ?? "None";
    at += count;
  }
  return out;
}

/** The one table, with capacity accounting on every call. */
export class Table {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly name: string,
    readonly meter: CapacityMeter = new CapacityMeter(),
  ) {}

  private track(kind: "read" | "write", consumed: ConsumedCapacity | ConsumedCapacity[] | undefined) {
    this.meter.add(kind, consumed);
  }

  async get(key: Key, options: Partial<GetCommandInput> = {}): Promise<Item | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.name, Key: key, ConsistentRead: true, ReturnConsumedCapacity: "TOTAL", ...options }),
    );
    this.track("read", out.ConsumedCapacity);
    return out.Item;
  }

  async put(item: Item, options: Partial<PutCommandInput> = {}): Promise<void> {
    const out = await this.doc.send(
      new PutCommand({ TableName: this.name, Item: item, ReturnConsumedCapacity: "TOTAL", ...options }),
    );
    this.track("write", out.ConsumedCapacity);
  }

  /** Put only if no item has this key yet; false when one does. */
  async putNew(item: Item & Key, options: Partial<PutCommandInput> = {}): Promise<boolean> {
    try {
      await this.put(item, { ConditionExpression: "attribute_not_exists(pk)", ...options });
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async update(key: Key, input: Omit<UpdateCommandInput, "TableName" | "Key">): Promise<Item | undefined> {
    const out = await this.doc.send(
      new UpdateCommand({ TableName: this.name, Key: key, ReturnConsumedCapacity: "TOTAL", ...input }),
    );
    this.track("write", out.ConsumedCapacity);
    return out.Attributes;
  }

  async delete(key: Key, options: Partial<DeleteCommandInput> = {}): Promise<Item | undefined> {
    const out = await this.doc.send(
      new DeleteCommand({ TableName: this.name, Key: key, ReturnConsumedCapacity: "TOTAL", ...options }),
    );
    this.track("write", out.ConsumedCapacity);
    return out.Attributes;
  }

  async query(input: Omit<QueryCommandInput, "TableName">): Promise<{ items: Item[]; lastKey?: Item; scanned: number }> {
    const out = await this.doc.send(new QueryCommand({ TableName: this.name, ReturnConsumedCapacity: "TOTAL", ...input }));
    this.track("read", out.ConsumedCapacity);
    return { items: out.Items ?? [], lastKey: out.LastEvaluatedKey, scanned: out.ScannedCount ?? 0 };
  }

  async transact(items: TransactItem[]): Promise<void> {
    const withTable = items.map((entry) => {
      const [kind, body] = Object.entries(entry)[0] as [string, Record<string, unknown>];
      return { [kind]: { TableName: this.name, ...body } };
    });
    const out = await this.doc.send(
      new TransactWriteCommand({ TransactItems: withTable as TransactWriteCommandInput["TransactItems"], ReturnConsumedCapacity: "TOTAL" }),
    );
    this.track("write", out.ConsumedCapacity);
  }

  /** Strongly consistent batch read, in chunks of 100, unprocessed keys retried. */
  async batchGet(keyList: Key[]): Promise<Item[]> {
    const found: Item[] = [];
    for (let i = 0; i < keyList.length; i += 100) {
      let pending: Key[] = keyList.slice(i, i + 100);
      for (let attempt = 0; pending.length > 0; attempt++) {
        const out = await this.doc.send(
          new BatchGetCommand({
            RequestItems: { [this.name]: { Keys: pending, ConsistentRead: true } },
            ReturnConsumedCapacity: "TOTAL",
          }),
        );
        this.track("read", out.ConsumedCapacity);
        found.push(...(out.Responses?.[this.name] ?? []));
        pending = (out.UnprocessedKeys?.[this.name]?.Keys as Key[] | undefined) ?? [];
        if (pending.length) await backoff(attempt);
      }
    }
    return found;
  }

  /** Unconditional puts and deletes in chunks of 25, unprocessed items retried. */
  async batchWrite(writes: Array<{ put: Item } | { delete: Key }>): Promise<void> {
    for (let i = 0; i < writes.length; i += 25) {
      let pending = writes.slice(i, i + 25).map((w) =>
        "put" in w ? { PutRequest: { Item: w.put } } : { DeleteRequest: { Key: w.delete } },
      );
      for (let attempt = 0; pending.length > 0; attempt++) {
        const out = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.name]: pending }, ReturnConsumedCapacity: "TOTAL" }),
        );
        this.track("write", out.ConsumedCapacity);
        pending = (out.UnprocessedItems?.[this.name] as typeof pending | undefined) ?? [];
        if (pending.length) await backoff(attempt);
      }
    }
  }
}

export function backoff(attempt: number, baseMs = 5, capMs = 200): Promise<void> {
  const ms = Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
