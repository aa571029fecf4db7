import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestOwner } from "./support/api.js";

type Api = Awaited<ReturnType<typeof createTestApi>>;
let api: Api;
let alice: TestOwner;
let taskId: string;

const fixture = (name: string) => readFileSync(join(import.meta.dirname, "fixtures", "transcripts", name), "utf8");

/** The conversation as stored, without the server's receive times (which a new import has anew). */
async function conversation(id: string) {
  const res = await api.call("GET", `/api/v1/mesh/tasks/${id}/conversation?limit=200`, { key: alice.apiKey });
  expect(res.status).toBe(200);
  return (res.body.messages as Array<Record<string, unknown>>).map(({ receivedAt: _r, ...m }) => m);
}

const exportAs = (id: string, format: string, redact = false) =>
  api.call("GET", `/api/v1/mesh/tasks/${id}/export?format=${format}${redact ? "&redact=true" : ""}`, { key: alice.apiKey });

const importText = (content: string, format?: string) => api.call("POST", "/api/v1/mesh/tasks/import", { key: alice.apiKey, body: { content, format, fileName: "export" } });

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  const imported = await api.call("POST", "/api/v1/mesh/tasks/import", { key: alice.apiKey, body: { fileName: "s.jsonl", content: fixture("claude-compaction-session.jsonl") } });
  expect(imported.status).toBe(201);
  taskId = imported.body.taskId;
  // A hostile message and one holding secrets, added the ordinary way.
  const appended = await api.call("POST", `/api/v1/mesh/tasks/${taskId}/messages`, {
    key: alice.apiKey,
    body: {
      messages: [
        { id: "hostile", role: "assistant", content: `<script>alert("x")</script><img src=x onerror=alert(1)>`, timestamp: "2025-12-16T10:39:00.000Z" },
        {
          id: "secrets",
          role: "tool",
          content: "",
          toolName: "Bash",
          toolInput: { command: "cat .env" },
          toolResult: "GITHUB_TOKEN=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\nDB_PASSWORD=hunter2hunter2\nMAKIMA_KEY=mk_abcdefghijklmnopqrstuvwx12",
          timestamp: "2025-12-16T10:39:01.000Z",
        },
      ],
    },
  });
  expect(appended.status).toBe(201);
});

describe("export", () => {
  it("jsonl imports back to the same conversation, and a second import adds nothing", async () => {
    const out = await exportAs(taskId, "jsonl");
    expect(out.status).toBe(200);
    expect(out.headers.get("content-type")).toContain("application/x-ndjson");
    expect(out.headers.get("content-disposition")).toMatch(/^attachment; filename="[A-Za-z0-9._-]+\.jsonl"$/);
    const text = out.body as string;
    expect(text.split("\n").filter(Boolean)).toHaveLength(1 + 16);
    const back = await importText(text);
    expect(back.status).toBe(201);
    expect(back.body).toMatchObject({ format: "makima", messages: 16, appended: 16, name: "Start working on the authentication module" });
    expect(await conversation(back.body.taskId)).toEqual(await conversation(taskId));
    const again = await importText(text);
    expect(again.body).toMatchObject({ taskId: back.body.taskId, created: false, appended: 0 });
    // Into the task it came from: every message is there already.
    const into = await api.call("POST", `/api/v1/mesh/tasks/${taskId}/import`, { key: alice.apiKey, body: { content: text } });
    expect(into.body).toMatchObject({ appended: 0, messages: 16 });
  });

  it("claude-code and openai exports import back with the same messages", async () => {
    const original = await conversation(taskId);
    for (const format of ["claude-code", "openai"]) {
      const out = await exportAs(taskId, format);
      expect(out.status).toBe(200);
      const back = await importText(out.body as string, format);
      expect(back.status).toBe(201);
      const copy = await conversation(back.body.taskId);
      expect(copy.map((m) => [m.id, m.role, m.timestamp, m.toolResult])).toEqual(original.map((m) => [m.id, m.role, m.timestamp, m.toolResult]));
      expect(copy.find((m) => m.id === "msg_c001" || m.id === "ca1-compact")).toMatchObject({ toolCalls: [{ id: "toolu_c001", name: "Read" }] });
    }
  });

  it("markdown reads as the conversation, tool calls and results fenced", async () => {
    const out = await exportAs(taskId, "markdown");
    expect(out.headers.get("content-type")).toContain("text/markdown");
    const md = out.body as string;
    expect(md).toMatch(/^# Start working on the authentication module\n/);
    expect(md).toContain("### User · 2025-12-16T08:00:00.000Z");
    expect(md).toContain("**Tool call** `Read` (`toolu_c001`)");
    expect(md).toContain("**Result of** `Edit` (`toolu_c002`)");
    expect(md.match(/^### /gm)).toHaveLength(16);
  });

  it("html is one self-contained page with everything the agent wrote escaped", async () => {
    const out = await exportAs(taskId, "html");
    expect(out.headers.get("content-type")).toContain("text/html");
    const html = out.body as string;
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(html).not.toMatch(/<script|<img|onerror=alert\(1\)>/);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).toContain("default-src 'none'");
  });

  it("redact removes secrets and says how many", async () => {
    const plain = await exportAs(taskId, "jsonl");
    expect(plain.body).toContain("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");
    expect(plain.headers.get("makima-redacted")).toBeNull();
    const out = await exportAs(taskId, "jsonl", true);
    expect(out.status).toBe(200);
    expect(out.headers.get("makima-redacted")).toBe("3");
    const text = out.body as string;
    for (const secret of ["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", "hunter2hunter2", "mk_abcdefghijklmnopqrstuvwx12"]) expect(text).not.toContain(secret);
    expect(text).toContain("[REDACTED:github]");
    // Still valid lines of the format.
    for (const line of text.split("\n").filter(Boolean)) JSON.parse(line);
  });

  it("stores a large export and answers a presigned link to it", async () => {
    const direct = (await exportAs(taskId, "markdown")).body as string;
    const res = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/export/link?format=markdown`, { key: alice.apiKey });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ fileName: expect.stringMatching(/\.md$/), contentType: expect.stringContaining("text/markdown"), bytes: Buffer.byteLength(direct) });
    const download = await fetch(res.body.url);
    expect(download.status).toBe(200);
    // Only the export time differs between two exports.
    const strip = (t: string) => t.replace(/exported: \S+/, "");
    expect(strip(await download.text())).toBe(strip(direct));
    const redacted = await api.call("GET", `/api/v1/mesh/tasks/${taskId}/export/link?format=jsonl&redact=true`, { key: alice.apiKey });
    expect(redacted.body.redacted).toBe(3);
  });

  it("refuses an unknown format with a 400", async () => {
    const out = await exportAs(taskId, "pdf");
    expect(out.status).toBe(400);
    expect(out.body.error.code).toBe("validation_failed");
  });
});
