import { keys } from "../keys.js";
import type { Db } from "./db.js";
import { isConditionFailure } from "./table.js";

/** A daemon report that an append applies: the report number advances in the same transaction. */
export interface ReportPosition {
  stream: string;
  seq: number;
}

const isV7 = (id: string) => id[14] === "7";

/**
 * Whether a stream's report 1 takes the task over from the stream it has.
 * Stream ids are UUIDv7 and sort by when the daemon opened them: a newer
 * stream takes over, a late copy of an older one's report 1 does not. A
 * stream id from a daemon that used random ids (or none yet) is replaced by
 * any other.
 */
export function takesOver(current: string | undefined, stream: string): boolean {
  if (current === undefined) return true;
  if (current === stream) return false;
  return !isV7(current) || !isV7(stream) || current < stream;
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
  if (report.seq === 1) return takesOver(task.reportStream, report.stream);
  return task.reportStream === report.stream && (task.reportSeq ?? 0) === report.seq - 1;
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
