import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ServerNotice, type DaemonMessage, type RefusedMessage } from "../../core/protocol.js";
import { newId } from "../../core/ids.js";
import type { RewindStep } from "../worktree/journal.js";
import { WorktreeManager } from "../worktree/manager.js";
import { AgentRunner } from "./agent.js";
import type { AgentFormat } from "./agentFormats.js";
import { splitCommand } from "./argv.js";
import { DaemonConnection } from "./connection.js";
import { CommandHandler } from "./handlers.js";
import { Reporter } from "./reporter.js";
import { ServerClock } from "./serverClock.js";
import { Outbox, type Report } from "./outbox.js";
import { TransferPolicy, uploadJson } from "./transfer.js";

/**
 * The daemon's parts wired together: the connection to the WebSocket API,
 * the command handlers, the agent runner and the worktree manager, all on one
 * root directory (`<root>/<taskId>` per task; the daemon's own files in
 * `<root>/.makima-daemon/` and its id in `<root>/.makima-daemon.json`).
 */

const DAEMON_VERSION = "0.1.0";
export const DAEMON_ID_FILE = ".makima-daemon.json";
const STATE_DIR = ".makima-daemon";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface DaemonOptions {
  wsUrl: string;
  daemonKey: string;
  daemonId?: string;
  root: string;
  /** The user's repository: each task's worktree is a `git worktree add` of it (else each task gets a new repository). */
  repo?: string;
  agentCommand?: string;
  hostname?: string;
  log?: (line: string) => void;
  /** Timings, shortened by tests. */
  heartbeatMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** How long a connection is used before the daemon moves to a new one; default 110 minutes. */
  maxConnectionMs?: number;
  /** How long a report waits for its acknowledgement before it is sent again; default 5 s. */
  reportResendMs?: number;
  commitPollMs?: number;
  /** What the agent prints (agentFormats.ts): `makima` (default), `claude-stream-json` or `codex-json`. */
  agentFormat?: AgentFormat;
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
  outbox: Outbox;
  stop(): Promise<void>;
}

/** A notice from the server (a report's acknowledgement, an upload URL), or undefined for anything else (commands). */
function noticeOf(text: string): Exclude<ServerNotice, { type: "handedOver" }> | undefined {
  if (!text.includes('"reportAck"') && !text.includes('"uploadGranted"')) return undefined;
  try {
    const parsed = ServerNotice.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.type !== "handedOver" ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The daemon id kept in `<root>/.makima-daemon.json`, made on first start. */
async function persistentDaemonId(root: string): Promise<string> {
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

/** Above this a message does not travel inline in a report: it is uploaded whole through S3. */
const INLINE_MESSAGE_BYTES = 60 * 1024;

/** A report with each message too large for a WebSocket message uploaded first (presigned PUT), sent as `uploaded`. */
async function uploadLargeMessages(
  report: Report,
  send: (m: DaemonMessage) => Promise<void>,
  uploads: Map<string, (url: string) => void>,
  transfers: TransferPolicy,
): Promise<Report> {
  if (report.type === "taskStatus" || !report.messages) return report;
  const messages = await Promise.all(
    report.messages.map(async (message) => {
      if (Buffer.byteLength(JSON.stringify(message)) <= INLINE_MESSAGE_BYTES) return message;
      const requestId = randomUUID();
      const granted = new Promise<string>((resolve, reject) => {
        uploads.set(requestId, resolve);
        setTimeout(() => reject(new Error(`no upload URL for message ${message.id} within 30 s`)), 30_000).unref();
      });
      try {
        await send({ type: "uploadRequest", requestId, taskId: report.taskId, messageId: message.id });
        await uploadJson(transfers, await granted, message);
      } finally {
        uploads.delete(requestId);
      }
      return { id: message.id, role: message.role, timestamp: message.timestamp, content: "", uploaded: true as const };
    }),
  );
  return { ...report, messages };
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
    repo: options.repo,
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
    maxConnectionMs: options.maxConnectionMs,
    onMessage: (text) => {
      const notice = noticeOf(text);
      if (notice?.type === "welcome") serverClock.learn(notice.serverTime);
      if (notice?.type === "reportAck") outbox.onAck(notice);
      else if (notice?.type === "uploadGranted") uploads.get(notice.requestId)?.(notice.uploadUrl);
      else void handler?.handle(text);
    },
    onOpen: () => outbox.onConnected(),
  });
  const send = (message: DaemonMessage) => connection.send(message);
  const uploads = new Map<string, (url: string) => void>();
  const transfers = new TransferPolicy(options.transferOrigins, options.maxDownloadBytes);
  const serverClock = new ServerClock();
  const outbox = new Outbox({
    dir: path.join(root, STATE_DIR, "outbox"),
    send,
    clock: () => serverClock.now(),
    onRefused: (taskId, seq, refused) => {
      const what = refused.map((r) => `#${r.index}${r.id ? ` (${r.id})` : ""}: ${r.code}: ${r.message}`).join("; ");
      log(`task ${taskId}: report ${seq}: the server did not store ${refused.length} message(s): ${what}`);
      reporter.message(taskId, refusalNote(refused));
    },
    prepare: (report) => uploadLargeMessages(report, send, uploads, transfers),
    connected: () => connection.connected,
    log,
    resendMs: options.reportResendMs,
  });
  await outbox.load();
  const reporter = new Reporter({ outbox, log });
  runner = new AgentRunner({
    argv,
    manager,
    reporter,
    stateDir: path.join(root, STATE_DIR),
    log,
    commitPollMs: options.commitPollMs,
    agentFormat: options.agentFormat,
  });
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
    outbox,
    stop() {
      stopped ??= (async () => {
        await runner!.stopAll();
        // Last reports (interrupted tasks) are on disk for the next start; they get a moment to leave now.
        await reporter.drain();
        await outbox.persisted();
        await Promise.race([outbox.whenEmpty(), new Promise((r) => setTimeout(r, 2000))]);
        outbox.stop();
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

/** What goes in the task's conversation when the server did not store some of its agent's messages. */
function refusalNote(refused: RefusedMessage[]) {
  const lines = refused.map((r) => `- message ${r.index + 1} of its report${r.id ? ` (id ${r.id})` : ""}: ${r.code}: ${r.message}`);
  return {
    id: newId(),
    role: "system" as const,
    content: `The service did not store ${refused.length} message(s) the agent printed:\n${lines.join("\n")}`.slice(0, 10_000),
    timestamp: new Date().toISOString(),
  };
}
