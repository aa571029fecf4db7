import { Command } from "commander";
import type { z } from "zod";
import { resolveTask } from "../config.js";
import { usage } from "../errors.js";
import { shortSha } from "../render.js";
import type { CreateCheckpointRequest } from "../../../core/models.js";
import type { CheckpointCreated } from "../../../core/responses.js";
import { checkpointByNumber, commonOptions, intOption, session, type ApiOpts } from "./common.js";
import { readingCommands, taskAndNumber } from "./supervisor/reading.js";
import { when } from "../output.js";

/** `makima checkpoint create|list|show|diff`: record a commit of a task as a checkpoint (and snapshot its conversation there), and read them. */
export function checkpointCommand(): Command {
  const checkpoint = new Command("checkpoint").description("a task's checkpoints: create, list, show, diff");
  commonOptions(
    checkpoint
      .command("create")
      .description("record a checkpoint: a commit of the task, with the conversation as it is now")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .requiredOption("--commit <sha>", "the commit's SHA (git rev-parse HEAD)")
      .requiredOption("--branch <name>", "the branch the commit is on")
      .requiredOption("--message <text>", "what the checkpoint is")
      .option("--lines-added <n>", "lines the commit added", intOption(0))
      .option("--lines-removed <n>", "lines the commit removed", intOption(0)),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { commit: string; branch: string; message: string; linesAdded?: number; linesRemoved?: number }) => {
    const taskId = resolveTask(taskArg);
    if (!/^[0-9a-f]{7,64}$/i.test(opts.commit)) throw usage(`--commit "${opts.commit}" is not a commit SHA (hex digits: git rev-parse HEAD)`);
    const body: z.input<typeof CreateCheckpointRequest> = {
      commitSha: opts.commit.toLowerCase(),
      branchName: opts.branch,
      message: opts.message,
      linesAdded: opts.linesAdded,
      linesRemoved: opts.linesRemoved,
    };
    const { out, api } = session(opts);
    const created = await api.post<CheckpointCreated>(`/api/v1/mesh/tasks/${taskId}/checkpoints`, body);
    if (opts.format === "json") return out.json(created);
    const cp = created.checkpoint;
    out.line(`Checkpoint ${cp.checkpointNumber} of task ${taskId}: ${shortSha(cp.commitSha)} on ${cp.branchName} ${JSON.stringify(cp.message)} (conversation snapshot at ${created.snapshot.messageCount} messages).`);
  });
  readingCommands(checkpoint, { "checkpoint-list": "list", "checkpoint-diff": "diff" });
  commonOptions(
    checkpoint
      .command("show")
      .description("one checkpoint: its commit, branch, message and conversation size")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .argument("[checkpointNumber]", "the checkpoint's number (see checkpoint list)"),
    ["text", "json"],
    "text",
  ).action(async (a: string | undefined, b: string | undefined, opts: ApiOpts) => {
    const { taskId, n } = taskAndNumber(a, b, "show");
    const { out, api } = session(opts);
    const cp = await checkpointByNumber(api, taskId, n);
    if (opts.format === "json") return out.json(cp);
    out.line(`Checkpoint ${cp.checkpointNumber} of task ${taskId}: ${shortSha(cp.commitSha)} on ${cp.branchName} ${JSON.stringify(cp.message)}, ${when(cp.createdAt)}.`);
    out.line(`Commit ${cp.commitSha}; \`makima checkpoint diff ${taskId.slice(-8)} ${n}\` shows what it changed.`);
  });
  return checkpoint;
}
