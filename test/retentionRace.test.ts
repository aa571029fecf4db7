import { describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import { injectFaults } from "./support/faults.js";
import * as store from "../core/store/index.js";
import { keys } from "../core/keys.js";
import { createDb, type Db } from "../core/store/db.js";
import { runCleanup } from "../core/retention/index.js";

const DAY = 86_400_000;

describe("retention racing a checkpoint", () => {
  it("never leaves a checkpoint naming a snapshot a cleanup deleted between its hint and its transaction", async () => {
    const db = await createTestDb();
    // A cleanup whose clock is past the snapshot's retention: the hint looks due and unreferenced.
    const ahead = createDb((db as Db & { config: Parameters<typeof createDb>[0] }).config, { clock: () => new Date(Date.now() + 3 * DAY) });
    const faults = injectFaults(db.table.doc);
    const cleanups: Array<Awaited<ReturnType<typeof runCleanup>>> = [];
    try {
      await store.setRetention(db, "owner-race", 1);
      const task = await store.createTask(db, "owner-race", { name: "t", plan: "p" });
      await store.appendMessages(db, task, [{ id: "m1", role: "assistant", content: "one" }]);
      // The checkpoint's transaction, with the cleanup run just ahead of it.
      const cleanup = async () => void cleanups.push(await runCleanup(ahead, { log: () => {}, sweep: false, lookbackDays: 5 }));
      faults.fail({ command: "TransactWriteCommand", nth: 1, before: cleanup });
      const { checkpoint } = await store.createCheckpointWithSnapshot(db, await store.getTaskRecord(db, "owner-race", task.id).then((t) => t!), {
        commitSha: "a".repeat(40),
        branchName: "main",
        message: "c1",
      });
      expect(cleanups).toHaveLength(1);
      expect(cleanups[0]!.deleted).toBeGreaterThan(0);
      expect(checkpoint.conversationSnapshotId).toBeDefined();
      const snapshot = await db.table.get(keys.snapshot(task.id, checkpoint.conversationSnapshotId!));
      expect(snapshot).toBeDefined();
      expect(snapshot!.checkpointId).toBe(checkpoint.id);
    } finally {
      faults.restore();
    }
  }, 60_000);
});
