import * as z from "zod";

/**
 * What the server tells a daemon outside the answers to its commands: the
 * `welcome` after its `hello`, the acknowledgement of each numbered report,
 * and the answers to `handover` and `uploadRequest`. Part of the daemon wire
 * format (protocol.ts).
 */

/**
 * Sent to a daemon after its `hello`: the origins its presigned transfer URLs
 * use (the bucket's host). A daemon not configured with its own list
 * downloads and uploads only there.
 */
export const Welcome = z.object({
  type: z.literal("welcome"),
  transferOrigins: z.array(z.url().max(2_000)).min(1).max(10),
  /**
   * The server's clock when it answered: a daemon makes a new report stream
   * id (a UUIDv7 carries its time) only from a clock it has checked against
   * this, since a stream more than a few minutes ahead of the server is refused.
   */
  serverTime: z.iso.datetime(),
});
export type Welcome = z.infer<typeof Welcome>;

/** A message of a report that the server did not store, and why. */
export const RefusedMessage = z
  .object({
    index: z.int().min(0).max(99),
    id: z.string().max(200).optional(),
    code: z.string().max(100),
    message: z.string().max(2000),
  })
  .meta({ id: "RefusedMessage" });
export type RefusedMessage = z.infer<typeof RefusedMessage>;

/** The error codes of a stream refused whole: the daemon sends its reports again under a new stream. */
export const STREAM_REFUSALS = ["stream_in_future", "stream_not_uuidv7"] as const;
export type StreamRefusal = (typeof STREAM_REFUSALS)[number];

/**
 * The answer to a numbered report, posted to the connection it came on.
 * `applied` is the highest report of the stream the server has applied
 * (cumulative: every report up to it is stored), and `status` what became
 * of this one: `applied` now, `duplicate` (applied before: a resend),
 * `early` (its predecessor has not arrived: send again from applied + 1),
 * `rejected` (it can never apply, e.g. the task is gone: drop it; `error`
 * says why). `superseded` when the task now takes reports from another
 * stream (another daemon, or this one after losing its outbox).
 * A stream whose UUIDv7 time is more than a few minutes ahead of the
 * server's clock, or that is not a UUIDv7, is `rejected` with the error code
 * `stream_in_future` / `stream_not_uuidv7`: nothing of it was applied, and
 * the daemon starts a new stream (its id made from a clock checked against
 * `welcome.serverTime`) and sends its queued reports again under it.
 */
export const ReportAck = z
  .object({
    type: z.literal("reportAck"),
    taskId: z.uuid(),
    stream: z.uuid(),
    seq: z.int().min(1),
    applied: z.int().min(0),
    status: z.enum(["applied", "duplicate", "early", "rejected", "superseded"]),
    error: z.object({ code: z.string().max(100), message: z.string().max(2000) }).optional(),
    /**
     * With `applied`: the messages of this report that were not stored, each
     * by its place in the report's `messages` and why. Every other message of
     * the report was stored; a refused one can never apply, so it is not resent.
     */
    refused: z.array(RefusedMessage).max(100).optional(),
  })
  .meta({ id: "ReportAck" });
export type ReportAck = z.infer<typeof ReportAck>;

/** The answer to `handover`: the connection may be closed now. */
export const HandedOver = z.object({ type: z.literal("handedOver"), operations: z.int().min(0) }).meta({ id: "HandedOver" });

/** Where to PUT a large message (gzip JSON of the whole message), for `uploadRequest`. */
export const UploadGranted = z
  .object({ type: z.literal("uploadGranted"), requestId: z.uuid(), uploadUrl: z.url() })
  .meta({ id: "UploadGranted" });

export const ServerNotice = z.discriminatedUnion("type", [ReportAck, HandedOver, UploadGranted, Welcome]);
export type ServerNotice = z.infer<typeof ServerNotice>;

