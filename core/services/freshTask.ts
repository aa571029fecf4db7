import type { TaskRecord } from "../models.js";
import { DomainError } from "../errors.js";
import type { Db } from "../store/db.js";
import * as conflicts from "../store/conflicts.js";
import * as tasks from "../store/tasks.js";

/**
 * Applies a daemon's report to the task as it is now: reports are handled
 * concurrently, so a write that meets another (a 409 concurrent_update) is
 * retried on a fresh read instead of being lost.
 */
export function withFreshTask<T>(db: Db, ownerId: string, taskId: string, apply: (task: TaskRecord) => Promise<T>): Promise<T> {
  return conflicts.retryOnConflict(
    async () => {
      const task = await tasks.getTaskRecord(db, ownerId, taskId);
      if (!task) throw new DomainError(404, "not_found", "task not found");
      return apply(task);
    },
    (error) => error instanceof DomainError && error.code === "concurrent_update",
    { attempts: 6 },
  );
}
