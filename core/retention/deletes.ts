import { keys } from "../keys.js";
import * as snapshots from "../store/snapshots.js";
import * as table from "../store/table.js";
import * as conflicts from "../store/conflicts.js";
import type { CleanupJob } from "./job.js";
import type { Entry } from "./expiryIndex.js";

/**
 * The writes of the expiry walk. Per snapshot, the item is deleted first,
 * with a condition that it is still where the index showed it (so a
 * concurrent pin, reindex or second run makes the delete fail and nothing is
 * counted twice); a checkpoint's reference is cleared in the same
 * transaction, so a crash never leaves a checkpoint naming a missing
 * snapshot. The S3 objects of deleted items go afterwards, in DeleteObjects
 * batches: a crash in between leaves an orphan object, never an item naming
 * a missing object, and the orphan sweep removes it.
 */
/** Another run's transaction on the same items is retried (a few times): its outcome decides ours. */
const RETRY_CONFLICTS = { attempts: 9, baseMs: 20, capMs: 1000 };

/** The condition that a snapshot is still on the index day the walk found it on. */
function stillIndexed(e: Entry) {
  return { ConditionExpression: "gsi3pk = :g AND gsi3sk = :gs", ExpressionAttributeValues: { ":g": e.index.pk, ":gs": e.index.sk } };
}

export class SnapshotDeletes {
  private pendingBlobs: string[] = [];

  constructor(private readonly job: CleanupJob) {}

  /**
   * Deletes a due snapshot's item, only if it is still on that index day, and
   * clears its checkpoint's reference in the same transaction. True when the
   * entry is gone from the day (deleted here or by someone else).
   */
  async remove(e: Entry, checkpointNumber: number | undefined): Promise<boolean> {
    const counts = this.job.counts;
    if (checkpointNumber !== undefined) {
      const outcome = await this.removeWithReference(e, checkpointNumber);
      if (outcome === "gone") {
        counts.alreadyGone++;
        return true;
      }
      if (outcome === "cleared") {
        this.deleted(e);
        counts.cleared++;
        return true;
      }
    }
    const deleted = await conflicts.retryOnConflict(
      async () => {
        try {
          await this.job.db.table.delete(keys.snapshot(e.taskId, e.snapshotId), stillIndexed(e));
          return true;
        } catch (error) {
          if (table.isConditionFailure(error)) return false;
          throw error;
        }
      },
      // A concurrent run's transaction holds the item: retry, the condition then decides.
      (error) => (error as Error).name === "TransactionConflictException",
      RETRY_CONFLICTS,
    );
    if (deleted) this.deleted(e);
    else counts.alreadyGone++;
    return true;
  }

  /**
   * Deletes the snapshot and clears its checkpoint's reference in one
   * transaction: `cleared`, `gone` (someone else deleted it), or
   * `unreferenced` (the checkpoint does not name it: the caller deletes it alone).
   */
  private async removeWithReference(e: Entry, checkpointNumber: number): Promise<"cleared" | "gone" | "unreferenced"> {
    return conflicts
      .retryOnConflict(
        async () => {
          try {
            await this.job.db.table.transact([
              { Delete: { Key: keys.snapshot(e.taskId, e.snapshotId), ...stillIndexed(e) } },
              {
                Update: {
                  Key: keys.checkpoint(e.taskId, checkpointNumber),
                  UpdateExpression: "REMOVE conversationSnapshotId",
                  ConditionExpression: "conversationSnapshotId = :s",
                  ExpressionAttributeValues: { ":s": e.snapshotId },
                },
              },
            ]);
            return "cleared" as const;
          } catch (error) {
            const reasons = table.cancellationReasons(error);
            if (reasons?.[0] === "ConditionalCheckFailed") return "gone" as const;
            // The checkpoint no longer names this snapshot: nothing to clear.
            if (reasons?.[1] === "ConditionalCheckFailed" && !reasons.includes("TransactionConflict")) return "unreferenced" as const;
            throw error;
          }
        },
        (error) => table.cancellationReasons(error)?.includes("TransactionConflict") === true,
        RETRY_CONFLICTS,
      )
      .catch((error: unknown) => {
        // Out of retries on a conflict with the reference gone too: delete the snapshot alone.
        if (table.cancellationReasons(error)?.[1] === "ConditionalCheckFailed") return "unreferenced" as const;
        throw error;
      });
  }

  private deleted(e: Entry) {
    this.job.counts.deleted++;
    this.job.counts.deletedByType[e.snapshotType]++;
    // The item is gone, so its object may go: nothing can name it any more.
    if (e.stateBlobKey) this.pendingBlobs.push(e.stateBlobKey);
  }

  /** Moves a snapshot whose owner lengthened retention to its new expiry day (and TTL). */
  async reindex(e: Entry, newDay: string): Promise<boolean> {
    const attrs = snapshots.expiryAttributes({ id: e.snapshotId, taskId: e.taskId }, newDay);
    try {
      await this.job.db.table.update(keys.snapshot(e.taskId, e.snapshotId), {
        UpdateExpression: "SET expiresOn = :e, gsi3pk = :g, gsi3sk = :s, expiresAt = :x",
        ConditionExpression: "gsi3pk = :old AND gsi3sk = :oldSort",
        ExpressionAttributeValues: {
          ":e": newDay,
          ":g": attrs.gsi3pk,
          ":s": attrs.gsi3sk,
          ":x": attrs.expiresAt,
          ":old": e.index.pk,
          ":oldSort": e.index.sk,
        },
      });
      this.job.counts.reindexed++;
    } catch (error) {
      if (!table.isConditionFailure(error)) throw error;
      this.job.counts.alreadyGone++;
    }
    return true;
  }

  /** S3 deletes go in DeleteObjects calls of up to 1,000 keys; `all` sends a partial batch too. */
  async flushBlobs(all: boolean): Promise<void> {
    while (this.pendingBlobs.length >= 1000 || (all && this.pendingBlobs.length > 0)) {
      const batch = this.pendingBlobs.splice(0, 1000);
      try {
        await this.job.db.blobs.deleteMany(batch);
        this.job.counts.stateObjectsDeleted += batch.length;
      } catch (error) {
        // The items are gone already: these objects are orphans now, and the sweep removes them.
        this.job.fail(error);
      }
    }
  }
}
