import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { DaemonMessage } from "../../core/protocol.js";
import { WorktreeManager, type RewindStep } from "../worktree/manager.js";
import { AgentRunner } from "./agent.js";
import { splitCommand } from "./argv.js";
import { DaemonConnection } from "./connection.js";
import { CommandHandler } from "./handlers.js";
import { Reporter } from "./reporter.js";
import { TransferPolicy } from "./transfer.js";

/**
 * The daemon's parts wired together: the connection to the WebSocket API,
 * the command handlers, the agent runner and the worktree manager, all on one
 * root directory (`<root>/<taskId>` per task; the daemon's own files in
 * `<root>/.makima-daemon/` and its id in `<root>/.makima-daemon.json`).
 */

export const DAEMON_VERSION = "0.1.0";
export const DAEMON_ID_FILE = ".makima-daemon.json";
const STATE_DIR = ".makima-daemon";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface DaemonOptions {
  wsUrl: string;
  daemonKey: string;
  daemonId?: string;
  root: string;
  agentCommand?: string;
  hostname?: string;
  log?: (line: string) => void;
  /** Timings, shortened by tests. */
  heartbeatMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  reportGapMs?: number;
  commitPollMs?: number;
  /** Origins presigned transfers may use (default: the ones the server names after hello). */
  transferOrigins?: string[];
  /** The largest download the daemon reads (default 64 MB). */
  maxDownloadBytes?: number;
  /** Called as a rewind passes each of its journaled steps. */
  onRewindStep?: (taskId: string, step: RewindStep) => void | Promise<void>;
}

export interface Daemon {
  daemonId: string;
  root: string;
  connection: DaemonConnection;
  manager: WorktreeManager;
  runner: AgentRunner;
  reporter: Reporter;
  stop(): Promise<void>;
}

/** The daemon id kept in `<root>/.makima-daemon.json`, made on first start. */
export async function persistentDaemonId(root: string): Promise<string> {
  const file = path.join(root, DAEMON_ID_FILE);
  try {
    const saved = JSON.parse(await readFile(file, "utf8")) as { daemonId?: unknown };
    if (typeof saved.daemonId === "string" && UUID.test(saved.daemonId)) return saved.daemonId;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`${file} is not readable JSON: ${(error as Error).message}`);
  }
  const daemonId = randomUUID();
  await writeFile(file, `${JSON.stringify({ daemonId, createdAt: new Date().toISOString() }, null, 2)}\n`, { mode: 0o600 });
  return daemonId;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const root = path.resolve(options.root);
  await mkdir(root, { recursive: true });
  const log = options.log ?? ((line: string) => console.error(`${new Date().toISOString()} ${line}`));
  if (options.daemonId !== undefined && !UUID.test(options.daemonId.toLowerCase())) {
    throw new Error(`daemon id ${JSON.stringify(options.daemonId)} is not a UUID`);
  }
  const daemonId = options.daemonId?.toLowerCase() ?? (await persistentDaemonId(root));
  const argv = options.agentCommand?.trim() ? splitCommand(options.agentCommand) : undefined;

  // Built in dependency order; the manager asks the runner (made just after) whether an agent runs.
  let runner: AgentRunner | undefined;
  const manager = new WorktreeManager({
    root,
    isAgentRunning: (taskId) => runner?.isRunning(taskId) ?? false,
    // Rewinds journal their steps here: one killed midway is finished (or rolled back) at the next start.
    journalDir: path.join(root, STATE_DIR, "journal"),
    onRewindStep: options.onRewindStep,
  });
  let handler: CommandHandler | undefined;
  const connection = new DaemonConnection({
    url: options.wsUrl,
    daemonKey: options.daemonKey,
    daemonId,
    hostname: (options.hostname ?? os.hostname()).slice(0, 255),
    version: DAEMON_VERSION,
    log,
    heartbeatMs: options.heartbeatMs,
    reconnectInitialMs: options.reconnectInitialMs,
    reconnectMaxMs: options.reconnectMaxMs,
    onMessage: (text) => void handler?.handle(text),
  });
  const send = (message: DaemonMessage) => connection.send(message);
  const reporter = new Reporter({ send, log, gapMs: options.reportGapMs });
  runner = new AgentRunner({
    argv,
    manager,
    reporter,
    stateDir: path.join(root, STATE_DIR),
    log,
    commitPollMs: options.commitPollMs,
  });
  const transfers = new TransferPolicy(options.transferOrigins, options.maxDownloadBytes);
  handler = new CommandHandler({ root, manager, runner, reporter, send, log, transfers });

  await connection.start();
  void reportRecoveredRewinds(manager, send, log);
  log(`daemon ${daemonId} serving ${root}${argv ? ` with agent ${JSON.stringify(argv)}` : " (no agent command: spawned tasks get a worktree only)"}`);

  let stopped: Promise<void> | undefined;
  return {
    daemonId,
    root,
    connection,
    manager,
    runner,
    reporter,
    stop() {
      stopped ??= (async () => {
        await runner!.stopAll();
        // Last reports (interrupted tasks) get a moment to leave.
        await Promise.race([reporter.drain(), new Promise((r) => setTimeout(r, 2000))]);
        await connection.stop();
      })();
      return stopped;
    },
  };
}

/**
 * Rewinds a previous run left half done are finished (or rolled back) and
 * reported under their command's request id, as the reply the server did not
 * get: it records them (a late reply is still recorded), so their safety ref
 * can be undone. Each journal entry goes once its report is sent.
 */
async function reportRecoveredRewinds(manager: WorktreeManager, send: (message: DaemonMessage) => Promise<void>, log: (line: string) => void) {
  try {
    for (const { journal, outcome } of await manager.recoverRewinds()) {
      log(`rewind ${journal.requestId} of task ${journal.taskId} interrupted at "${journal.step}": ${outcome.success ? "completed" : outcome.error}`);
      const base = { type: "rewindResult" as const, requestId: journal.requestId, taskId: journal.taskId };
      const reply: DaemonMessage = outcome.success
        ? { ...base, success: true, message: outcome.message, safetyRef: outcome.safetyRef, ...(outcome.preservedAs ? { preservedAs: outcome.preservedAs } : {}) }
        : { ...base, success: false, message: outcome.error, error: outcome.error };
      try {
        await send(reply);
        await manager.forgetRewind(journal);
      } catch (error) {
        log(`recovered rewind ${journal.requestId} not reported yet: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    log(`journal not read: ${(error as Error).message}`);
  }
}
