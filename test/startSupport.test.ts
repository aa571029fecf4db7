/** What `npm start` adds around the stack: log lines for a terminal, the cursor secret per data directory, free ports. */
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertPortFree, cursorSecretFor, prettyLogLine } from "../stacks/local/startSupport.js";

describe("prettyLogLine", () => {
  it("prints a JSON log line as time, level, message and fields; anything else is left alone", () => {
    const line = JSON.stringify({ level: "INFO", message: "command relayed", timestamp: "2026-12-06T18:14:31.052Z", service: "makima-history", sampling_rate: 0, taskId: "t1", ms: 16 });
    expect(prettyLogLine(line, false)).toBe("18:14:31 INFO  command relayed taskId=t1 ms=16");
    expect(prettyLogLine("makima-history is running locally", false)).toBeUndefined();
    expect(prettyLogLine('{"not":"a log line"}', false)).toBeUndefined();
  });
});

describe("cursorSecretFor", () => {
  it("draws a secret once per data directory and keeps it there, owner-only; in memory, a new one each time", () => {
    const dir = mkdtempSync(join(tmpdir(), "makima-secret-"));
    try {
      const first = cursorSecretFor(dir);
      expect(first).toMatch(/^[\w-]{43}$/);
      expect(cursorSecretFor(dir)).toBe(first);
      expect(statSync(join(dir, "cursor-secret")).mode & 0o777).toBe(0o600);
      const other = mkdtempSync(join(tmpdir(), "makima-secret-"));
      expect(cursorSecretFor(other)).not.toBe(first);
      rmSync(other, { recursive: true, force: true });
      expect(cursorSecretFor(undefined)).not.toBe(cursorSecretFor(undefined));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("assertPortFree", () => {
  it("refuses a port in use in one line naming the variable to change", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(assertPortFree(port, "HTTP API", "PORT")).rejects.toThrow(
        `port ${port} for the HTTP API is in use (another \`npm start\`?): stop what holds it, or choose another with PORT=<port> npm start`,
      );
    } finally {
      server.close();
    }
    await expect(assertPortFree(port, "HTTP API", "PORT")).resolves.toBeUndefined();
  });
});
