import { beforeAll, describe, expect, it } from "vitest";
import { createTestDb } from "./support/env.js";
import * as store from "../core/store/index.js";
import type { NewConversationMessage, TaskRecord } from "../core/models.js";

let db: Awaited<ReturnType<typeof createTestDb>>;
const owner = "owner-review";

beforeAll(async () => {
  db = await createTestDb();
});

const msg = (i: number): NewConversationMessage => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", content: `message ${i}` });
const reload = async (task: TaskRecord) => (await store.getTaskRecord(db, owner, task.id))!;

async function appendRange(task: TaskRecord, from: number, to: number) {
  for (let i = from; i <= to; i += 20) {
    await store.appendMessages(db, await reload(task), Array.from({ length: Math.min(20, to - i + 1) }, (_, k) => msg(i + k)));
  }
}

describe("the conversation log under review", () => {
  it("a reader walking the log while a stretch is sealed under it sees each message once", async () => {
    let task = await store.createTask(db, owner, { name: "read while sealing", plan: "p" });
    // 699 messages: one short of the sealing threshold, so nothing is sealed yet.
    await appendRange(task, 1, 699);
    task = await reload(task);
    expect(task.sealedTo ?? 0).toBe(0);

    const closed = await store.closeSegments(db, task);
    const entries = store.logEntries(db, closed);
    const seqs: number[] = [];
    const first = await entries.next();
    seqs.push(first.value!.seq);
    // Another append's sealer folds the oldest batches (the one being read among them) into a chunk.
    expect(await store.sealStretch(db, task, 1, 699)).toBe(true);
    for await (const entry of entries) seqs.push(entry.seq);

    expect(seqs).toEqual(Array.from({ length: 699 }, (_, k) => k + 1));
  });
});
