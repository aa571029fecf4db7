import { BlobStore } from "../blobs.js";
import { CursorCodec } from "../cursor.js";
import { documentClient, dynamoClient, s3Client } from "../aws.js";
import type { Config } from "../config.js";
import { CapacityMeter, Table } from "./table.js";

/** What every store function works with: the table, the blob store, cursors and a clock. */
export interface Db {
  table: Table;
  blobs: BlobStore;
  cursors: CursorCodec;
  /** Injected so that retention can be tested without waiting. */
  clock: () => Date;
  retentionDays: number;
}

export function createDb(config: Config, options: { clock?: () => Date; meter?: CapacityMeter } = {}): Db {
  return {
    table: new Table(documentClient(dynamoClient(config)), config.tableName, options.meter),
    blobs: new BlobStore(s3Client(config), config.bucketName),
    cursors: new CursorCodec(config.cursorSecret),
    clock: options.clock ?? (() => new Date()),
    retentionDays: config.retentionDays,
  };
}

export const nowIso = (db: Db) => db.clock().toISOString();

/**
 * The `updatedAt` a write stamps: strictly after the one it replaces, so it
 * works as an optimistic-lock version even for two writes in one millisecond.
 */
export function nextUpdatedAt(db: Db, previous: string): string {
  const now = db.clock().getTime();
  const prev = Date.parse(previous);
  return new Date(now > prev ? now : prev + 1).toISOString();
}
