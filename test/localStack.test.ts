import { afterAll, describe, expect, it } from "vitest";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort } from "../stacks/local/emulators.js";

/**
 * `npm start` as a newcomer runs it: the start script in a fresh directory,
 * twice over the same data, and `npm run owner` against it.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** How `npm start` runs the script: node with tsx's loader, so signals reach the script itself (no tsx process in between). */
const TSX_LOADER = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
const cwd = mkdtempSync(join(tmpdir(), "makima-start-"));
const running: ChildProcess[] = [];

afterAll(async () => {
  // SIGTERM: the start script stops its emulators on it (a SIGKILL would orphan them).
  await Promise.all(running.filter((c) => c.exitCode === null).map((c) => stop(c, "SIGTERM")));
  rmSync(cwd, { recursive: true, force: true });
});

async function start(port: number, wsPort: number, extra: string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, join(ROOT, "stacks/local/start.ts"), ...extra], {
    cwd,
    env: { ...process.env, PORT: String(port), WS_PORT: String(wsPort), XDG_CONFIG_HOME: join(cwd, "config") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 120_000;
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
    expect(first.output()).not.toContain("NodeVersionSupportWarning");
    // The CLI finds the stack from any folder: its profile "local", the default one.
    const profiles = JSON.parse(readFileSync(join(cwd, "config", "makima", "config.json"), "utf8"));
    expect(profiles).toEqual({ profile: "local", profiles: { local: { apiUrl: file.apiUrl, apiKey: file.apiKey, wsUrl: file.wsUrl, daemonKey: file.daemonKey } } });
    const secretFile = join(cwd, ".makima", "data", "cursor-secret");
    const secret = readFileSync(secretFile, "utf8");
    expect(secret.trim()).toMatch(/^[\w-]{43}$/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    // A second start on the same ports: one line, exit 1, nothing started.
    const busy = spawn(process.execPath, ["--import", TSX_LOADER, join(ROOT, "stacks/local/start.ts")], {
      cwd,
      env: { ...process.env, PORT: String(port), WS_PORT: String(wsPort), XDG_CONFIG_HOME: join(cwd, "config") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let busyOutput = "";
    busy.stdout!.on("data", (d: Buffer) => (busyOutput += d.toString()));
    busy.stderr!.on("data", (d: Buffer) => (busyOutput += d.toString()));
    expect(await new Promise((resolve) => busy.once("exit", resolve))).toBe(1);
    expect(busyOutput).toBe(`makima-history: port ${port} for the HTTP API is in use (another \`npm start\`?): stop what holds it, or choose another with PORT=<port> npm start\n`);
    const headers = { authorization: `Bearer ${file.apiKey}`, "content-type": "application/json" };
    const created = await fetch(`${file.apiUrl}/api/v1/contracts`, { method: "POST", headers, body: JSON.stringify({ name: "kept" }) });
    expect(created.status).toBe(201);
    const contract = (await created.json()) as { id: string };
    expect((await fetch(`${file.apiUrl}/api/v1/docs`)).status).toBe(200);

    const added = JSON.parse(execFileSync(process.execPath, ["--import", TSX_LOADER, join(ROOT, "stacks/local/owner.ts"), "--name", "alice"], { cwd, encoding: "utf8" }).trim());
    expect(added.apiKey).toMatch(/^mk_/);
    const aliceSees = await fetch(`${file.apiUrl}/api/v1/contracts/${contract.id}`, { headers: { authorization: `Bearer ${added.apiKey}` } });
    expect(aliceSees.status).toBe(404);

    expect(await stop(first.child)).toBe(0);
    const second = await start(port, wsPort);
    expect(local().apiKey).toBe(file.apiKey);
    expect(readFileSync(secretFile, "utf8")).toBe(secret);
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

/** The processes below `pid` (children, grandchildren…), read from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => (children.get(p) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const listening = (port: number, host = "127.0.0.1") =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

describe("npm start stopped by SIGTERM", () => {
  it("stops the servers, the cleanup timer and both emulators, and exits: no process or port left", async () => {
    // A directory of its own (npm runs the script there), with the package's start script as it is.
    const dir = mkdtempSync(join(tmpdir(), "makima-npm-start-"));
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "makima-start-test", private: true, type: pkg.type, scripts: { start: pkg.scripts.start } }));
    for (const entry of ["node_modules", "stacks", "core", "functions", "daemon", "tsconfig.json"]) symlinkSync(join(ROOT, entry), join(dir, entry));
    const [port, wsPort] = [await freePort(), await freePort()];
    const npm = spawn("npm", ["start", "--", "--in-memory"], {
      cwd: dir,
      env: { ...process.env, PORT: String(port), WS_PORT: String(wsPort), XDG_CONFIG_HOME: join(dir, "config") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    npm.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    npm.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const pids: number[] = [];
    try {
      const deadline = Date.now() + 120_000;
      while (!output.includes("Ctrl-C stops")) {
        if (npm.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const file = JSON.parse(readFileSync(join(dir, ".makima", "local.json"), "utf8"));
      const ports = [port, wsPort, Number(new URL(file.dynamoEndpoint).port), Number(new URL(file.s3Endpoint).port)];
      for (const p of ports) expect(await listening(p)).toBe(true);
      // Every part listens on loopback only: from the machine's other addresses, nothing answers.
      const outside = Object.values(networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
      if (outside) for (const p of ports) expect(await listening(p, outside), `port ${p} on ${outside}`).toBe(false);
      pids.push(...descendants(npm.pid!));
      expect(pids.length).toBeGreaterThan(1);

      // Only npm is signalled, as a process manager or `timeout` does (not its process group).
      const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
      npm.kill("SIGTERM");
      await exited;
      const settled = Date.now() + 60_000;
      for (;;) {
        const left = pids.filter(alive);
        const open = (await Promise.all(ports.map((p) => listening(p)))).some(Boolean);
        if (left.length === 0 && !open) break;
        if (Date.now() > settled) throw new Error(`left running: processes ${left.join(", ")}; ports open: ${open}\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      for (const pid of [npm.pid!, ...pids]) if (alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
