import { keys } from "../keys.js";
import type { Db } from "../store/db.js";
import * as table from "../store/table.js";
import type { Key } from "../store/table.js";

/** The job's bookkeeping item: expiry cursor and orphan-sweep position. */
export const cleanupStateKey: Key = keys.cleanupState;

export interface CleanupState {
  /** The oldest expiry day that may still hold entries. */
  oldestDay?: string;
  /** The orphan sweep's prefix and the last key it listed there. */
  sweepPrefix?: string;
  sweepAfter?: string;
}

export async function getCleanupState(db: Db): Promise<CleanupState> {
  const item = await db.table.get(cleanupStateKey);
  return {
    oldestDay: item?.oldestDay as string | undefined,
    sweepPrefix: item?.sweepPrefix as string | undefined,
    sweepAfter: item?.sweepAfter as string | undefined,
  };
}

/** Moves the expiry cursor forward to `cursor`, unless a concurrent run moved it since `state` was read. */
export async function advanceExpiryCursor(db: Db, state: CleanupState, cursor: string): Promise<void> {
  if (!state.oldestDay || cursor > state.oldestDay) {
    // Compare-and-set: a concurrent run may have moved it since we read it.
    try {
      await db.table.update(cleanupStateKey, {
        UpdateExpression: "SET oldestDay = :d",
        ConditionExpression: state.oldestDay ? "attribute_not_exists(oldestDay) OR oldestDay = :seen" : "attribute_not_exists(oldestDay)",
        ExpressionAttributeValues: { ":d": cursor, ...(state.oldestDay ? { ":seen": state.oldestDay } : {}) },
      });
    } catch (error) {
      if (!table.isConditionFailure(error)) throw error;
    }
  }
}

/** Where the next orphan sweep goes on. */
export async function saveSweepPosition(db: Db, position: { prefix: string; after?: string }): Promise<void> {
  await db.table.update(cleanupStateKey, {
    UpdateExpression: position.after ? "SET sweepPrefix = :p, sweepAfter = :a" : "SET sweepPrefix = :p REMOVE sweepAfter",
    ExpressionAttributeValues: { ":p": position.prefix, ...(position.after ? { ":a": position.after } : {}) },
  });
}
