import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { TaskCheckpoint, Task } from "../models.js";
import { blobKeys } from "../blobs.js";
import { newId } from "../ids.js";
import * as conversationLog from "../store/conversationLog.js";
import * as checkpoints from "../store/checkpoints.js";
import * as segments from "../store/segments.js";
import * as tasks from "../store/tasks.js";
import { writerFor } from "../transcripts/formats.js";
import type { ExportContext, ExportFormat } from "../transcripts/writer.js";
import { ownedTask, type ServiceContext } from "./context.js";

/**
 * A task's visible conversation written out in a format, a piece at a time
 * (a long log is never held whole): its messages with their tool calls and
 * results, its checkpoints where the conversation reached them, and its
 * forks. With `redact`, secrets are removed from every message first and
 * counted.
 */

/** How many checkpoints and forks an export lists at most. */
const MAX_LISTED = 2000;

export interface TaskExport {
  task: Task;
  contentType: string;
  fileName: string;
  /** The export's text, in pieces. */
  chunks: AsyncGenerator<string>;
  /** Secrets removed so far (all of them once `chunks` is done). */
  redacted: () => number;
}

async function allPages<T>(read: (cursor?: string) => Promise<{ items: T[]; nextCursor: string | null }>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(cursor);
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && all.length < MAX_LISTED);
  return all;
}

export async function exportTask(ctx: ServiceContext, taskId: string, format: ExportFormat, options: { redact?: boolean } = {}): Promise<TaskExport> {
  const record = await ownedTask(ctx, taskId);
  const task = tasks.toTask(record);
  const [cps, forks] = await Promise.all([
    allPages((cursor) => checkpoints.listCheckpoints(ctx.db, record, 200, cursor)),
    allPages((cursor) => tasks.listForks(ctx.db, record.id, 200, cursor)),
  ]);
  const closed = await segments.closeSegments(ctx.db, record);
  const writer = writerFor(format);
  const exportCtx: ExportContext = { task, checkpoints: cps, forks: forks.map(tasks.toTask), exportedAt: ctx.db.clock().toISOString() };
  // The secret rules are loaded only for an export that asks for them (they weigh on every cold start otherwise).
  const redact = options.redact ? (await import("../transcripts/redact.js")).redactMessage : undefined;
  let redacted = 0;
  async function* chunks(): AsyncGenerator<string> {
    yield writer.start(exportCtx);
    // Checkpoints in order of the message count they were taken at; one without a count comes at the end.
    const pending: TaskCheckpoint[] = [...cps].sort((a, b) => (a.messageCount ?? Infinity) - (b.messageCount ?? Infinity));
    let index = 0;
    for await (const { message } of conversationLog.logEntries(ctx.db, closed)) {
      while (pending.length && (pending[0]!.messageCount ?? Infinity) <= index) yield writer.checkpoint(pending.shift()!, exportCtx);
      let m = message;
      if (redact) {
        const r = await redact(m);
        redacted += r.count;
        m = r.message;
      }
      yield writer.message(m, index++, exportCtx);
    }
    for (const c of pending) yield writer.checkpoint(c, exportCtx);
    yield writer.end(exportCtx);
  }
  const safeName = task.name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "task";
  return { task, contentType: writer.contentType, fileName: `${safeName}-${task.id.slice(-8)}.${writer.extension}`, chunks: chunks(), redacted: () => redacted };
}

/** How long a link to a stored export works. */
const LINK_SECONDS = 3600;

/**
 * The export written whole to S3 (among the temporary transfers, which the
 * cleanup job removes after a day) and a presigned link to download it: for
 * a log too large to answer in one response.
 */
export async function exportLink(ctx: ServiceContext, taskId: string, format: ExportFormat, options: { redact?: boolean } = {}) {
  const out = await exportTask(ctx, taskId, format, options);
  const parts: string[] = [];
  for await (const chunk of out.chunks) parts.push(chunk);
  const body = Buffer.from(parts.join(""));
  const key = `${blobKeys.transferPrefix}${out.task.ownerId}/export-${newId()}-${out.fileName}`;
  const blobs = ctx.db.blobs;
  await blobs.s3.send(new PutObjectCommand({ Bucket: blobs.bucket, Key: key, Body: body, ContentType: out.contentType, ContentDisposition: `attachment; filename="${out.fileName}"` }));
  const expiresAt = new Date(ctx.db.clock().getTime() + LINK_SECONDS * 1000).toISOString();
  return {
    url: await blobs.presignGet(key, LINK_SECONDS),
    expiresAt,
    fileName: out.fileName,
    contentType: out.contentType,
    bytes: body.length,
    ...(options.redact ? { redacted: out.redacted() } : {}),
  };
}
