import type { Command } from "commander";
import { resolveTask } from "../../config.js";
import { usage } from "../../errors.js";
import { now } from "../../output.js";
import { chat, checkpointsTable, diffPatch, diffStat, messagesTable, shortSha, statLine, type DiffStats, type Message } from "../../render.js";
import type { TaskCheckpoint } from "../../../../core/models.js";
import { allCheckpoints, checkpointByNumber, checkpointNumberArg, commonOptions, intOption, session, namer, type ApiOpts } from "../common.js";

/** `makima supervisor task-history | checkpoint-list | checkpoint-diff`: a task's past, read. */

const diffPath = (taskId: string, checkpointId: string) => `/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpointId}/diff`;

/** Two optional positionals where the first may be left to MAKIMA_TASK_ID: `checkpoint-diff 3`. */
export function taskAndNumber(a: string | undefined, b: string | undefined, command: string): { taskId: string; n: number } {
  if (b === undefined && a !== undefined && /^\d+$/.test(a)) [a, b] = [undefined, a];
  if (b === undefined) throw usage(`give the checkpoint number: makima checkpoint ${command.replace("checkpoint-", "")} [taskId] <checkpointNumber>`);
  return { taskId: resolveTask(a), n: checkpointNumberArg(b) };
}

export function readingCommands(sup: Command, names?: Record<string, string>): void {
  const cmd = namer(sup, names);

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
    const items: Array<TaskCheckpoint & { diffStats?: DiffStats }> = await allCheckpoints(api, taskId);
    if (opts.withDiff) {
      // One at a time: each is a git diff on the user's machine.
      for (const cp of items) {
        const diff = await api.relayed((r) => r.CheckpointDiff, "GET", diffPath(taskId, cp.id), undefined, `asking the daemon for the diff of checkpoint ${cp.checkpointNumber}…`);
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
    const diff = await api.relayed((r) => r.CheckpointDiff, "GET", diffPath(taskId, checkpoint.id), undefined, `asking the daemon for the diff of checkpoint ${n}…`);
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
}
