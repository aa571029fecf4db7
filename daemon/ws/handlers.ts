import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { realpathSync } from "node:fs";
import {
  BriefTransfer,
  ConversationTransfer,
  DaemonCommand,
  MAX_INLINE_PAYLOAD_BYTES,
  Welcome,
  type CreateBranch,
  type CreateConversationSnapshot,
  type DaemonMessage,
  type GetCheckpointDiff,
  type GitDiffInfo,
  type PreservedState,
  type PreviewRewind,
  type RewindToCheckpoint,
  type SpawnTask,
  type UndoRewind,
} from "../../core/protocol.js";
import type { WorktreeManager } from "../worktree/manager.js";
import { TASK_BRANCH_PREFIX } from "../worktree/refs.js";
import { AgentRunningError, ForeignChangesError, UnknownTaskError, ValidationError, WorktreeError, WorktreeExistsError } from "../worktree/errors.js";
import { DAEMON_IDENTITY, git, gitOut } from "../worktree/git.js";
import { assertBranchName } from "../worktree/validate.js";
import type { AgentRunner } from "./agent.js";
import type { Reporter } from "./reporter.js";
import { downloadJson, uploadJson, type TransferPolicy } from "./transfer.js";
import type { z } from "zod";

/**
 * What the daemon does with each command from the server. Everything is
 * checked again here (the schema, then the worktree module: hex SHAs, branch
 * names by `git check-ref-format`, task ids as UUIDs, safety refs under the
 * task's own prefix), whatever the server already checked. Every command gets
 * exactly one answer: its reply, or an `error` carrying its requestId and a
 * code the server maps to an HTTP status.
 */

type Cmd<T extends z.ZodType> = z.infer<T>;
type Reply = DaemonMessage;

export interface CommandHandlerOptions {
  root: string;
  manager: WorktreeManager;
  runner: AgentRunner;
  reporter: Reporter;
  /** Sends at once (replies); reports about a task go through the reporter. */
  send: (message: DaemonMessage) => Promise<void>;
  log: (line: string) => void;
  /** Where presigned transfers may come from, and how large they may be. */
  transfers: TransferPolicy;
}

export class CommandHandler {
  constructor(private readonly options: CommandHandlerOptions) {}

  /** One message from the server: parsed, checked, run, answered. Never throws. */
  async handle(text: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // API Gateway's own notices (an invocation that failed) are not commands.
      this.options.log(`server: ${text.slice(0, 300)}`);
      return;
    }
    if ((json as { type?: unknown } | null)?.type === "welcome") {
      const welcome = Welcome.safeParse(json);
      if (welcome.success && this.options.transfers.learn(welcome.data.transferOrigins)) {
        this.options.log(`transfers from ${welcome.data.transferOrigins.join(", ")}`);
      }
      return;
    }
    const parsed = DaemonCommand.safeParse(json);
    if (!parsed.success) {
      const raw = json as { requestId?: unknown; type?: unknown };
      const requestId = typeof raw?.requestId === "string" && /^[0-9a-f-]{36}$/i.test(raw.requestId) ? raw.requestId : undefined;
      // API Gateway's own notices, and the server's answer refusing one of our messages
      // (`{ error: { code, message } }`), are not commands: never answered, or the two would echo.
      if (raw && typeof raw === "object" && ("message" in raw || "error" in raw) && !("type" in raw)) {
        this.options.log(`server: ${text.slice(0, 300)}`);
        return;
      }
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "type"}: ${i.message}`).join("; ");
      this.options.log(`refused a command: ${detail}`);
      await this.send({ type: "error", ...(requestId ? { requestId } : {}), code: "invalid_command", message: `Refused the command: ${detail}` });
      return;
    }
    const command = parsed.data;
    const started = Date.now();
    this.options.log(`${command.type} ${command.requestId} for task ${command.taskId}: started`);
    let reply: Reply;
    try {
      reply = await this.run(command);
    } catch (error) {
      reply = failure(command, error, this.options.root);
    }
    reply = withRelativePaths(reply, this.options.root);
    const outcome = "success" in reply && reply.success ? "done" : `failed: ${"message" in reply ? reply.message : (reply as { error?: string }).error ?? ""}`;
    this.options.log(`${command.type} ${command.requestId} for task ${command.taskId}: ${outcome} (${Date.now() - started} ms)`);
    // A spawn's reply may reach the server after the agent's first reports: the server takes either order.
    if (command.type === "rewindToCheckpoint") {
      // The rewind's journal entry stays until its reply is out: a daemon restarted before then reports it again.
      const sent = await this.options.send(reply).then(
        () => true,
        (error: Error) => (this.options.log(`reply not sent: ${error.message}`), false),
      );
      if (sent) await this.options.manager.forgetRewind({ taskId: command.taskId, requestId: command.requestId }).catch(() => undefined);
    } else await this.send(reply);
  }

  private send(message: DaemonMessage): Promise<void> {
    return this.options.send(message).catch((error) => this.options.log(`reply not sent: ${(error as Error).message}`));
  }

  private run(command: DaemonCommand): Promise<Reply> {
    switch (command.type) {
      case "rewindToCheckpoint":
        return this.rewind(command);
      case "undoRewind":
        return this.undo(command);
      case "getCheckpointDiff":
        return this.diff(command);
      case "createConversationSnapshot":
        return this.snapshot(command);
      case "createBranch":
        return this.branch(command);
      case "spawnTask":
        return this.spawn(command);
      case "previewRewind":
        return this.preview(command);
    }
  }

  private async rewind(c: Cmd<typeof RewindToCheckpoint>): Promise<Reply> {
    const { manager } = this.options;
    try {
      const out = await manager.rewind(c.taskId, {
        checkpointSha: c.checkpointSha,
        preserveMode: c.preserveMode,
        branchName: c.branchName,
        force: c.force,
        requestId: c.requestId,
        safetyRef: c.safetyRef,
      });
      return {
        type: "rewindResult",
        requestId: c.requestId,
        taskId: c.taskId,
        success: true,
        message: out.message,
        ...(out.preservedAs ? { preservedAs: out.preservedAs } : {}),
        safetyRef: out.safetyRef,
      };
    } catch (error) {
      if (!(error instanceof ForeignChangesError)) throw error;
      return {
        type: "rewindResult",
        requestId: c.requestId,
        taskId: c.taskId,
        success: false,
        message: error.message,
        error: error.message,
        foreignChanges: error.paths,
      };
    }
  }

  private async undo(c: Cmd<typeof UndoRewind>): Promise<Reply> {
    const out = await this.options.manager.undoRewind(c.taskId, c.safetyRef);
    return { type: "undoRewindResult", requestId: c.requestId, taskId: c.taskId, success: true, restoredFrom: out.restoredFrom };
  }

  private async diff(c: Cmd<typeof GetCheckpointDiff>): Promise<Reply> {
    return this.diffReply(c, await this.options.manager.getDiff(c.taskId, c.previousSha, c.checkpointSha));
  }

  /** A rewind's dry run: answered like a diff, from the worktree as it is to the checkpoint. */
  private async preview(c: Cmd<typeof PreviewRewind>): Promise<Reply> {
    return this.diffReply(c, await this.options.manager.previewRewind(c.taskId, c.checkpointSha));
  }

  private async diffReply(c: { requestId: string; taskId: string; uploadUrl?: string }, diff: GitDiffInfo): Promise<Reply> {
    const reply: Reply = { type: "checkpointDiffResult", requestId: c.requestId, taskId: c.taskId, success: true, diff };
    if (Buffer.byteLength(JSON.stringify(reply)) <= MAX_INLINE_PAYLOAD_BYTES) return reply;
    if (!c.uploadUrl) throw new WorktreeError("too_large", "the diff is over 100 KB and the command carried no upload URL");
    await uploadJson(this.options.transfers, c.uploadUrl, diff);
    return { type: "checkpointDiffResult", requestId: c.requestId, taskId: c.taskId, success: true, diffUploaded: true };
  }

  private async snapshot(c: Cmd<typeof CreateConversationSnapshot>): Promise<Reply> {
    await this.options.manager.worktreePath(c.taskId);
    const messages = await this.options.runner.conversation(c.taskId);
    const state = { messages };
    const base = { type: "conversationSnapshotCreated" as const, requestId: c.requestId, taskId: c.taskId, success: true, messageCount: messages.length };
    const reply: Reply = { ...base, state };
    if (Buffer.byteLength(JSON.stringify(reply)) <= MAX_INLINE_PAYLOAD_BYTES) return reply;
    if (!c.uploadUrl) throw new WorktreeError("too_large", "the conversation state is over 100 KB and the command carried no upload URL");
    await uploadJson(this.options.transfers, c.uploadUrl, state);
    return { ...base, stateUploaded: true };
  }

  private async branch(c: Cmd<typeof CreateBranch>): Promise<Reply> {
    const out = await this.options.manager.createBranch(c.taskId, c.branchName, c.commitSha);
    return { type: "branchCreated", requestId: c.requestId, taskId: c.taskId, success: true, branchName: out.branchName, commitSha: out.commitSha };
  }

  /**
   * A worktree for the task (its own if it has one; else at the commit of the
   * source task's repository; else a worktree of the user's repository with
   * --repo; else a new repository), the conversation it starts with, then
   * its agent.
   */
  private async spawn(c: Cmd<typeof SpawnTask>): Promise<Reply> {
    const { manager, runner } = this.options;
    if (runner.isRunning(c.taskId)) throw new AgentRunningError(c.taskId);
    let cwd: string;
    let branchName: string;
    let commitSha: string;
    const own = await manager.worktreePath(c.taskId, { adopt: false }).catch((error) => {
      if (error instanceof UnknownTaskError) return undefined;
      throw error;
    });
    let rewound: { safetyRef: string; preservedAs?: PreservedState } | undefined;
    if (own) {
      cwd = own;
      if (c.resetToCommit && c.commitSha) {
        // Resuming from a checkpoint: back to its commit, the way a rewind does it (safety ref, work kept on a branch).
        const out = await manager.rewind(c.taskId, { checkpointSha: c.commitSha, preserveMode: "create_branch", safetyRef: c.safetyRef });
        rewound = { safetyRef: out.safetyRef, preservedAs: out.preservedAs };
      }
      // Otherwise continuing in place: the worktree stays as the task left it.
      commitSha = await gitOut(["rev-parse", "HEAD"], { cwd });
      const branch = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd, okExitCodes: [0, 1] });
      branchName = branch.stdout.trim() || c.branchName || "HEAD";
    } else if (c.sourceTaskId) {
      const source = await manager.worktreePath(c.sourceTaskId);
      const created = await manager.createWorktree(c.taskId, {
        sourceTaskId: c.sourceTaskId,
        commitSha: c.commitSha ?? (await gitOut(["rev-parse", "HEAD"], { cwd: source })),
        branchName: c.branchName,
      });
      ({ path: cwd, branchName, commitSha } = created);
    } else if (manager.repo) {
      // The user's repository: the task starts at the commit it names, else at the repository's HEAD.
      const start = c.commitSha ?? (await gitOut(["rev-parse", "HEAD"], { cwd: manager.repo }));
      ({ path: cwd, branchName, commitSha } = await manager.createWorktree(c.taskId, { sourceRepo: manager.repo, commitSha: start, branchName: c.branchName }));
    } else if (c.commitSha) {
      throw new ValidationError("commit SHA", c.commitSha, "no repository of this daemon is known to hold it (the command names no source task)");
    } else {
      ({ cwd, branchName, commitSha } = await this.newRepository(c.taskId, c.branchName));
    }

    const conversationFile = await this.prepareConversation(c.taskId, c.conversationUrl);
    // A long plan and context came through S3 (the command stays under a WebSocket message's size).
    const brief = c.briefUrl ? await downloadJson(this.options.transfers, c.briefUrl, BriefTransfer) : c;
    if (runner.configured) {
      await runner.start({
        taskId: c.taskId,
        name: c.name,
        plan: brief.plan ?? "",
        cwd,
        branchName,
        additionalContext: brief.additionalContext,
        conversationFile,
      });
    } else {
      // Nothing to run it: the worktree is ready for whoever works in it.
      void this.options.reporter.report(c.taskId, { type: "taskStatus", taskId: c.taskId, status: "paused" });
    }
    return { type: "taskSpawned", requestId: c.requestId, taskId: c.taskId, success: true, branchName, commitSha, ...rewound };
  }

  /** `<root>/<taskId>` as a new repository with one empty commit, for a task that starts from nothing. */
  private async newRepository(taskId: string, branch?: string) {
    const { root, manager } = this.options;
    const dir = path.join(root, taskId);
    const branchName = branch ?? `${TASK_BRANCH_PREFIX}/${taskId.slice(0, 8)}`;
    await mkdir(root, { recursive: true });
    await assertBranchName(branchName, root);
    try {
      if ((await readdir(dir)).length > 0) throw new WorktreeExistsError(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    await git(["init", "--quiet", `--initial-branch=${branchName}`, "--", dir], { cwd: root });
    await git(["-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty", "-m", `makima: start of task ${taskId}`], {
      cwd: dir,
      env: DAEMON_IDENTITY,
    });
    const cwd = await manager.registerExisting(taskId, dir);
    await manager.markTaskState(taskId);
    return { cwd, branchName, commitSha: await gitOut(["rev-parse", "HEAD"], { cwd }) };
  }

  /** The conversation the task starts with, in a file outside its worktree; the daemon's own log starts over. */
  private async prepareConversation(taskId: string, url?: string): Promise<string | undefined> {
    const dir = this.options.runner.taskDir(taskId);
    await mkdir(dir, { recursive: true });
    await rm(path.join(dir, "messages.jsonl"), { force: true });
    const file = path.join(dir, "conversation.json");
    if (!url) {
      await rm(file, { force: true });
      return undefined;
    }
    const conversation = await downloadJson(this.options.transfers, url, ConversationTransfer);
    await writeFile(file, JSON.stringify(conversation));
    return file;
  }
}

/**
 * A failed command as the `error` message the server settles its operation
 * with. Paths in it are relative to the daemon's root: the server learns
 * nothing of the machine's layout.
 */
function failure(command: DaemonCommand, error: unknown, root: string): Reply {
  const code =
    error instanceof AgentRunningError ? "task_running" : error instanceof WorktreeError ? error.code : "daemon_error";
  const message = relativeToRoot(error instanceof Error ? error.message : String(error), root);
  return { type: "error", requestId: command.requestId, code, message: message.slice(0, 10_000) };
}

/** A reply whose `message` and `error` texts name paths relative to the root. */
function withRelativePaths(reply: Reply, root: string): Reply {
  const out = { ...reply } as Reply & { message?: unknown; error?: unknown };
  if (typeof out.message === "string") out.message = relativeToRoot(out.message, root);
  if (typeof out.error === "string") out.error = relativeToRoot(out.error, root);
  return out;
}

export function relativeToRoot(message: string, root: string): string {
  const roots = [path.resolve(root)];
  try {
    roots.push(realpathSync(root));
  } catch {
    /* the root may be gone */
  }
  let out = message;
  for (const r of [...new Set(roots)].sort((a, b) => b.length - a.length)) {
    out = out.split(`${r}${path.sep}`).join("").split(r).join(".");
  }
  return out;
}
