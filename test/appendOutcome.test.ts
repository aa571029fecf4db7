import { beforeAll, describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import { injectFaults, serviceUnavailable } from "./support/faults.js";
import * as store from "../core/store/index.js";
import { createDb } from "../core/store/db.js";
import type { NewConversationMessage, TaskRecord } from "../core/models.js";

/**
 * An append whose commit meets an error of unknown outcome: whatever the
 * store did with the commit, and whenever it did it, the log has no gap and
 * every message the caller was told is stored is there exactly once.
 */

let db: Awaited<ReturnType<typeof createTestDb>>;
const owner = "owner-append-outcome";

beforeAll(async () => {
  db = await createTestDb();
});

const msg = (i: number): NewConversationMessage => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", content: `message ${i}` });
const reload = async (task: TaskRecord) => (await store.getTaskRecord(db, owner, task.id))!;

async function storedIds(task: TaskRecord): Promise<string[]> {
  const messages = await store.readWholeConversation(db, (await reload(task)).segments);
  return messages.map((m) => m.id);
}

describe("an append's commit of unknown outcome", () => {
  it("a commit that errors now and is applied after the append withdrew its batch leaves no gap", async () => {
    const task = await store.createTask(db, owner, { name: "late commit", plan: "p" });
    await store.appendMessages(db, task, [msg(1)]);
    const acknowledged = ["m1"];

    // The commit's answer is lost (503 after the SDK's retries); DynamoDB carries it out later.
    const faulty = createDb(db.config);
    const faults = injectFaults(faulty.table.doc);
    faults.fail({ command: "TransactWriteCommand", nth: 1, error: serviceUnavailable, appliedLater: true });
    await expect(store.appendMessages(faulty, await reload(task), [msg(2)])).rejects.toThrow();
    const late = await faults.applyLater();
    faults.restore();
    expect(late).toHaveLength(1);

    // The caller resends what it was not told is stored, and goes on.
    const resent = await store.appendMessages(db, await reload(task), [msg(2), msg(3)]);
    acknowledged.push(...resent.messageIds);
    expect(await store.verifyLog(db, task.id)).toEqual({ messages: 3, ok: true });
    expect(await storedIds(task)).toEqual(acknowledged);
  });

  it("a commit that errors now after it was applied is acknowledged, not withdrawn: the message is there once", async () => {
    const task = await store.createTask(db, owner, { name: "lost answer", plan: "p" });
    const faulty = createDb(db.config);
    const faults = injectFaults(faulty.table.doc);
    // The commit goes through, then the answer is lost: applied at once, the error still comes.
    faults.fail({ command: "TransactWriteCommand", nth: 1, error: serviceUnavailable, appliedLater: true });
    const original = faulty.table.doc.send.bind(faulty.table.doc);
    faulty.table.doc.send = (async (...args: Parameters<typeof original>) => {
      try {
        return await original(...args);
      } catch (error) {
        await faults.applyLater();
        throw error;
      }
    }) as typeof original;
    const appended = await store.appendMessages(faulty, await reload(task), [msg(1)]).then(
      (out) => out.messageIds,
      () => [] as string[],
    );
    faults.restore();
    const resent = await store.appendMessages(db, await reload(task), [msg(1), msg(2)]);
    expect(resent.appended + appended.length).toBe(2);
    expect(await store.verifyLog(db, task.id)).toEqual({ messages: 2, ok: true });
    expect(await storedIds(task)).toEqual(["m1", "m2"]);
  });
});
