import { Option, type Command } from "commander";
import type { z } from "zod";
import type { Api } from "../../api.js";
import type { RewindConversationRequest } from "../../../../core/models.js";
import { resolveContract, resolveTask, uuidArg } from "../../config.js";
import { usage } from "../../errors.js";
import { shortSha } from "../../render.js";
import type { CodeRewindResult, RestoreResult, SupervisorRewindResult } from "../../../../core/responses.js";
import type { FileDiffInfo } from "../../../../core/protocol.js";
import { checkpointByNumber, checkpointNumberArg, commonOptions, confirm, intOption, session, timeArg, withSpinner, namer, type ApiOpts } from "../common.js";

/** `makima supervisor task-rewind | undo-rewind | rewind-conversation | restore-conversation`: go back, and undo going back. */

export function rewindCommands(sup: Command, names?: Record<string, string>): void {
  const cmd = namer(sup, names);

  commonOptions(
    cmd("task-rewind", "put a task's code back to a checkpoint (the current state is saved first)")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .requiredOption("--checkpoint <number>", "the checkpoint to go back to")
      .addOption(new Option("--preserve <mode>", "what to do with the work after it: keep it on a branch, in a stash, or discard it").choices(["discard", "create_branch", "stash"]).default("create_branch"))
      .option("--branch-name <name>", "the branch that keeps the work (with --preserve create_branch)")
      .option("--force", "go ahead even if the worktree holds changes the task did not make")
      .option("--dry-run", "change nothing: list the files the rewind would change and those it would set aside")
      .option("-y, --yes", "do not ask before discarding work"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { checkpoint: string; preserve: string; branchName?: string; force?: boolean; dryRun?: boolean; yes?: boolean }) => {
    const taskId = resolveTask(taskArg);
    const n = checkpointNumberArg(opts.checkpoint);
    if (opts.branchName && opts.preserve !== "create_branch") throw usage("--branch-name goes with --preserve create_branch");
    const { out, api } = session(opts);
    const checkpoint = await checkpointByNumber(api, taskId, n);
    if (opts.dryRun) {
      const preview = await api.relayed(
        (r) => r.CheckpointDiff,
        "POST",
        `/api/v1/mesh/tasks/${taskId}/rewind`,
        { checkpointId: checkpoint.id, preserveMode: opts.preserve, dryRun: true },
        `asking the daemon what a rewind of task ${taskId.slice(-8)} to checkpoint ${n} would change…`,
      );
      if (opts.format === "json") return out.json(preview);
      return out.lines(previewText(taskId, n, checkpoint.commitSha, opts.preserve, preview.files));
    }
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
          `Everything (commits, uncommitted and untracked files) is first saved under a safety ref: \`makima task restore ${taskId}\` brings it back until retention removes it.`,
        ].join("\n"),
      );
      await confirm("Rewind?", "--yes");
    }
    const result = await api.relayed(
      (r) => r.CodeRewindResult,
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
    const result = await api.relayed(
      (r) => r.UndoRewindResult,
      "POST",
      `/api/v1/mesh/tasks/${taskId}/rewind/undo`,
      { rewindId },
      `undoing the rewind of task ${taskId.slice(-8)}…`,
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Task ${taskId}: the worktree is back as it was before the rewind (from ${result.restoredFrom}).`);
  });

  commonOptions(
    conversationRewindOptions(
      cmd("rewind-conversation", "rewind the contract's supervisor conversation (hidden messages stay stored)").option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)"),
      "supervisor",
    ),
    ["text", "json"],
    "text",
  ).action(async (opts: ApiOpts & ConversationRewindOpts & { contract?: string }) => {
    const contractId = resolveContract(opts.contract);
    const body = conversationRewindBody(opts);
    const { out, api } = session(opts);
    const result = await rewindConversation<SupervisorRewindResult>(api, `/api/v1/contracts/${contractId}/supervisor/conversation/rewind`, body);
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor conversation rewound: ${result.messageCount} messages kept, ${result.hiddenCount} hidden (\`makima contract restore-conversation\` brings them back).`);
    if (result.codeRewind) out.lines(rewindText(result.supervisorTaskId, result.codeRewind));
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
    const result = await api.post<RestoreResult>(
      `/api/v1/contracts/${contractId}/supervisor/conversation/restore`,
      { rewindId },
    );
    if (opts.format === "json") return out.json(result);
    out.line(`Supervisor conversation restored (rewind ${result.rewindId} undone): ${result.messageCount} messages visible.`);
  });
}

/** What a code rewind did, where the work went, and how to undo it. */
export interface ConversationRewindOpts {
  byMessages?: number;
  toMessage?: string;
  toTime?: string;
  rewindCode?: boolean;
  force?: boolean;
}

/** The options of a conversation rewind, a task's or the supervisor's. */
export function conversationRewindOptions(cmd: Command, whose: "task" | "supervisor"): Command {
  return cmd
    .option("--by-messages <n>", "hide the last n messages", intOption(1))
    .option("--to-message <id>", "keep messages up to and including this one")
    .option("--to-time <time>", "keep messages sent at or before this time (ISO 8601)")
    .option("--rewind-code", `also put the ${whose}'s code back to the checkpoint taken at or before that point`)
    .option("--force", `with --rewind-code: go ahead over changes the ${whose} did not make (they are kept under the safety ref)`);
}

export function conversationRewindBody(opts: ConversationRewindOpts): z.input<typeof RewindConversationRequest> {
  const given = [opts.byMessages, opts.toMessage, opts.toTime].filter((v) => v !== undefined).length;
  if (given !== 1) throw usage("give exactly one of --by-messages <n>, --to-message <id>, --to-time <time>");
  return {
    byMessageCount: opts.byMessages,
    toMessageId: opts.toMessage,
    toTimestamp: timeArg(opts.toTime, "--to-time"),
    rewindCode: opts.rewindCode,
    force: opts.force,
  };
}

/** Posts a conversation rewind; a code rewind the daemon has not finished yet is followed, so the answer is whole. */
export async function rewindConversation<R extends { codeRewind?: CodeRewindResult | { operationId: string; status: "pending" } }>(
  api: Api,
  path: string,
  body: z.input<typeof RewindConversationRequest>,
): Promise<R> {
  const result = await withSpinner(body.rewindCode ? "rewinding the conversation and the code…" : "rewinding the conversation…", () => api.post<R>(path, body));
  if (result.codeRewind && "operationId" in result.codeRewind) {
    const pending = result.codeRewind.operationId;
    result.codeRewind = await withSpinner("waiting for the daemon to rewind the code…", () => api.follow((r) => r.CodeRewindResult, pending));
  }
  return result;
}

export function rewindText(taskId: string, r: CodeRewindResult | { operationId: string; status: "pending" }): string[] {
  if (!("checkpoint" in r)) return [`The code rewind of task ${taskId} is still under way (operation ${r.operationId}).`];
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
    `Safety ref ${r.safetyRef}: \`makima task restore ${taskId}\` puts everything back.`,
  ];
}

/** A rewind's dry run in words: each file the rewind would change, and what is set aside. */
export function previewText(taskId: string, n: number, sha: string, preserve: string, files: FileDiffInfo[]): string[] {
  const where = preserve === "create_branch" ? "kept on a branch" : preserve === "stash" ? "kept in a stash" : "kept under the safety ref only";
  const head = `Dry run: rewinding task ${taskId} to checkpoint ${n} (${shortSha(sha)}) would change ${files.length} file${files.length === 1 ? "" : "s"}${files.length ? ":" : "."}`;
  const width = Math.max(0, ...files.map((f) => f.action.length));
  const lines = files.map(
    (f) =>
      `  ${f.action.padEnd(width)}  ${f.path}${f.setAside ? `  (uncommitted work, set aside: ${where})` : ""}${f.foreign ? "  (a change the task did not make: refused without --force)" : ""}`,
  );
  return [head, ...lines, "Nothing was changed."];
}
