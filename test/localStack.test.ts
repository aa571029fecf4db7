import { afterAll, describe, expect, it } from "vitest";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../stacks/local/emulators.js";

/**
 * `npm start` as a newcomer runs it: the start script in a fresh directory,
 * twice over the same data, and `npm run owner` against it.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const cwd = mkdtempSync(join(tmpdir(), "makima-start-"));
const running: ChildProcess[] = [];

afterAll(async () => {
  // SIGTERM, which tsx passes on: the start script stops its emulators on it (a SIGKILL would orphan them).
  await Promise.all(running.filter((c) => c.exitCode === null).map((c) => stop(c, "SIGTERM")));
  rmSync(cwd, { recursive: true, force: true });
});

async function start(port: number, wsPort: number, extra: string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(TSX, [join(ROOT, "stacks/local/start.ts"), ...extra], {
    cwd,
    env: { ...process.env, PORT: String(port), WS_PORT: String(wsPort) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!output.includes("Ctrl-C stops")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the local stack did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => output };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

const local = () => JSON.parse(readFileSync(join(cwd, ".makima", "local.json"), "utf8"));

describe("npm start", () => {
  it("runs the service, writes .makima/local.json, keeps data and keys across restarts; npm run owner adds an owner", async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const first = await start(port, wsPort);
    const file = local();
    expect(file).toMatchObject({ apiUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${wsPort}` });
    expect(file.apiKey).toMatch(/^mk_/);
    expect(file.daemonKey).toMatch(/^mkd_/);
    expect(first.output()).toContain(file.apiKey);
    const headers = { authorization: `Bearer ${file.apiKey}`, "content-type": "application/json" };
    const created = await fetch(`${file.apiUrl}/api/v1/contracts`, { method: "POST", headers, body: JSON.stringify({ name: "kept" }) });
    expect(created.status).toBe(201);
    const contract = (await created.json()) as { id: string };
    expect((await fetch(`${file.apiUrl}/api/v1/docs`)).status).toBe(200);

    const added = JSON.parse(execFileSync(TSX, [join(ROOT, "stacks/local/owner.ts"), "--name", "alice"], { cwd, encoding: "utf8" }).trim());
    expect(added.apiKey).toMatch(/^mk_/);
    const aliceSees = await fetch(`${file.apiUrl}/api/v1/contracts/${contract.id}`, { headers: { authorization: `Bearer ${added.apiKey}` } });
    expect(aliceSees.status).toBe(404);

    expect(await stop(first.child)).toBe(0);
    const second = await start(port, wsPort);
    expect(local().apiKey).toBe(file.apiKey);
    const again = await fetch(`${file.apiUrl}/api/v1/contracts/${contract.id}`, { headers });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { name: string }).name).toBe("kept");
    await stop(second.child);

    // In memory: nothing from before, new keys.
    const fresh = await start(port, wsPort, ["--in-memory"]);
    expect(fresh.output()).toContain("in memory");
    const gone = await fetch(`${file.apiUrl}/api/v1/contracts/${contract.id}`, { headers: { authorization: `Bearer ${local().apiKey}` } });
    expect(gone.status).toBe(404);
    expect(local().apiKey).not.toBe(file.apiKey);
    await stop(fresh.child);

    // …and the next normal start is back to the kept data with the same keys.
    const third = await start(port, wsPort);
    expect(local().apiKey).toBe(file.apiKey);
    expect((await fetch(`${file.apiUrl}/api/v1/contracts/${contract.id}`, { headers })).status).toBe(200);
    await stop(third.child);
    // Four real stack starts (a JVM each): on two loaded cores this takes minutes, not seconds.
  }, 300_000);
});
