import { createHash } from "node:crypto";
import { pad } from "./keys.js";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  CreateBucketCommand,
  HeadBucketCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from "node:zlib";

/** What any object read here may decompress to: far above what the service writes, bounded all the same. */
export const MAX_OBJECT_JSON_BYTES = 256 * 1024 * 1024;

/** Decompressed bytes past a bound. */
export class TooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`more than ${maxBytes} bytes once decompressed`);
  }
}

/** Decompresses to at most `maxBytes`: a small object never expands without bound. */
export function inflate(bytes: Buffer | Uint8Array, encoding: "br" | "gzip" | "identity", maxBytes: number): Buffer {
  if (encoding === "identity") {
    if (bytes.length > maxBytes) throw new TooLarge(maxBytes);
    return Buffer.from(bytes);
  }
  try {
    return encoding === "br" ? brotliDecompressSync(bytes, { maxOutputLength: maxBytes }) : gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new TooLarge(maxBytes);
    throw error;
  }
}

/**
 * The one place that names, compresses, writes, reads and deletes S3 objects.
 * Every object is JSON, compressed as its name says: `.json.br` in the log's
 * codec (compressLog: what the log keeps, for good), `.json.gz` gzip. Callers write here first, then the
 * item that points at the key, so no item ever names a missing object.
 */
export const blobKeys = {
  /** A supervisor's compacted state, kept by a snapshot. */
  snapshotState: (ownerId: string, taskId: string, snapshotId: string) =>
    `snapshots/${ownerId}/${taskId}/${snapshotId}.json.gz`,
  snapshotPrefix: "snapshots/",
  /**
   * A stretch of a task's log kept in S3 (a batch too large for an item, or a
   * sealed stretch), named by its first sequence number and a token of the
   * write that made it; the log item at that sequence names it (kept forever,
   * in the log's codec: compressLog).
   */
  logChunk: (ownerId: string, taskId: string, firstSeq: number, token: string) =>
    `logs/${ownerId}/${taskId}/${pad(firstSeq)}-${token}.json.br`,
  logChunkPrefix: "logs/",
  /** Payloads travelling between the service and a daemon (diffs, conversations to start with). */
  transfer: (ownerId: string, transferId: string) => `transfers/${ownerId}/${transferId}.json.gz`,
  /** A daemon's upload of a message too large for a WebSocket message. */
  messageUpload: (ownerId: string, taskId: string, messageId: string) =>
    `transfers/${ownerId}/message-${taskId}-${createHash("sha256").update(messageId).digest("hex").slice(0, 32)}.json.gz`,
  transferPrefix: "transfers/",
};

/** The endings of object names, each with its compression. */
const GZIP = ".json.gz";
const BROTLI = ".json.br";

/** `<prefix><owner…>/<taskId>/<name>.json.gz` (or `.json.br`); the owner id may itself hold slashes, so parse from the right. */
export function parseTaskObjectKey(key: string, prefix: string): { taskId: string; name: string } | undefined {
  const parts = key.slice(prefix.length).split("/");
  if (parts.length < 3) return undefined;
  const file = parts.at(-1)!;
  const taskId = parts.at(-2)!;
  const ending = [GZIP, BROTLI].find((e) => file.endsWith(e));
  if (!ending || !taskId) return undefined;
  const name = file.slice(0, -ending.length);
  return name ? { taskId, name } : undefined;
}

/**
 * The one codec of everything a task's log keeps, in items and in S3 alike:
 * brotli, quality 5 (fast enough for every append, even of megabytes that
 * do not compress), text mode; it keeps text far smaller than gzip. Read
 * back with inflate(bytes, "br", max).
 */
export function compressLog(json: Buffer): Buffer {
  return brotliCompressSync(json, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT, [constants.BROTLI_PARAM_SIZE_HINT]: json.length },
  });
}

/** S3's "no such object" (404, NoSuchKey, NotFound). */
export function isMissing(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === 404 || (error as Error).name === "NotFound" || (error as Error).name === "NoSuchKey";
}

export interface BlobInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** Immutable objects kept in memory by getImmutableJson (log chunks: up to ~1 MB each). */
const KEPT_OBJECTS = 16;

export class BlobStore {
  /** Counts requests and bytes written, for the storage bench. */
  readonly stats = { puts: 0, gets: 0, deletes: 0, lists: 0, bytesWritten: 0, bytesRead: 0 };
  private readonly kept = new Map<string, unknown>();

  constructor(
    readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async ensureBucket(): Promise<void> {
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch {
      await this.s3.send(new CreateBucketCommand({ Bucket: this.bucket }));
    }
  }

  async putJson(key: string, value: unknown): Promise<number> {
    const json = Buffer.from(JSON.stringify(value));
    const brotli = key.endsWith(BROTLI);
    const body = brotli ? compressLog(json) : gzipSync(json);
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/json", ContentEncoding: brotli ? "br" : "gzip" }),
    );
    this.stats.puts++;
    this.stats.bytesWritten += body.length;
    return body.length;
  }

  /**
   * The object's JSON, decompressed to at most `maxBytes` (a larger one
   * throws TooLarge, however small it is compressed).
   */
  async getJson<T = unknown>(key: string, maxBytes = MAX_OBJECT_JSON_BYTES): Promise<T> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const bytes = Buffer.from(await out.Body!.transformToByteArray());
    this.stats.gets++;
    this.stats.bytesRead += bytes.length;
    // Objects are stored as their names say; a daemon's upload through a presigned URL may be plain JSON.
    const encoding = key.endsWith(BROTLI) ? "br" : bytes[0] === 0x1f && bytes[1] === 0x8b ? "gzip" : "identity";
    return JSON.parse(inflate(bytes, encoding, maxBytes).toString("utf8")) as T;
  }

  /**
   * An object whose key is never written twice (its name carries the token
   * of the write that made it): the last ones read are kept in memory, so
   * paging through one reads it from S3 once.
   */
  async getImmutableJson(key: string): Promise<unknown> {
    if (this.kept.has(key)) {
      const value = this.kept.get(key);
      this.kept.delete(key);
      this.kept.set(key, value);
      return value;
    }
    const value = await this.getJson(key);
    this.kept.set(key, value);
    if (this.kept.size > KEPT_OBJECTS) this.kept.delete(this.kept.keys().next().value!);
    return value;
  }

  /** The object, or undefined when there is none (removed by the cleanup job or the lifecycle rule). */
  async getJsonIfExists<T = unknown>(key: string): Promise<T | undefined> {
    try {
      return await this.getJson<T>(key);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.sizeOf(key)) !== undefined;
  }

  /** The object's size in bytes, or undefined when there is none. */
  async sizeOf(key: string): Promise<number | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Deletes in batches of up to 1,000 keys a call; returns how many were asked to go. */
  async deleteMany(keys: string[]): Promise<number> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      await this.s3.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }),
      );
      this.stats.deletes++;
    }
    return keys.length;
  }

  /**
   * One page of objects under a prefix after `after`, in key order. ListObjects
   * (v1, marker = last key) rather than v2: the position is a plain key that
   * a caller can keep between runs, and s3rver's v2 continuation tokens fail
   * under OpenSSL 3.
   */
  async list(prefix: string, after?: string, maxKeys = 1000): Promise<{ objects: BlobInfo[]; next?: string }> {
    const out = await this.s3.send(new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: after, MaxKeys: maxKeys }));
    this.stats.lists++;
    const objects = (out.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }));
    return { objects, next: out.IsTruncated ? objects.at(-1)?.key : undefined };
  }

  // The presigner is imported on first use: only transfers to and from a daemon need it.
  async presignPut(key: string, expiresInSeconds = 900): Promise<string> {
    const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
    return getSignedUrl(this.s3, new PutObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresInSeconds });
  }

  async presignGet(key: string, expiresInSeconds = 900): Promise<string> {
    const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
    return getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiresInSeconds });
  }
}
