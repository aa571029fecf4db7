/**
 * Snapshot retention: every hour EventBridge Scheduler invokes
 * functions/cleanup.ts, which deletes snapshots past the retention period
 * (found through gsi3 by expiry day, in bounded batches, resumable) and
 * orphaned S3 objects. DynamoDB TTL and the bucket lifecycle rule in
 * storage.ts are backstops only.
 */
import type { Storage } from "./storage";

export function createCleanup(storage: Storage) {
  const cron = new sst.aws.CronV2("Cleanup", {
    schedule: "rate(1 hour)",
    function: {
      handler: "functions/cleanup.handler",
      link: [storage.table, storage.bucket, storage.cursorSecret],
      environment: { ...storage.environment },
      timeout: "5 minutes",
    },
    // EventBridge Scheduler sends this as the event (CronV2 sends `{}` by
    // default); shaped like an EventBridge "Scheduled Event", with the
    // scheduled time filled in by Scheduler.
    event: {
      source: "makima.cleanup",
      "detail-type": "Scheduled Event",
      time: "<aws.scheduler.scheduled-time>",
      detail: {},
    },
  });

  return { cron };
}
