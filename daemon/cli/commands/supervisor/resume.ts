import { Option, type Command } from "commander";
import { isUuid, resolveContract, resolveTask, uuidArg } from "../../config.js";
import { CliError, usage } from "../../errors.js";
import { shortSha } from "../../render.js";
import type { Contract } from "../../../../core/models.js";
import type { ContinueTaskResult, ResumeFromCheckpointResult, ResumeSupervisorResult } from "../../../../core/responses.js";
import { checkpointByNumber, checkpointNumberArg, commonOptions, session, startedText, namer, type ApiOpts } from "../common.js";

/** `makima supervisor resume | task-resume | task-resume-from`: carry on after an interruption. */

export function resumeCommands(sup: Command, names?: Record<string, string>): void {
  const cmd = namer(sup, names);

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
        const contract = await api.get<Contract>(`/api/v1/contracts/${contractId}`);
        if (!contract.supervisorTaskId) throw new CliError(`contract ${contractId} has no supervisor [404 not_found]`);
        checkpointId = (await checkpointByNumber(api, contract.supervisorTaskId, n)).id;
      }
    }
    const result = await api.post<ResumeSupervisorResult>(
      `/api/v1/contracts/${contractId}/supervisor/resume`,
      { resumeMode: opts.mode, checkpointId, additionalContext: opts.context, targetDaemonId },
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor ${result.supervisorTaskId} of contract ${contractId} resumed (${result.resumeMode}): ${await startedText(api, result.supervisorTaskId, result)}.`);
    if (opts.mode !== "continue") out.line(out.c.dim("Hidden messages stay stored: `makima contract restore-conversation` brings them back."));
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
    const task = await api.post<ContinueTaskResult>(`/api/v1/mesh/tasks/${taskId}/continue`, {
      mode: opts.mode,
      checkpointSha,
      additionalContext: opts.context,
      targetDaemonId,
    });
    if (opts.format === "json") return out.json(task);
    out.line(`Task ${task.id} "${task.name}" continues (${opts.mode}): ${task.status === "pending" ? await startedText(api, task.id, task) : task.status}.`);
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
    const result = await api.post<ResumeFromCheckpointResult>(
      `/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpoint.id}/resume`,
      { taskName: opts.name, plan: opts.plan, includeConversation: opts.includeConversation ?? false, targetDaemonId },
    );
    if (opts.format === "json") return out.json(result);
    const t = result.task;
    out.line(`New task ${t.id} "${t.name}" from checkpoint ${n} (${shortSha(checkpoint.commitSha)}) of ${taskId}, on branch ${t.branchName}: ${await startedText(api, t.id, result)}.`);
  });
}

