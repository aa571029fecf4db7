import { keys } from "../keys.js";
import type { Db } from "./db.js";
import { isConditionFailure } from "./table.js";

/** A daemon report that an append applies: the report number advances in the same transaction. */
export interface ReportPosition {
  stream: string;
  seq: number;
}

/**
 * The condition that report `seq` of `stream` is next for the task item (its
 * predecessor applied, itself not). Stream ids are UUIDv7, so they sort by
 * when the daemon opened them: report 1 of a newer stream takes over, a late
 * copy of report 1 of an older one does not.
 */
export function reportIsNext(report: ReportPosition): { condition: string; values: Record<string, unknown> } {
  return report.seq === 1
    ? { condition: "(attribute_not_exists(reportStream) OR reportStream < :rs)", values: { ":rs": report.stream } }
    : { condition: "reportStream = :rs AND reportSeq = :rp", values: { ":rs": report.stream, ":rp": report.seq - 1 } };
}

/** Whether report `seq` of `stream` is next for a task as read (the same rule as reportIsNext). */
export function reportIsNextFor(task: { reportStream?: string; reportSeq?: number }, report: ReportPosition): boolean {
  if (report.seq === 1) return task.reportStream === undefined || task.reportStream < report.stream;
  return task.reportStream === report.stream && (task.reportSeq ?? 0) === report.seq - 1;
}

/** The condition and writes that apply report `seq` of `stream` to the task item (after `seq - 1`, once). */
export function reportGuard(report: ReportPosition): { condition: string; set: string; values: Record<string, unknown> } {
  const next = reportIsNext(report);
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
  const guard = reportGuard(report);
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
