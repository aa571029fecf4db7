import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Runtime } from "../../core/runtime.js";
import type { ChaosOptions, WsGateway } from "../../stacks/local/gateway.js";
import { startDaemon, type Daemon } from "../../daemon/ws/daemon.js";
import { createTask, getTaskRecord, toTask } from "../../core/store/tasks.js";
import { listCheckpoints } from "../../core/store/checkpoints.js";
import { readWholeConversation } from "../../core/store/conversationLog.js";
import { initRepo, tempDir } from "./git.js";

/**
 * A real daemon runs an agent that prints `messages` messages and makes
 * `commits` commits, never waiting for the daemon, through a gateway that
 * may be set to misbehave (ChaosOptions); the daemon is restarted once after
 * the agent exits. Then the stored conversation and checkpoints are compared
 * with what the agent did: each commit's message names how many whole lines
 * the agent had written to its stdout when it ran git. Used by the chaos
 * test and by `npm run bench -- reports`; no vitest in here.
 */

/**
 * How the agent prints and commits. `fast`: each line written at once
 * (writeSync), a commit every `messages / commits` lines. `buffered`: lines
 * collect in the agent and are written 4 KB at a time (a line may be cut
 * between two writes), commits as they come. `mixed`: as `fast`, but its
 * commits are in turn a commit, an amend, a commit on a side branch, and a
 * merge of that branch.
 */
export type AgentKind = "fast" | "buffered" | "mixed";

export interface ReportsRun {
  runtime: Runtime;
  gateway: WsGateway;
  ownerId: string;
  daemonKey: string;
  messages: number;
  commits: number;
  agent?: AgentKind;
  chaos?: ChaosOptions;
  /** Restart the daemon once, after the agent exits (default true). */
  restart?: boolean;
  /** Bound on waiting for everything to be stored. */
  timeoutMs?: number;
}

export interface ReportsOutcome {
  lost: number;
  duplicated: number;
  reordered: number;
  shortCheckpoints: number;
  checkpoints: number;
  /** Messages stored per second, from the agent's start until the last one was stored. */
  messagesPerSecond: number;
  /** Reports in the outbox when the daemon was restarted. */
  pendingAtRestart: number;
  status: string;
  log: string[];
}

const AGENT = `
import { writeFileSync, writeSync } from "node:fs";
import { execFileSync } from "node:child_process";
const [n, k] = process.argv.slice(2, 4).map(Number);
const kind = process.argv[4];
const every = Math.floor(n / k);
const BLOCK = 4096;
let pending = "";
let written = 0;
const write = (text) => {
  writeSync(1, text);
  written += text.split("\\n").length - 1;
};
const print = (line) => {
  if (kind !== "buffered") return write(line);
  pending += line;
  while (pending.length >= BLOCK) {
    write(pending.slice(0, BLOCK));
    pending = pending.slice(BLOCK);
  }
};
const git = (...args) => execFileSync("git", args, { stdio: "ignore" });
const commit = (c, i) => {
  const message = "commit after " + written;
  const turn = kind === "mixed" ? c % 4 : 0;
  if (turn !== 0 || kind !== "mixed") {
    writeFileSync("file-" + i + ".txt", String(i));
    git("add", "-A");
  }
  if (turn === 2) git("commit", "-q", "--amend", "-m", message);
  else if (turn === 3) {
    git("checkout", "-q", "-b", "side-" + c);
    git("commit", "-q", "-m", message);
    git("checkout", "-q", "-");
  } else if (turn === 0 && kind === "mixed") git("merge", "-q", "--no-ff", "-m", message, "side-" + (c - 1));
  else git("commit", "-q", "-m", message);
};
for (let i = 1; i <= n; i++) {
  print(JSON.stringify({ role: "assistant", content: "message " + i }) + "\\n");
  if (i % every === 0 && i / every <= k) commit(i / every, i);
}
if (pending) write(pending);
`;

export async function runReports(run: ReportsRun): Promise<ReportsOutcome> {
  const { runtime, gateway } = run;
  const db = runtime.db;
  const log: string[] = [];
  const t0 = Date.now();
  const root = tempDir("makima-reports-");
  const task = await createTask(db, run.ownerId, { name: "reports", plan: "print and commit" });
  const cwd = initRepo(path.join(root, task.id));
  writeFileSync(path.join(cwd, "README"), "start\n");
  const { execFileSync } = await import("node:child_process");
  execFileSync("git", ["add", "-A"], { cwd });
  execFileSync("git", ["commit", "-q", "-m", "start"], { cwd });
  const agentDir = tempDir("makima-agent-");
  mkdirSync(agentDir, { recursive: true });
  writeFileSync(path.join(agentDir, "agent.mjs"), AGENT);

  const start = () =>
    startDaemon({
      wsUrl: gateway.url,
      daemonKey: run.daemonKey,
      root,
      agentCommand: `"${process.execPath}" "${path.join(agentDir, "agent.mjs")}" ${run.messages} ${run.commits} ${run.agent ?? "fast"}`,
      log: (line) => log.push(`${Date.now() - t0} ${line}`),
      commitPollMs: 100,
      reconnectInitialMs: 50,
      reconnectMaxMs: 500,
      reportResendMs: 5000,
    });
  let daemon: Daemon = await start();
  gateway.setChaos(run.chaos);
  const started = Date.now();
  let pendingAtRestart = 0;
  try {
    await daemon.runner.start({ taskId: task.id, name: "reports", plan: "p", cwd, branchName: "main" });
    await daemon.runner.waitForExit(task.id);
    if (run.restart ?? true) {
      await daemon.reporter.drain();
      pendingAtRestart = daemon.outbox.pending;
      await daemon.stop();
      daemon = await start();
    }
    // Everything stored: every message, every checkpoint, the final status.
    const deadline = Date.now() + (run.timeoutMs ?? 120_000);
    let lastStoredAt = Date.now();
    let lastCount = -1;
    for (;;) {
      const record = (await getTaskRecord(db, run.ownerId, task.id))!;
      const count = toTask(record).messageCount;
      if (count !== lastCount) {
        lastCount = count;
        lastStoredAt = Date.now();
      }
      // Checkpoints are listed only once every message is in: the watching must not slow what it watches.
      const arrived = count >= run.messages && record.status !== "pending" && record.status !== "running" && daemon.outbox.pending === 0;
      const made = async () => (await listCheckpoints(db, record, 200)).items.length;
      if (arrived && (await made()) >= run.commits) break;
      if (Date.now() > deadline) {
        throw new Error(`not everything arrived: ${count}/${run.messages} messages, ${await made()}/${run.commits} checkpoints, status ${record.status}, ${daemon.outbox.pending} reports pending`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    gateway.setChaos(undefined);

    const record = (await getTaskRecord(db, run.ownerId, task.id))!;
    const stored = (await readWholeConversation(db, record.segments)).map((m) => Number(m.content.replace("message ", "")));
    const counts = new Map<number, number>();
    for (const n of stored) counts.set(n, (counts.get(n) ?? 0) + 1);
    let lost = 0;
    let duplicated = 0;
    for (let i = 1; i <= run.messages; i++) {
      const c = counts.get(i) ?? 0;
      if (c === 0) lost++;
      if (c > 1) duplicated += c - 1;
    }
    let reordered = 0;
    for (let i = 1; i < stored.length; i++) if (stored[i]! < stored[i - 1]!) reordered++;
    const checkpoints = (await listCheckpoints(db, record, 200)).items;
    const short = checkpoints.filter((c) => c.messageCount !== Number(/commit after (\d+)/.exec(c.message)?.[1] ?? -1));
    for (const c of short) log.push(`checkpoint ${c.checkpointNumber} "${c.message}" counts ${c.messageCount}`);
    const shortCheckpoints = short.length;
    return {
      lost,
      duplicated,
      reordered,
      shortCheckpoints,
      checkpoints: checkpoints.length,
      messagesPerSecond: run.messages / Math.max(0.001, (lastStoredAt - started) / 1000),
      pendingAtRestart,
      status: record.status,
      log,
    };
  } finally {
    gateway.setChaos(undefined);
    await daemon.stop().catch(() => undefined);
  }
}
