import { spawn, type ChildProcess } from "node:child_process";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { NewConversationMessage } from "../../core/models.js";
import { newId } from "../../core/ids.js";
import type { WorktreeManager } from "../worktree/manager.js";
import { git, gitOut } from "../worktree/git.js";
import { assertTaskId } from "../worktree/validate.js";
import type { Reporter } from "./reporter.js";

/**
 * Runs a task's agent: the configured command (an argument vector, no shell)
 * in the task's worktree. The agent speaks JSON lines on stdout
 * (`{"role":"assistant","content":"…"}`), which go to the server as
 * `taskMessages` with ids; each commit it makes becomes a `checkpointCreated`;
 * its exit becomes `taskStatus` completed or failed.
 */

const MAX_CHECKPOINT_MESSAGE = 10_000;
const MAX_FILES_LISTED = 500;

/** Variables that would point the agent's git at another repository than its worktree. */
const REDIRECTING_ENV = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"];

export interface AgentRunnerOptions {
  /** The agent command as an argument vector; none: worktrees are prepared, nothing runs. */
  argv?: string[];
  manager: WorktreeManager;
  reporter: Reporter;
  /** Where the daemon keeps per-task files (conversations, message logs), outside every worktree. */
  stateDir: string;
  log: (line: string) => void;
  /** How often a running agent's HEAD is checked for new commits; default 250 ms. */
  commitPollMs?: number;
}

export interface AgentStart {
  taskId: string;
  name: string;
  plan: string;
  cwd: string;
  branchName: string;
  additionalContext?: string;
  conversationFile?: string;
}

interface RunningAgent {
  start: AgentStart;
  child: ChildProcess;
  /** Commits that were there before the agent started: not its checkpoints. */
  baseSha: string | null;
  reported: Set<string>;
  lastHead: string | null;
  scanning: Promise<void>;
  poll?: NodeJS.Timeout;
  interrupted: boolean;
  exited: Promise<void>;
}

type StoredMessage = NewConversationMessage & { id: string };

export class AgentRunner {
  private readonly running = new Map<string, RunningAgent>();

  constructor(private readonly options: AgentRunnerOptions) {}

  get configured(): boolean {
    return (this.options.argv?.length ?? 0) > 0;
  }

  isRunning(taskId: string): boolean {
    return this.running.has(taskId);
  }

  /** Files the daemon keeps for a task, outside its worktree. */
  taskDir(taskId: string): string {
    assertTaskId(taskId);
    return path.join(this.options.stateDir, "tasks", taskId);
  }

  /** The conversation as this daemon knows it: what it was started with, then what its agent said. */
  async conversation(taskId: string): Promise<StoredMessage[]> {
    const dir = this.taskDir(taskId);
    const messages: StoredMessage[] = [];
    try {
      const start = JSON.parse(await readFile(path.join(dir, "conversation.json"), "utf8")) as { messages?: StoredMessage[] };
      messages.push(...(start.messages ?? []));
    } catch {
      /* started without one */
    }
    try {
      for (const line of (await readFile(path.join(dir, "messages.jsonl"), "utf8")).split("\n")) {
        if (line.trim()) messages.push(JSON.parse(line) as StoredMessage);
      }
    } catch {
      /* the agent has said nothing yet */
    }
    return messages;
  }

  /** Starts the agent; resolves once the process is running (rejects if it could not start). */
  async start(start: AgentStart): Promise<void> {
    const argv = this.options.argv;
    if (!argv?.length) throw new Error("no agent command is configured");
    if (this.running.has(start.taskId)) throw new Error(`the agent of task ${start.taskId} is already running`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of REDIRECTING_ENV) delete env[name];
    Object.assign(env, {
      MAKIMA_TASK_ID: start.taskId,
      MAKIMA_TASK_NAME: start.name,
      MAKIMA_PLAN: start.plan,
      MAKIMA_WORKTREE: start.cwd,
      MAKIMA_BRANCH: start.branchName,
    });
    if (start.conversationFile) env.MAKIMA_CONVERSATION_FILE = start.conversationFile;
    if (start.additionalContext) env.MAKIMA_ADDITIONAL_CONTEXT = start.additionalContext;

    const baseSha = await head(start.cwd);
    const child = spawn(argv[0]!, argv.slice(1), { cwd: start.cwd, env, stdio: ["ignore", "pipe", "pipe"], windowsHide: true });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.on("error", (error) => this.options.log(`task ${start.taskId}: agent process: ${error.message}`));
    let exitCode: number | null = null;
    let signal: NodeJS.Signals | null = null;
    const closed = new Promise<void>((resolve) =>
      child.once("close", (code, sig) => {
        exitCode = code;
        signal = sig;
        resolve();
      }),
    );
    const agent: RunningAgent = {
      start,
      child,
      baseSha,
      reported: new Set(),
      lastHead: baseSha,
      scanning: Promise.resolve(),
      interrupted: false,
      exited: Promise.resolve(),
    };
    this.running.set(start.taskId, agent);
    this.options.log(`task ${start.taskId}: agent started (pid ${child.pid}) in ${start.cwd}`);

    const lines = createInterface({ input: child.stdout! });
    const stdoutDone = new Promise<void>((resolve) => lines.once("close", resolve));
    lines.on("line", (line) => void this.onLine(agent, line));
    createInterface({ input: child.stderr! }).on("line", (line) => this.options.log(`task ${start.taskId}: agent: ${line}`));

    agent.poll = setInterval(() => this.scanCommits(agent), this.options.commitPollMs ?? 250);
    agent.exited = (async () => {
      await Promise.all([closed, stdoutDone]);
      clearInterval(agent.poll);
      await this.scanCommits(agent);
      await agent.scanning;
      await this.pendingLines.get(start.taskId);
      this.pendingLines.delete(start.taskId);
      // What the agent leaves behind is the task's own work, not someone else's (see WorktreeManager.markTaskState).
      await this.options.manager.markTaskState(start.taskId).catch((e) => this.options.log(`task ${start.taskId}: ${(e as Error).message}`));
      this.running.delete(start.taskId);
      const status = agent.interrupted ? "interrupted" : exitCode === 0 ? "completed" : "failed";
      this.options.log(`task ${start.taskId}: agent exited (${signal ?? `code ${exitCode}`}): ${status}`);
      await this.options.reporter.report(start.taskId, { type: "taskStatus", taskId: start.taskId, status });
    })();
  }

  /** Resolves when the task's agent has exited and its last reports are queued. */
  async waitForExit(taskId: string): Promise<void> {
    await this.running.get(taskId)?.exited;
  }

  /** Stops every agent (SIGTERM, then SIGKILL after `graceMs`); their tasks are reported interrupted. */
  async stopAll(graceMs = 5000): Promise<void> {
    const agents = [...this.running.values()];
    for (const a of agents) {
      a.interrupted = true;
      a.child.kill("SIGTERM");
    }
    const kill = setTimeout(() => agents.forEach((a) => a.child.kill("SIGKILL")), graceMs);
    await Promise.all(agents.map((a) => a.exited));
    clearTimeout(kill);
  }

  // ------------------------------------------------------------ messages

  /** Per task, the handling of message lines in order (the log file must keep the agent's order). */
  private readonly pendingLines = new Map<string, Promise<void>>();
  /** Per task, lines read but not handled yet: handled together, after one look for commits. */
  private readonly waitingLines = new Map<string, string[]>();

  private onLine(agent: RunningAgent, line: string): Promise<void> {
    const taskId = agent.start.taskId;
    const waiting = this.waitingLines.get(taskId);
    if (waiting) {
      // A group is about to be handled: this line was read before its look for commits.
      waiting.push(line);
      return this.pendingLines.get(taskId)!;
    }
    const group = [line];
    this.waitingLines.set(taskId, group);
    const previous = this.pendingLines.get(taskId) ?? Promise.resolve();
    const next = previous
      .then(() => {
        this.waitingLines.delete(taskId);
        return this.handleLines(agent, group);
      })
      .catch((e) => this.options.log(`task ${taskId}: ${(e as Error).message}`));
    this.pendingLines.set(taskId, next);
    return next;
  }

  private async handleLines(agent: RunningAgent, lines: string[]): Promise<void> {
    const taskId = agent.start.taskId;
    const messages: StoredMessage[] = [];
    for (const line of lines) {
      const message = this.messageOf(taskId, line);
      if (message) messages.push(message);
    }
    if (messages.length === 0) return;
    const dir = this.taskDir(taskId);
    // Commits made by the time the lines were read are reported before them: right for "commit,
    // then say so"; a commit made just after a line but noticed only with a later one is counted
    // with that one. One look (one git call) covers every line read meanwhile.
    await this.scanCommits(agent);
    // Queued before they are in messages.jsonl: an agent that waits to see its line there before
    // committing gets a checkpoint that counts exactly the messages it printed before the commit.
    for (const message of messages) this.options.reporter.message(taskId, message);
    await mkdir(dir, { recursive: true });
    await appendFile(path.join(dir, "messages.jsonl"), messages.map((m) => `${JSON.stringify(m)}\n`).join(""));
  }

  private messageOf(taskId: string, line: string): StoredMessage | undefined {
    const text = line.trim();
    if (!text) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.options.log(`task ${taskId}: agent: ${text.slice(0, 500)}`);
      return undefined;
    }
    const parsed = NewConversationMessage.safeParse(json);
    if (!parsed.success) {
      this.options.log(`task ${taskId}: ignored a line that is not a message: ${parsed.error.issues[0]?.message ?? ""}`);
      return undefined;
    }
    // The id is fixed here, once, so that a resend of the same message is recognised.
    // Whole, however large: one too large for a WebSocket message is uploaded through S3 when sent.
    return { ...parsed.data, id: parsed.data.id ?? newId(), timestamp: parsed.data.timestamp ?? new Date().toISOString() };
  }

  // ------------------------------------------------------------ commits

  /** Reports the commits HEAD gained since the agent started, oldest first, each once. */
  private scanCommits(agent: RunningAgent): Promise<void> {
    agent.scanning = agent.scanning
      .then(() => this.reportNewCommits(agent))
      .catch((e) => this.options.log(`task ${agent.start.taskId}: commit scan failed: ${(e as Error).message}`));
    return agent.scanning;
  }

  private async reportNewCommits(agent: RunningAgent): Promise<void> {
    const { cwd, taskId } = agent.start;
    const current = await head(cwd);
    if (!current || current === agent.lastHead) return;
    agent.lastHead = current;
    const range = agent.baseSha ? [current, "--not", agent.baseSha] : [current];
    const out = await gitOut(["rev-list", "--reverse", ...range, "--"], { cwd });
    for (const sha of out ? out.split("\n") : []) {
      if (agent.reported.has(sha)) continue;
      agent.reported.add(sha);
      await this.options.reporter.report(taskId, await checkpointOf(cwd, taskId, sha, agent.start.branchName));
    }
  }
}

async function head(cwd: string): Promise<string | null> {
  const { stdout, exitCode } = await git(["rev-parse", "--quiet", "--verify", "HEAD^{commit}"], { cwd, okExitCodes: [0, 1, 128] });
  return exitCode === 0 ? stdout.trim() : null;
}

/** A commit as a `checkpointCreated` report: message, branch, changed files and line counts. */
async function checkpointOf(cwd: string, taskId: string, sha: string, fallbackBranch: string) {
  // Three reads of the repository, at once: a commit's report waits on them, and the messages after it too.
  const [shown, branch, numstat] = await Promise.all([
    gitOut(["show", "-s", "--format=%B", sha, "--"], { cwd }),
    git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd, okExitCodes: [0, 1] }),
    gitOut(["diff-tree", "--root", "--no-commit-id", "-r", "--numstat", "--no-renames", "-z", sha], { cwd }),
  ]);
  const message = shown.trim() || "(no commit message)";
  const files: string[] = [];
  let added = 0;
  let removed = 0;
  for (const record of numstat.split("\0")) {
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(record);
    if (!m) continue;
    added += m[1] === "-" ? 0 : Number(m[1]);
    removed += m[2] === "-" ? 0 : Number(m[2]);
    if (files.length < MAX_FILES_LISTED) files.push(m[3]!);
  }
  return {
    type: "checkpointCreated" as const,
    taskId,
    commitSha: sha,
    branchName: (branch.exitCode === 0 ? branch.stdout.trim() : "") || fallbackBranch,
    message: message.slice(0, MAX_CHECKPOINT_MESSAGE),
    filesChanged: files,
    linesAdded: added,
    linesRemoved: removed,
  };
}
