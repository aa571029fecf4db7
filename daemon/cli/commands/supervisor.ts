import { Command, Option } from "commander";
import { isUuid, resolveContract, resolveTask, uuidArg } from "../config.js";
import { CliError, usage } from "../errors.js";
import { now } from "../output.js";
import {
  chat,
  checkpointsTable,
  diffPatch,
  diffStat,
  messagesTable,
  shortSha,
  statLine,
  type Checkpoint,
  type CheckpointDiff,
  type DiffStats,
  type Message,
  type Task,
} from "../render.js";
import {
  allCheckpoints,
  checkpointByNumber,
  checkpointNumberArg,
  confirm,
  commonOptions,
  intOption,
  session,
  startedText,
  type StartedOn,
  timeArg,
  withSpinner,
  type ApiOpts,
} from "./common.js";

/**
 * `makima supervisor …`: what a supervisor (or its user) does with a task's
 * past: read its conversation and checkpoints, diff a checkpoint, resume,
 * rewind, fork. Tasks are named by id (or MAKIMA_TASK_ID), checkpoints by
 * the number users see; the contract by --contract (or MAKIMA_CONTRACT_ID).
 */

const diffPath = (taskId: string, checkpointId: string) => `/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpointId}/diff`;

/** Two optional positionals where the first may be left to MAKIMA_TASK_ID: `checkpoint-diff 3`. */
function taskAndNumber(a: string | undefined, b: string | undefined, command: string): { taskId: string; n: number } {
  if (b === undefined && a !== undefined && /^\d+$/.test(a)) [a, b] = [undefined, a];
  if (b === undefined) throw usage(`give the checkpoint number: makima supervisor ${command} <taskId> <checkpointNumber>`);
  return { taskId: resolveTask(a), n: checkpointNumberArg(b) };
}

export function supervisorCommand(): Command {
  const sup = new Command("supervisor").description("a task's conversation and checkpoints; resume, rewind and fork");
  const cmd = (name: string, description: string) => sup.command(name).description(description);

  // ---------------------------------------------------------------- reading

  commonOptions(
    cmd("task-history", "a task's conversation, oldest first")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .option("--no-tool-calls", "leave out tool calls, tool messages and tool results")
      .option("--limit <n>", "at most this many messages (default: all)", intOption(1))
      .option("--cursor <cursor>", "continue where a previous page stopped")
      .option("--full", "fetch messages that were cut to fit a page whole"),
    ["chat", "table", "json"],
    "chat",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { toolCalls: boolean; limit?: number; cursor?: string; full?: boolean }) => {
    const taskId = resolveTask(taskArg);
    const { out, api } = session(opts);
    const flag = String(opts.toolCalls);
    const page = await api.all<Message>(
      `/api/v1/mesh/tasks/${taskId}/conversation`,
      "messages",
      { include_tool_calls: flag, include_tool_results: flag, cursor: opts.cursor },
      opts.limit ?? Infinity,
    );
    let messages = opts.toolCalls ? page.items : page.items.filter((m) => m.role !== "tool");
    if (opts.full) {
      messages = await Promise.all(
        messages.map((m) => (m.truncated ? api.get<Message>(`/api/v1/mesh/tasks/${taskId}/messages/${encodeURIComponent(m.id)}`) : m)),
      );
      if (!opts.toolCalls) messages = messages.map(({ toolCalls: _c, toolInput: _i, toolResult: _r, ...m }) => m);
    }
    if (opts.format === "json") return out.json({ taskId, messages, nextCursor: page.nextCursor });
    if (!messages.length) return out.line(page.items.length ? "no messages other than tool messages" : "no messages yet");
    out.lines(opts.format === "table" ? messagesTable(out.c, messages, now()) : chat(out.c, messages, now(), { toolCalls: opts.toolCalls }));
    if (page.nextCursor) out.line(out.c.dim(`… more: --cursor ${page.nextCursor}`));
  });

  commonOptions(
    cmd("checkpoint-list", "a task's checkpoints, oldest first")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .option("--with-diff", "ask the daemon for each checkpoint's diff stats"),
    ["table", "json"],
    "table",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { withDiff?: boolean }) => {
    const taskId = resolveTask(taskArg);
    const { out, api } = session(opts);
    const items: Array<Checkpoint & { diffStats?: DiffStats }> = await allCheckpoints(api, taskId);
    if (opts.withDiff) {
      // One at a time: each is a git diff on the user's machine.
      for (const cp of items) {
        const diff = await api.relayed<CheckpointDiff>("GET", diffPath(taskId, cp.id), undefined, `asking the daemon for the diff of checkpoint ${cp.checkpointNumber}…`);
        cp.diffStats = diff.stats;
      }
    }
    if (opts.format === "json") return out.json({ taskId, items });
    if (!items.length) return out.line("no checkpoints yet");
    out.lines(checkpointsTable(out.c, items, now()));
  });

  commonOptions(
    cmd("checkpoint-diff", "the code a checkpoint changed, as git shows it (from the task's daemon)")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .argument("[checkpointNumber]", "the checkpoint's number (see checkpoint-list)"),
    ["patch", "stat", "json"],
    "patch",
  ).action(async (a: string | undefined, b: string | undefined, opts: ApiOpts) => {
    const { taskId, n } = taskAndNumber(a, b, "checkpoint-diff");
    const { out, api } = session(opts);
    const checkpoint = await checkpointByNumber(api, taskId, n);
    const diff = await api.relayed<CheckpointDiff>("GET", diffPath(taskId, checkpoint.id), undefined, `asking the daemon for the diff of checkpoint ${n}…`);
    if (opts.format === "json") return out.json(diff);
    const c = out.c;
    const against = diff.previousSha ? `compared with ${shortSha(diff.previousSha)}` : "compared with its parent commit";
    out.line(`${c.yellow(`checkpoint ${n} ${shortSha(diff.commitSha)}`)} ${JSON.stringify(checkpoint.message)} ${c.dim(`(${against})`)}`);
    out.lines(diffStat(c, diff.files));
    out.line(` ${statLine(diff.stats)}`);
    if (opts.format === "patch" && diff.files.length) {
      out.line();
      out.lines(diffPatch(c, diff.files));
    }
  });

  // ---------------------------------------------------------------- resume

  commonOptions(
    cmd("resume", "resume the contract's supervisor after an interruption")
      .option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)")
      .addOption(new Option("--mode <mode>", "continue: keep its conversation; restart_phase: drop what it said in this phase; from_checkpoint: go back to a checkpoint").choices(["continue", "restart_phase", "from_checkpoint"]).default("continue"))
      .option("--checkpoint <id>", "the supervisor's checkpoint, by id or number (with --mode from_checkpoint)")
      .option("--context <text>", "extra context for the supervisor to start with")
      .option("--daemon <id>", "start it on this daemon only"),
    ["text", "json"],
    "text",
  ).action(async (opts: ApiOpts & { contract?: string; mode: string; checkpoint?: string; context?: string; daemon?: string }) => {
    const contractId = resolveContract(opts.contract);
    if (opts.mode === "from_checkpoint" && !opts.checkpoint) throw usage("--mode from_checkpoint needs --checkpoint <id or number>");
    if (opts.checkpoint && opts.mode !== "from_checkpoint") throw usage("--checkpoint goes with --mode from_checkpoint");
    const targetDaemonId = opts.daemon ? uuidArg(opts.daemon, "daemon") : undefined;
    const { out, api } = session(opts);
    let checkpointId: string | undefined;
    if (opts.checkpoint) {
      if (isUuid(opts.checkpoint)) checkpointId = opts.checkpoint.toLowerCase();
      else {
        const n = checkpointNumberArg(opts.checkpoint);
        const contract = await api.get<{ supervisorTaskId?: string }>(`/api/v1/contracts/${contractId}`);
        if (!contract.supervisorTaskId) throw new CliError(`contract ${contractId} has no supervisor [404 not_found]`);
        checkpointId = (await checkpointByNumber(api, contract.supervisorTaskId, n)).id;
      }
    }
    const result = await api.post<{ supervisorTaskId: string; resumeMode: string } & StartedOn>(
      `/api/v1/contracts/${contractId}/supervisor/resume`,
      { resumeMode: opts.mode, checkpointId, additionalContext: opts.context, targetDaemonId },
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor ${result.supervisorTaskId} of contract ${contractId} resumed (${result.resumeMode}): ${await startedText(api, result.supervisorTaskId, result)}.`);
    if (opts.mode !== "continue") out.line(out.c.dim("Hidden messages stay stored: `makima supervisor restore-conversation` brings them back."));
  });

  commonOptions(
    cmd("task-resume", "continue an interrupted task in place")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .addOption(new Option("--mode <mode>", "with_context: keep its conversation; clean_restart: start without it; from_checkpoint: go back to a checkpoint").choices(["with_context", "clean_restart", "from_checkpoint"]).default("with_context"))
      .option("--checkpoint <sha>", "the checkpoint's commit SHA or number (with --mode from_checkpoint)")
      .option("--context <text>", "extra context for the agent to start with")
      .option("--daemon <id>", "start it on this daemon only"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { mode: string; checkpoint?: string; context?: string; daemon?: string }) => {
    const taskId = resolveTask(taskArg);
    if (opts.mode === "from_checkpoint" && !opts.checkpoint) throw usage("--mode from_checkpoint needs --checkpoint <sha or number>");
    if (opts.checkpoint && opts.mode !== "from_checkpoint") throw usage("--checkpoint goes with --mode from_checkpoint");
    if (opts.checkpoint && !/^([0-9a-f]{7,64}|\d{1,6})$/i.test(opts.checkpoint)) throw usage(`--checkpoint "${opts.checkpoint}" is neither a commit SHA nor a checkpoint number`);
    const targetDaemonId = opts.daemon ? uuidArg(opts.daemon, "daemon") : undefined;
    const { out, api } = session(opts);
    let checkpointSha = opts.checkpoint?.toLowerCase();
    // Up to six digits is a checkpoint number; a SHA is at least seven hex digits.
    if (opts.checkpoint && /^\d{1,6}$/.test(opts.checkpoint)) {
      checkpointSha = (await checkpointByNumber(api, taskId, checkpointNumberArg(opts.checkpoint))).commitSha;
    }
    const task = await api.post<Task>(`/api/v1/mesh/tasks/${taskId}/continue`, {
      mode: opts.mode,
      checkpointSha,
      additionalContext: opts.context,
      targetDaemonId,
    });
    if (opts.format === "json") return out.json(task);
    const where =
      task.status !== "pending"
        ? task.status
        : await startedText(api, task.id, {
            start: task.startingOperationId ? "starting" : "waiting",
            operationId: task.startingOperationId,
            daemonId: task.daemonId,
            startError: task.lastStartError,
          });
    out.line(`Task ${task.id} "${task.name}" continues (${opts.mode}): ${where}.`);
  });

  commonOptions(
    cmd("task-resume-from", "start a new task from one of a task's checkpoints")
      .argument("[taskId]", "the source task (else MAKIMA_TASK_ID)")
      .requiredOption("--checkpoint <number>", "the checkpoint to start from")
      .requiredOption("--plan <text>", "the new task's plan")
      .option("--name <name>", "the new task's name (default: the source's, with the checkpoint)")
      .option("--include-conversation", "start with the conversation as it was at the checkpoint")
      .option("--daemon <id>", "start it on this daemon only"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { checkpoint: string; plan: string; name?: string; includeConversation?: boolean; daemon?: string }) => {
    const taskId = resolveTask(taskArg);
    const n = checkpointNumberArg(opts.checkpoint);
    const targetDaemonId = opts.daemon ? uuidArg(opts.daemon, "daemon") : undefined;
    const { out, api } = session(opts);
    const checkpoint = await checkpointByNumber(api, taskId, n);
    const result = await api.post<{ task: Task } & StartedOn>(
      `/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpoint.id}/resume`,
      { taskName: opts.name, plan: opts.plan, includeConversation: opts.includeConversation ?? false, targetDaemonId },
    );
    if (opts.format === "json") return out.json(result);
    const t = result.task;
    out.line(`New task ${t.id} "${t.name}" from checkpoint ${n} (${shortSha(checkpoint.commitSha)}) of ${taskId}, on branch ${t.branchName}: ${await startedText(api, t.id, result)}.`);
  });

  // ---------------------------------------------------------------- rewind

  commonOptions(
    cmd("task-rewind", "put a task's code back to a checkpoint (the current state is saved first)")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .requiredOption("--checkpoint <number>", "the checkpoint to go back to")
      .addOption(new Option("--preserve <mode>", "what to do with the work after it: keep it on a branch, in a stash, or discard it").choices(["discard", "create_branch", "stash"]).default("create_branch"))
      .option("--branch-name <name>", "the branch that keeps the work (with --preserve create_branch)")
      .option("--force", "go ahead even if the worktree holds changes the task did not make")
      .option("-y, --yes", "do not ask before discarding work"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { checkpoint: string; preserve: string; branchName?: string; force?: boolean; yes?: boolean }) => {
    const taskId = resolveTask(taskArg);
    const n = checkpointNumberArg(opts.checkpoint);
    if (opts.branchName && opts.preserve !== "create_branch") throw usage("--branch-name goes with --preserve create_branch");
    const { out, api } = session(opts);
    const checkpoint = await checkpointByNumber(api, taskId, n);
    if ((opts.preserve === "discard" || opts.force) && !opts.yes) {
      const c = out.ce;
      const kept =
        opts.preserve === "discard"
          ? c.red("The work after it is discarded from the worktree (no branch, no stash).")
          : opts.preserve === "stash"
            ? "The work after it is kept in a git stash."
            : `The work after it is kept on branch ${opts.branchName ?? "makima/preserved/…"}.`;
      out.note(
        [
          `Rewinding task ${taskId} to checkpoint ${n} (${shortSha(checkpoint.commitSha)} ${JSON.stringify(checkpoint.message)}).`,
          kept,
          ...(opts.force ? [c.red("--force: changes the task did not make are overwritten too.")] : []),
          `Everything (commits, uncommitted and untracked files) is first saved under a safety ref: \`makima supervisor undo-rewind ${taskId}\` brings it back until retention removes it.`,
        ].join("\n"),
      );
      await confirm("Rewind?", "--yes");
    }
    const result = await api.relayed<RewindResult>(
      "POST",
      `/api/v1/mesh/tasks/${taskId}/rewind`,
      { checkpointId: checkpoint.id, preserveMode: opts.preserve, branchName: opts.branchName, force: opts.force },
      `rewinding task ${taskId.slice(-8)} to checkpoint ${n}…`,
    );
    if (opts.format === "json") return out.json(result);
    out.lines(rewindText(taskId, result));
  });

  commonOptions(
    cmd("undo-rewind", "undo a task's code rewind: the worktree as it was just before it")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .option("--rewind <id>", "which rewind (default: the latest not undone)"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { rewind?: string }) => {
    const taskId = resolveTask(taskArg);
    const rewindId = opts.rewind ? uuidArg(opts.rewind, "rewind") : undefined;
    const { out, api } = session(opts);
    const result = await api.relayed<{ taskId: string; restoredFrom: string }>(
      "POST",
      `/api/v1/mesh/tasks/${taskId}/rewind/undo`,
      { rewindId },
      `undoing the rewind of task ${taskId.slice(-8)}…`,
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Task ${taskId}: the worktree is back as it was before the rewind (from ${result.restoredFrom}).`);
  });

  commonOptions(
    cmd("rewind-conversation", "rewind the contract's supervisor conversation (hidden messages stay stored)")
      .option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)")
      .option("--by-messages <n>", "hide the last n messages", intOption(1))
      .option("--to-message <id>", "keep messages up to and including this one")
      .option("--to-time <time>", "keep messages sent at or before this time (ISO 8601)")
      .option("--rewind-code", "also put the supervisor's code back to the checkpoint taken at or before that point")
      .option("--force", "with --rewind-code: go ahead over changes the supervisor did not make (they are kept under the safety ref)"),
    ["text", "json"],
    "text",
  ).action(async (opts: ApiOpts & { contract?: string; byMessages?: number; toMessage?: string; toTime?: string; rewindCode?: boolean; force?: boolean }) => {
    const contractId = resolveContract(opts.contract);
    const given = [opts.byMessages, opts.toMessage, opts.toTime].filter((v) => v !== undefined).length;
    if (given !== 1) throw usage("give exactly one of --by-messages <n>, --to-message <id>, --to-time <time>");
    const body = {
      byMessageCount: opts.byMessages,
      toMessageId: opts.toMessage,
      toTimestamp: timeArg(opts.toTime, "--to-time"),
      rewindCode: opts.rewindCode,
      force: opts.force,
    };
    const { out, api } = session(opts);
    const result = await withSpinner(opts.rewindCode ? "rewinding the conversation and the code…" : "rewinding the conversation…", () =>
      api.post<ConversationRewindResult>(`/api/v1/contracts/${contractId}/supervisor/conversation/rewind`, body),
    );
    // A code rewind the daemon has not finished yet: follow it, so the answer is whole.
    if (result.codeRewind && "operationId" in result.codeRewind) {
      const pending = result.codeRewind.operationId;
      result.codeRewind = (await withSpinner("waiting for the daemon to rewind the code…", () => api.follow(pending))) as RewindResult;
    }
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor conversation rewound: ${result.messageCount} messages kept, ${result.hiddenCount} hidden (\`makima supervisor restore-conversation\` brings them back).`);
    if (result.codeRewind) out.lines(rewindText(result.supervisorTaskId, result.codeRewind as RewindResult));
  });

  commonOptions(
    cmd("restore-conversation", "undo a supervisor conversation rewind: hidden messages are visible again")
      .option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)")
      .option("--rewind <id>", "which rewind (default: the latest)"),
    ["text", "json"],
    "text",
  ).action(async (opts: ApiOpts & { contract?: string; rewind?: string }) => {
    const contractId = resolveContract(opts.contract);
    const rewindId = opts.rewind ? uuidArg(opts.rewind, "rewind") : undefined;
    const { out, api } = session(opts);
    const result = await api.post<{ taskId: string; rewindId: string; messageCount: number }>(
      `/api/v1/contracts/${contractId}/supervisor/conversation/restore`,
      { rewindId },
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor conversation restored (rewind ${result.rewindId} undone): ${result.messageCount} messages visible.`);
  });

  // ---------------------------------------------------------------- fork

  commonOptions(
    cmd("task-fork", "fork a task from a checkpoint: a new task on its own branch")
      .argument("[taskId]", "the source task (else MAKIMA_TASK_ID)")
      .requiredOption("--checkpoint <number>", "the checkpoint to fork from")
      .requiredOption("--name <name>", "the new task's name")
      .requiredOption("--plan <text>", "the new task's plan")
      .option("--no-include-conversation", "start without the conversation up to the checkpoint")
      .option("--branch-name <name>", "the new task's branch (default makima/fork/<task>-cp<n>)")
      .option("--daemon <id>", "start it on this daemon only"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { checkpoint: string; name: string; plan: string; includeConversation: boolean; branchName?: string; daemon?: string }) => {
    const taskId = resolveTask(taskArg);
    const n = checkpointNumberArg(opts.checkpoint);
    const targetDaemonId = opts.daemon ? uuidArg(opts.daemon, "daemon") : undefined;
    const { out, api } = session(opts);
    const result = await api.post<ForkResult>(`/api/v1/mesh/tasks/${taskId}/fork`, {
      forkFromType: "checkpoint",
      forkFromValue: String(n),
      newTaskName: opts.name,
      newTaskPlan: opts.plan,
      includeConversation: opts.includeConversation,
      branchName: opts.branchName,
      targetDaemonId,
    });
    if (opts.format === "json") return out.json(result);
    const conversation = opts.includeConversation ? `with the conversation up to it (${result.forkPoint.messageCount} messages)` : "without its conversation";
    out.line(`Forked task ${taskId} at checkpoint ${n} into task ${result.task.id} "${result.task.name}", ${conversation}.`);
    out.line(`Branch ${result.branchName ?? "(none)"} at ${shortSha(result.task.baseSha)}: ${await startedText(api, result.task.id, result)}.`);
  });

  return sup;
}

interface RewindResult {
  taskId: string;
  rewindId: string;
  checkpoint: Checkpoint;
  preservedAs?: { type: "branch" | "stash"; reference: string };
  safetyRef: string;
}

interface ConversationRewindResult {
  contractId: string;
  supervisorTaskId: string;
  rewindId: string;
  messageCount: number;
  hiddenCount: number;
  codeRewind?: RewindResult | { operationId: string; status: "pending" };
}

interface ForkResult extends StartedOn {
  task: Task;
  sourceTaskId: string;
  forkPoint: { type: string; value: string; checkpointId?: string; messageCount: number };
  branchName?: string;
}

/** What a code rewind did, where the work went, and how to undo it. */
function rewindText(taskId: string, r: RewindResult): string[] {
  const cp = r.checkpoint;
  const kept =
    r.preservedAs?.type === "branch"
      ? `Work kept on branch ${r.preservedAs.reference} (git switch ${r.preservedAs.reference} to see it).`
      : r.preservedAs?.type === "stash"
        ? `Work kept in stash ${r.preservedAs.reference} (git stash apply ${r.preservedAs.reference}).`
        : "Work after the checkpoint was discarded from the worktree.";
  return [
    `Rewound task ${taskId} to checkpoint ${cp.checkpointNumber} (${shortSha(cp.commitSha)} ${JSON.stringify(cp.message)}).`,
    kept,
    `Safety ref ${r.safetyRef}: \`makima supervisor undo-rewind ${taskId}\` puts everything back.`,
  ];
}
