import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { randomUUID } from "node:crypto";
import { createRelayEnv, waitFor, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { createTask, getTaskRecord } from "../core/store/tasks.js";
import { readWholeConversation } from "../core/store/conversationLog.js";
import { blobKeys } from "../core/blobs.js";
import { newId } from "../core/ids.js";

let env: RelayEnv;
let owner: TestOwner;

beforeAll(async () => {
  env = await createRelayEnv();
  owner = await env.newOwner("report-uploads");
});

afterAll(async () => {
  await env?.close();
});

describe("daemon reports with a bad upload", () => {
  it("a report whose uploaded message is not JSON is refused, and the reports after it still apply", async () => {
    const task = await createTask(env.db, owner.ownerId, { name: "t", plan: "p" });
    const acks: Array<{ seq: number; status: string; applied: number; error?: { code: string } }> = [];
    const { ws } = await env.scriptedDaemon(owner, randomUUID(), (m) => {
      if (m.type === "reportAck") acks.push(m);
    });
    // The daemon's upload through its presigned URL came out cut short.
    await env.db.blobs.s3.send(
      new PutObjectCommand({ Bucket: env.db.blobs.bucket, Key: blobKeys.messageUpload(owner.ownerId, task.id, "big"), Body: '{"id":"big","role":"tool","content":"res' }),
    );
    const stream = newId();
    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "big", role: "tool", content: "", timestamp: new Date().toISOString(), uploaded: true }], report: { stream, seq: 1 } }));
    await waitFor(() => acks.some((a) => a.seq === 1), 10_000, "an answer to report 1");
    expect(acks.find((a) => a.seq === 1)).toMatchObject({ status: "rejected", error: { code: "upload_invalid" } });

    ws.send(JSON.stringify({ type: "taskMessages", taskId: task.id, messages: [{ id: "next", role: "assistant", content: "after" }], report: { stream, seq: 2 } }));
    await waitFor(() => acks.some((a) => a.seq === 2), 10_000, "an answer to report 2");
    expect(acks.find((a) => a.seq === 2)).toMatchObject({ status: "applied" });
    const record = (await getTaskRecord(env.db, owner.ownerId, task.id))!;
    expect((await readWholeConversation(env.db, record.segments)).map((m) => m.id)).toEqual(["next"]);
    ws.close();
  }, 60_000);
});
