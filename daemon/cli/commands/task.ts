import { Command } from "commander";
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { activeProfile, resolveTask, uuidArg } from "../config.js";
import { CliError, usage } from "../errors.js";
import type { CreateTaskRequest, NewConversationMessage, Task, TaskStatus } from "../../../core/models.js";
import type { AppendResult, ConversationRewindResult, RestoreResult } from "../../../core/responses.js";
import { conversationRewindBody, conversationRewindOptions, rewindConversation, rewindText, type ConversationRewindOpts } from "./supervisor/rewind.js";
import { commonOptions, session, type ApiOpts } from "./common.js";
import { readingCommands } from "./supervisor/reading.js";
import { forkCommands } from "./supervisor/fork.js";
import { resumeCommands } from "./supervisor/resume.js";
import { rewindCommands } from "./supervisor/rewind.js";
import { failureLines, listCommand } from "./taskList.js";

/**
 * `makima task …`: a task's life: list and show them, create one, append to
 * its conversation, read it, stop it, rewind and restore its code or its
 * conversation, fork and resume it. Tasks are named by id, a unique part of
 * one, or MAKIMA_TASK_ID.
 */

/** The API takes at most this many messages per append. */
const APPEND_BATCH = 100;

export function taskCommand(): Command {
  const task = new Command("task").description("tasks: list, show, history, append, rewind, restore, fork, resume, interrupt");
  const cmd = (name: string, description: string) => task.command(name).description(description);

  commonOptions(
    cmd("create", "create a task (it waits, pending, until an agent runs it)")
      .requiredOption("--name <name>", "the task's name")
      .requiredOption("--plan <text>", "what the task is to do")
      .option("--contract <id>", "the contract it belongs to (else MAKIMA_CONTRACT_ID, else your profile's contract, else none)")
      .option("--no-contract", "belong to no contract, whatever MAKIMA_CONTRACT_ID says")
      .option("--supervisor", "the contract's supervisor task (one a contract)")
      .option("--branch-name <name>", "the git branch it works on")
      .option("--base-sha <sha>", "the commit it starts from"),
    ["text", "id", "json"],
    "text",
  ).action(async (opts: ApiOpts & { name: string; plan: string; contract?: string | false; supervisor?: boolean; branchName?: string; baseSha?: string }) => {
    const contract = opts.contract === false ? undefined : (opts.contract ?? (process.env.MAKIMA_CONTRACT_ID || activeProfile().profile?.contract));
    const contractId = contract ? uuidArg(contract, "contract") : undefined;
    const body: z.input<typeof CreateTaskRequest> = {
      name: opts.name,
      plan: opts.plan,
      contractId,
      isSupervisor: opts.supervisor,
      branchName: opts.branchName,
      baseSha: opts.baseSha,
    };
    const { out, api } = session(opts);
    const created = await api.post<Task>("/api/v1/mesh/tasks", body);
    if (opts.format === "json") return out.json(created);
    if (opts.format === "id") return out.line(created.id);
    out.line(`Task ${created.id} "${created.name}" created${created.contractId ? ` in contract ${created.contractId}` : ""}: ${created.status}.`);
  });

  commonOptions(
    cmd("show", "a task: its status, branch and conversation size, and why it failed").argument("[taskId]", "the task (else MAKIMA_TASK_ID)"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts) => {
    const taskId = resolveTask(taskArg);
    const { out, api } = session(opts);
    const t = await api.get<Task>(`/api/v1/mesh/tasks/${taskId}`);
    if (opts.format === "json") return out.json(t);
    out.line(`Task ${t.id} "${t.name}": ${t.status}, ${t.messageCount} message${t.messageCount === 1 ? "" : "s"}${t.branchName ? `, branch ${t.branchName}` : ""}${t.daemonId ? `, daemon ${t.daemonId}` : ""}.`);
    out.lines(await failureLines(api, t));
  });

  listCommand(cmd("list", "your tasks, newest first: a contract's (--contract, MAKIMA_CONTRACT_ID), else those of all your contracts"));

  commonOptions(
    cmd("append", "append messages to a task's conversation: one JSON object a line, from a file or stdin")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .option("--file <path>", "read the messages from this file (else stdin; `-` is stdin too)"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { file?: string }) => {
    const taskId = resolveTask(taskArg);
    const source = opts.file && opts.file !== "-" ? opts.file : undefined;
    if (!source && process.stdin.isTTY) throw usage("give the messages with --file <path> or on stdin, one JSON object a line");
    const messages = await parseMessages(readInput(source), source ?? "stdin");
    if (!messages.length) throw usage(`no messages in ${source ?? "stdin"}: one JSON object a line, e.g. {"role":"user","content":"hello"}`);
    const { out, api } = session(opts);
    let appended = 0;
    let messageCount = 0;
    for (let i = 0; i < messages.length; i += APPEND_BATCH) {
      const result = await api.post<AppendResult>(`/api/v1/mesh/tasks/${taskId}/messages`, { messages: messages.slice(i, i + APPEND_BATCH) });
      appended += result.appended;
      messageCount = result.messageCount;
    }
    if (opts.format === "json") return out.json({ taskId, appended, messageCount });
    const skipped = messages.length - appended;
    out.line(`Appended ${appended} message${appended === 1 ? "" : "s"} to task ${taskId}${skipped ? ` (${skipped} it already had)` : ""}: ${messageCount} in its conversation.`);
  });

  for (const [name, status, description] of [
    ["interrupt", "interrupted", "mark a task interrupted: rewinds, resumes and forks may then go ahead"],
    ["pause", "paused", "mark a task paused"],
  ] as const) {
    commonOptions(cmd(name, description).argument("[taskId]", "the task (else MAKIMA_TASK_ID)"), ["text", "json"], "text").action(
      async (taskArg: string | undefined, opts: ApiOpts) => {
        const taskId = resolveTask(taskArg);
        const { out, api } = session(opts);
        const body: { status: TaskStatus } = { status };
        const t = await api.patch<Task>(`/api/v1/mesh/tasks/${taskId}`, body);
        if (opts.format === "json") return out.json(t);
        out.line(`Task ${t.id} "${t.name}" is ${t.status}.${status === "interrupted" ? ` \`makima task resume ${t.id}\` continues it.` : ""}`);
      },
    );
  }

  commonOptions(
    conversationRewindOptions(cmd("rewind-conversation", "rewind a task's conversation (hidden messages stay stored)").argument("[taskId]", "the task (else MAKIMA_TASK_ID)"), "task"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & ConversationRewindOpts) => {
    const taskId = resolveTask(taskArg);
    const body = conversationRewindBody(opts);
    const { out, api } = session(opts);
    const result = await rewindConversation<ConversationRewindResult>(api, `/api/v1/mesh/tasks/${taskId}/conversation/rewind`, body);
    if (opts.format === "json") return out.json(result);
    out.line(
      `Task ${taskId}: conversation rewound, ${result.messageCount} messages kept, ${result.hiddenCount} hidden (\`makima task restore-conversation ${taskId}\` brings them back).`,
    );
    if (result.codeRewind) out.lines(rewindText(taskId, result.codeRewind));
  });

  commonOptions(
    cmd("restore-conversation", "undo a task's conversation rewind: hidden messages are visible again")
      .argument("[taskId]", "the task (else MAKIMA_TASK_ID)")
      .option("--rewind <id>", "which rewind (default: the latest)"),
    ["text", "json"],
    "text",
  ).action(async (taskArg: string | undefined, opts: ApiOpts & { rewind?: string }) => {
    const taskId = resolveTask(taskArg);
    const { out, api } = session(opts);
    const result = await api.post<RestoreResult>(`/api/v1/mesh/tasks/${taskId}/conversation/restore`, opts.rewind ? { rewindId: opts.rewind } : {});
    if (opts.format === "json") return out.json(result);
    out.line(`Task ${taskId}: conversation restored (rewind ${result.rewindId} undone), ${result.messageCount} messages visible.`);
  });

  readingCommands(task, { "task-history": "history" });
  rewindCommands(task, { "task-rewind": "rewind", "undo-rewind": "restore" });
  forkCommands(task, { "task-fork": "fork" });
  resumeCommands(task, { "task-resume": "resume", "task-resume-from": "resume-from" });
  return task;
}

function readInput(file: string | undefined): string {
  try {
    return readFileSync(file ?? 0, "utf8");
  } catch (error) {
    throw new CliError(`cannot read ${file ?? "stdin"}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** One message a line (blank lines skipped), each checked as the API would, so a mistake names its line. */
async function parseMessages(text: string, source: string): Promise<NewConversationMessage[]> {
  // Loaded here only: the schemas cost every other command its start-up time.
  const models = await import("../../../core/models.js");
  const messages: NewConversationMessage[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw usage(`${source} line ${i + 1} is not JSON: one message object a line, e.g. {"role":"user","content":"hello"}`);
    }
    const parsed = models.NewConversationMessage.strict().safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw usage(`${source} line ${i + 1}: ${issue?.path.join(".") || "message"}: ${issue?.message}`);
    }
    messages.push(parsed.data);
  }
  return messages;
}
