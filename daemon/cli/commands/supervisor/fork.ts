import type { Command } from "commander";
import { resolveTask, uuidArg } from "../../config.js";
import { shortSha } from "../../render.js";
import type { ForkTaskRequest } from "../../../../core/models.js";
import type { ForkResult } from "../../../../core/responses.js";
import type { z } from "zod";
import { checkpointNumberArg, commonOptions, session, startedText, namer, type ApiOpts } from "../common.js";

/** `makima supervisor task-fork`: a new task on its own branch from a checkpoint. */

export function forkCommands(sup: Command, names?: Record<string, string>): void {
  const cmd = namer(sup, names);

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
    const body: z.input<typeof ForkTaskRequest> = {
      forkFromType: "checkpoint",
      forkFromValue: String(n),
      newTaskName: opts.name,
      newTaskPlan: opts.plan,
      includeConversation: opts.includeConversation,
      branchName: opts.branchName,
      targetDaemonId,
    };
    const result = await api.post<ForkResult>(`/api/v1/mesh/tasks/${taskId}/fork`, body);
    if (opts.format === "json") return out.json(result);
    const conversation = opts.includeConversation ? `with the conversation up to it (${result.forkPoint.messageCount} messages)` : "without its conversation";
    out.line(`Forked task ${taskId} at checkpoint ${n} into task ${result.task.id} "${result.task.name}", ${conversation}.`);
    out.line(`Branch ${result.branchName ?? "(none)"} at ${shortSha(result.task.baseSha)}: ${await startedText(api, result.task.id, result)}.`);
  });
}
