import type { Command } from "commander";
import type { Api } from "../api.js";
import { activeProfile, uuidArg } from "../config.js";
import { absoluteTime, now, relativeTime, table } from "../output.js";
import type { Contract, HistoryEvent, Task } from "../render.js";
import { commonOptions, intOption, session, type ApiOpts } from "./common.js";

/** `makima task list`, and what `makima task show` says about a failed task. */

/** The tasks of one contract, or of every contract of the owner, newest first. */
export async function listTasks(api: Api, contractId: string | undefined, max = Infinity): Promise<Task[]> {
  const contracts = contractId ? [contractId] : (await api.all<Contract>("/api/v1/contracts", "items")).items.map((c) => c.id);
  const tasks: Task[] = [];
  for (const id of contracts) tasks.push(...(await api.all<Task>(`/api/v1/contracts/${id}/tasks`, "items")).items);
  return tasks.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, max);
}

/** The last 8 characters: unique enough to type, and accepted wherever an id is. */
export const shortId = (id: string | undefined) => (id ? id.slice(-8) : "");

export function listCommand(list: Command): void {
  commonOptions(
    list
      .option("--contract <id>", "only this contract's tasks (else MAKIMA_CONTRACT_ID, else all your contracts')")
      .option("--status <status>", "only tasks with this status")
      .option("--limit <n>", "at most this many", intOption(1), 50)
      .option("--all", "every task, however many"),
    ["table", "json"],
    "table",
  ).action(async (opts: ApiOpts & { contract?: string; status?: string; limit: number; all?: boolean }) => {
    const contract = opts.contract ?? process.env.MAKIMA_CONTRACT_ID ?? activeProfile().profile?.contract;
    const contractId = contract ? uuidArg(contract, "contract") : undefined;
    const { out, api } = session(opts);
    const items = (await listTasks(api, contractId)).filter((t) => !opts.status || t.status === opts.status);
    const shown = opts.all ? items : items.slice(0, opts.limit);
    if (opts.format === "json") return out.json({ items: shown });
    if (!shown.length) return out.line(contractId ? "no tasks in this contract yet" : "no tasks yet (tasks outside any contract are not listed)");
    const at = now();
    out.lines(
      table(
        out.c,
        ["ID", "NAME", "STATUS", "CONTRACT", "MESSAGES", "CREATED"],
        shown.map((t) => [shortId(t.id), t.name, t.status, shortId(t.contractId), String(t.messageCount), `${absoluteTime(t.createdAt)} ${out.c.dim(`(${relativeTime(t.createdAt, at)})`)}`]),
        ["left", "left", "left", "left", "right"],
      ),
    );
    if (shown.length < items.length) out.line(out.c.dim(`… ${items.length - shown.length} more: --all, or --limit <n>`));
  });
}

/** Why a task did not start or did not finish: its last start error, and the failure its history records. */
export async function failureLines(api: Api, t: Task): Promise<string[]> {
  const lines: string[] = [];
  if (t.lastStartError) {
    const e = t.lastStartError;
    lines.push(`Last start failed (attempt ${e.attempt}, ${absoluteTime(e.at)}): ${e.message} [${e.code}]`);
  }
  if (t.status !== "failed") return lines;
  const history = await api.get<{ items: HistoryEvent[] }>(`/api/v1/mesh/tasks/${t.id}/history`, { limit: 50 }).catch(() => ({ items: [] as HistoryEvent[] }));
  const failed = history.items.find((e) => e.eventType === "task" && (e.eventSubtype === "failed" || e.eventData?.to === "failed"));
  const data = failed?.eventData ?? {};
  const reason = [data.reason, data.exitCode !== undefined ? `exit code ${String(data.exitCode)}` : undefined].filter(Boolean).join(", ");
  if (failed) lines.push(`Failed ${absoluteTime(failed.createdAt)}${reason ? `: ${reason}` : ""}.`);
  if (Array.isArray(data.stderrTail) && data.stderrTail.length) lines.push("Its last stderr lines:", ...data.stderrTail.map((l) => `  ${String(l)}`));
  if (!t.lastStartError && !reason) lines.push("The agent exited with a failure; its daemon's log (`makima daemon`) has its output.");
  return lines;
}
