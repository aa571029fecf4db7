import { spawn, type ChildProcess } from "node:child_process";
import { appendFile, mkdir, open, readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { NewConversationMessage } from "../../core/models.js";
import { STDERR_TAIL_LINES } from "../../core/protocol.js";
import type { WorktreeManager } from "../worktree/manager.js";
import { git } from "../worktree/git.js";
import { checkpointOf, head } from "./commitReport.js";
import { assertTaskId } from "../worktree/validate.js";
import { commitHookEnv, installCommitHooks, type JournalEntry } from "../worktree/commitHook.js";
import { AgentOutput, type AgentEvent } from "./agentOutput.js";
import type { Reporter } from "./reporter.js";
import { lineTranslator, messagesOfLine, promptArgs, type AgentFormat, type LineTranslator } from "./agentFormats.js";

/**
 * Runs a task's agent: the configured command (an argument vector, no shell)
 * in the task's worktree. The agent speaks JSON lines on stdout
 * (`{"role":"assistant","content":"…"}`), which go to the server as
 * `taskMessages` with ids; each commit it makes becomes a `checkpointCreated`;
 * its exit becomes `taskStatus` completed or failed.
 *
 * The agent's stdout goes to a file, and its git runs the daemon's hooks
 * (commitHook.ts), which note how much of that file was written when each
 * commit was made: a checkpoint follows exactly the messages the agent had
 * printed before the git command that made it, however fast the agent prints
 * and whether or not it waits for anything. A commit no hook noted (made by
 * another git, outside the agent) is found by looking at HEAD, and reported
 * where it is found; the log says so.
 */


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
  /** How often a running agent's HEAD is checked for commits no hook noted; default 250 ms. */
  commitPollMs?: number;
  /** How long a HEAD must stay unnoted (its hook may still be running) before it is reported as found by polling; default 5 s. */
  unnotedGraceMs?: number;
  /** How often the agent's stdout and commit journal are read; default 20 ms. */
  outputPollMs?: number;
  /** What the agent's lines are (agentFormats.ts); default `makima`, a message a line. */
  agentFormat?: AgentFormat;
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
  output: AgentOutput;
  /** The worktree as the hook names it (symbolic links resolved). */
  toplevel: string;
  /** Commits that were there before the agent started: not its checkpoints. */
  baseSha: string | null;
  reported: Set<string>;
  lastHead: string | null;
  /** A HEAD no hook noted, and since when: reported once it has stayed unnoted for the grace. */
  unnotedHead: string | null;
  unnotedSince: number;
  /** Reading output, reporting commits: one at a time, in order. */
  pumping: Promise<void>;
  timers: NodeJS.Timeout[];
  interrupted: boolean;
  exited: Promise<void>;
  /** Its lines as messages, per the agent format (one translator a run: it joins results to calls). */
  translate: LineTranslator;
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

    const dir = this.taskDir(start.taskId);
    await mkdir(dir, { recursive: true });
    const files = { stdoutFile: path.join(dir, "stdout.log"), journalFile: path.join(dir, "commits.log") };
    const hooksDir = await (this.hooks ??= installCommitHooks(this.options.stateDir));
    const hookedEnv = await commitHookEnv(env, { ...files, hooksDir, cwd: start.cwd });
    await open(files.journalFile, "w").then((f) => f.close());
    const stdout = await open(files.stdoutFile, "w");

    const baseSha = await head(start.cwd);
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, [...argv.slice(1), ...promptArgs(this.options.agentFormat, start)], { cwd: start.cwd, env: hookedEnv, stdio: ["ignore", stdout.fd, "pipe"], windowsHide: true });
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", reject);
      });
    } finally {
      await stdout.close();
    }
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
      output: new AgentOutput(files.stdoutFile, files.journalFile),
      toplevel: await realpath(start.cwd).catch(() => start.cwd),
      baseSha,
      reported: new Set(),
      lastHead: baseSha,
      unnotedHead: null,
      unnotedSince: 0,
      pumping: Promise.resolve(),
      timers: [],
      interrupted: false,
      exited: Promise.resolve(),
      translate: lineTranslator(this.options.agentFormat ?? "makima"),
    };
    this.running.set(start.taskId, agent);
    this.options.log(`task ${start.taskId}: agent started (pid ${child.pid}) in ${start.cwd}`);
    const stderrTail: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      this.options.log(`task ${start.taskId}: agent: ${line}`);
      stderrTail.push(line.slice(0, 1000));
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    });

    agent.timers.push(
      setInterval(() => void this.pump(agent, () => this.readOutput(agent)), this.options.outputPollMs ?? 20),
      setInterval(() => void this.pump(agent, () => this.lookForUnnotedCommits(agent, false)), this.options.commitPollMs ?? 250),
    );
    agent.exited = (async () => {
      await closed;
      agent.timers.forEach(clearInterval);
      await this.pump(agent, async () => {
        await this.readOutput(agent);
        await this.handleEvents(agent, [{ line: agent.output.takeUnfinishedLine() ?? "" }]);
        await this.lookForUnnotedCommits(agent, true);
      });
      await agent.output.close();
      // What the agent leaves behind is the task's own work, not someone else's (see WorktreeManager.markTaskState).
      await this.options.manager.markTaskState(start.taskId).catch((e) => this.options.log(`task ${start.taskId}: ${(e as Error).message}`));
      this.running.delete(start.taskId);
      const status = agent.interrupted ? "interrupted" : exitCode === 0 ? "completed" : "failed";
      this.options.log(`task ${start.taskId}: agent exited (${signal ?? `code ${exitCode}`}): ${status}`);
      await this.options.reporter.report(start.taskId, { type: "taskStatus", taskId: start.taskId, status, exit: { exitCode, signal, stderrTail } });
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

  // ------------------------------------------------------------ output, in order

  /** The daemon's hooks folder, written once. */
  private hooks?: Promise<string>;

  /** Runs one step of a task's output handling after the ones before it. */
  private pump(agent: RunningAgent, step: () => Promise<void>): Promise<void> {
    agent.pumping = agent.pumping.then(step).catch((e) => this.options.log(`task ${agent.start.taskId}: ${(e as Error).message}`));
    return agent.pumping;
  }

  private async readOutput(agent: RunningAgent): Promise<void> {
    await this.handleEvents(agent, await agent.output.next());
  }

  /** Lines become messages; a commit is reported after the messages printed before it. */
  private async handleEvents(agent: RunningAgent, events: AgentEvent[]): Promise<void> {
    let messages: StoredMessage[] = [];
    for (const event of events) {
      if ("line" in event) {
        messages.push(...this.messagesOf(agent, event.line));
        continue;
      }
      await this.queueMessages(agent, messages);
      messages = [];
      await this.reportNotedCommit(agent, event.commit);
    }
    await this.queueMessages(agent, messages);
  }

  private async queueMessages(agent: RunningAgent, messages: StoredMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const taskId = agent.start.taskId;
    for (const message of messages) this.options.reporter.message(taskId, message);
    await appendFile(path.join(this.taskDir(taskId), "messages.jsonl"), messages.map((m) => `${JSON.stringify(m)}\n`).join(""));
  }

  private messagesOf(agent: RunningAgent, line: string): StoredMessage[] {
    return messagesOfLine(agent.translate, line, (text) => this.options.log(`task ${agent.start.taskId}: ${text}`));
  }

  // ------------------------------------------------------------ commits

  /** A ref transaction of the agent's own git, in its worktree: the commits HEAD gained by then. */
  private async reportNotedCommit(agent: RunningAgent, entry: JournalEntry): Promise<void> {
    if (entry.toplevel !== agent.toplevel && entry.toplevel !== agent.start.cwd) return;
    agent.unnotedHead = null;
    await this.reportCommitsUpTo(agent, entry.head);
  }

  /**
   * HEAD moved without a hook noting it (a git outside the agent): reported
   * once it has stayed so for the grace (a busy machine can hold a hook back
   * well past one look), or at once when the agent has exited (its hooks
   * have all run by then).
   */
  private async lookForUnnotedCommits(agent: RunningAgent, exited: boolean): Promise<void> {
    if (!exited) await this.readOutput(agent);
    const current = await head(agent.start.cwd);
    if (!current || current === agent.lastHead) {
      agent.unnotedHead = null;
      return;
    }
    if (!exited && agent.unnotedHead !== current) {
      agent.unnotedHead = current;
      agent.unnotedSince = Date.now();
      return;
    }
    if (!exited && Date.now() - agent.unnotedSince < (this.options.unnotedGraceMs ?? 5_000)) return;
    agent.unnotedHead = null;
    const before = agent.reported.size;
    await this.reportCommitsUpTo(agent, current, { foundByPolling: true });
    if (agent.reported.size > before) {
      this.options.log(`task ${agent.start.taskId}: ${agent.reported.size - before} commit(s) made outside the agent's git, placed where they were found`);
    }
  }

  /** Reports the commits `sha` holds that were not there when the agent started, oldest first, each once. */
  private async reportCommitsUpTo(agent: RunningAgent, sha: string, found: { foundByPolling?: true } = {}): Promise<void> {
    const { cwd, taskId } = agent.start;
    agent.lastHead = sha;
    const range = agent.baseSha ? [sha, "--not", agent.baseSha] : [sha];
    const out = await git(["rev-list", "--reverse", ...range, "--"], { cwd, okExitCodes: [0, 128] });
    if (out.exitCode !== 0) return;
    for (const commit of out.stdout.trim() ? out.stdout.trim().split("\n") : []) {
      if (agent.reported.has(commit)) continue;
      agent.reported.add(commit);
      await this.options.reporter.report(taskId, { ...(await checkpointOf(cwd, taskId, commit, agent.start.branchName)), ...found });
    }
  }
}
