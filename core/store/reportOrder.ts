import { keys } from "../keys.js";
import { timeOfId } from "../ids.js";
import type { StreamRefusal } from "../notices.js";
import type { Db } from "./db.js";
import { isConditionFailure } from "./table.js";

/** A daemon report that an append applies: the report number advances in the same transaction. */
export interface ReportPosition {
  stream: string;
  seq: number;
}

/** How far ahead of the server's clock a stream's UUIDv7 time may be (daemons' clocks drift). */
export const STREAM_FUTURE_MS = 5 * 60_000;

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Why a stream can never report (`stream_not_uuidv7`, `stream_in_future`),
 * or undefined when it can: streams are ordered by their UUIDv7 time, so one
 * made by a clock far ahead of the server's would hold the task against every
 * later stream.
 */
export function streamRefusal(stream: string, now: Date): { code: StreamRefusal; message: string } | undefined {
  if (!UUIDV7.test(stream)) return { code: "stream_not_uuidv7", message: "a report stream id is a UUIDv7" };
  if (timeOfId(stream).getTime() > now.getTime() + STREAM_FUTURE_MS) {
    return { code: "stream_in_future", message: `the stream's time ${timeOfId(stream).toISOString()} is ahead of the server's ${now.toISOString()}` };
  }
  return undefined;
}

/**
 * Whether a stream's report 1 takes the task over from the stream it has.
 * Stream ids are UUIDv7 (streamRefusal turns away any other) and sort by
 * when the daemon opened them: a newer stream takes over, a late copy of an
 * older one's report 1 never takes the task back.
 */
export function takesOver(current: string | undefined, stream: string): boolean {
  return current === undefined || current < stream;
}

/** Where a report stands against the task's report stream: the one rule every write and answer follows. */
export type ReportPlace = { kind: "next" | "duplicate" | "early" | "superseded"; applied: number };

export function reportPlace(task: { reportStream?: string; reportSeq?: number }, report: ReportPosition): ReportPlace {
  if (task.reportStream !== report.stream) {
    // An older stream is superseded; a newer one starts at report 1.
    if (!takesOver(task.reportStream, report.stream)) return { kind: "superseded", applied: 0 };
    return { kind: report.seq === 1 ? "next" : "early", applied: 0 };
  }
  const applied = task.reportSeq ?? 0;
  if (applied >= report.seq) return { kind: "duplicate", applied };
  return { kind: applied === report.seq - 1 ? "next" : "early", applied };
}

/**
 * The condition that report `seq` of `stream` is next for the task item (its
 * predecessor applied, itself not). For report 1 the caller has judged, with
 * takesOver, that the stream it read (`seen`) gives way: the condition is
 * that the task still has that one.
 */
function reportIsNext(report: ReportPosition, seen: string | undefined): { condition: string; values: Record<string, unknown> } {
  if (report.seq > 1) return { condition: "reportStream = :rs AND reportSeq = :rp", values: { ":rs": report.stream, ":rp": report.seq - 1 } };
  return seen === undefined
    ? { condition: "attribute_not_exists(reportStream)", values: { ":rs": report.stream } }
    : { condition: "reportStream = :seen", values: { ":rs": report.stream, ":seen": seen } };
}

/** Whether report `seq` of `stream` is next for a task as read (the rule reportIsNext checks in the write). */
export function reportIsNextFor(task: { reportStream?: string; reportSeq?: number }, report: ReportPosition): boolean {
  return reportPlace(task, report).kind === "next";
}

/** The condition and writes that apply report `seq` of `stream` to the task item as read (after `seq - 1`, once). */
export function reportGuard(report: ReportPosition, seen: string | undefined): { condition: string; set: string; values: Record<string, unknown> } {
  const next = reportIsNext(report, seen);
  return { ...next, set: "reportStream = :rs, reportSeq = :rn", values: { ...next.values, ":rn": report.seq } };
}

/** A report that cannot be applied now: already applied (a resend), or its predecessor has not been. */
export class ReportOutOfOrder extends Error {
  constructor(readonly report: ReportPosition) {
    super(`report ${report.seq} of stream ${report.stream} is not next`);
    this.name = "ReportOutOfOrder";
  }
}

/**
 * Records report `seq` of `stream` as applied when it changed nothing (a
 * resend whose messages were all stored, a status the task already had);
 * ReportOutOfOrder when it is not next.
 */
export async function advanceReport(db: Db, taskId: string, report: ReportPosition): Promise<void> {
  let seen: string | undefined;
  if (report.seq === 1) {
    const task = await db.table.get(keys.task(taskId), { ProjectionExpression: "reportStream" });
    seen = task?.reportStream as string | undefined;
    if (!takesOver(seen, report.stream)) throw new ReportOutOfOrder(report);
  }
  const guard = reportGuard(report, seen);
  try {
    await db.table.update(keys.task(taskId), {
      UpdateExpression: `SET ${guard.set}`,
      ConditionExpression: `attribute_exists(pk) AND ${guard.condition}`,
      ExpressionAttributeValues: guard.values,
    });
  } catch (error) {
    if (isConditionFailure(error)) throw new ReportOutOfOrder(report);
    throw error;
  }
}
