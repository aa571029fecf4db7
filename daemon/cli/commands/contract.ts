import { Command, Option } from "commander";
import { resolveContract } from "../config.js";
import { usage } from "../errors.js";
import { absoluteTime, now, relativeTime, table, when, type Out } from "../output.js";
import { resumeCommands } from "./supervisor/resume.js";
import { rewindCommands } from "./supervisor/rewind.js";
import { historyEventsTable, type HistoryEvent, type Task } from "../render.js";
import type { Contract, CreateContractRequest } from "../../../core/models.js";
import type { z } from "zod";
import { commonOptions, intOption, session, timeArg, type ApiOpts } from "./common.js";

const PHASES = ["research", "specify", "plan", "execute", "review"];
export const EVENT_TYPES = ["task", "chat", "checkpoint", "phase", "file", "rewind", "fork", "resume"];


export function contractCommand(): Command {
  const contract = new Command("contract").description("contracts: create, list, show, history, tasks; their supervisor's resume and conversation rewind");

  const create = contract
    .command("create")
    .description("create a contract: the work its tasks share")
    .requiredOption("--name <name>", "the contract's name")
    .addOption(new Option("--phase <phase>", "the phase it starts in").choices(PHASES));
  commonOptions(create, ["text", "id", "json"], "text").action(async (opts: ApiOpts & { name: string; phase?: z.input<typeof CreateContractRequest>["phase"] }) => {
    const body: z.input<typeof CreateContractRequest> = { name: opts.name, phase: opts.phase };
    const { out, api } = session(opts);
    const created = await api.post<Contract>("/api/v1/contracts", body);
    if (opts.format === "json") return out.json(created);
    if (opts.format === "id") return out.line(created.id);
    out.line(`Contract ${created.id} "${created.name}" created in ${created.phase}.`);
  });

  const history = contract
    .command("history")
    .description("a contract's history timeline, newest first")
    .option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)")
    .addOption(new Option("--phase <phase>", "only events of this phase").choices(PHASES));
  commonOptions(historyFilters(history), ["table", "json"], "table").action(async (opts: ApiOpts & HistoryOpts & { contract?: string; phase?: string }) => {
    const contractId = resolveContract(opts.contract);
    const query = { phase: opts.phase, ...historyQuery(opts) };
    const { out, api } = session(opts);
    const { items, nextCursor } = await api.all<HistoryEvent>(`/api/v1/contracts/${contractId}/history`, "items", query, opts.all ? Infinity : opts.limit);
    if (opts.format === "json") return out.json({ contractId, items, nextCursor });
    printEvents(out, items, nextCursor);
  });

  const list = contract.command("list").description("your contracts, newest first").option("--limit <n>", "at most this many", intOption(1), 50).option("--all", "every contract");
  commonOptions(list, ["table", "json"], "table").action(async (opts: ApiOpts & { limit: number; all?: boolean }) => {
    const { out, api } = session(opts);
    const { items, nextCursor } = await api.all<Contract>("/api/v1/contracts", "items", {}, opts.all ? Infinity : opts.limit);
    if (opts.format === "json") return out.json({ items, nextCursor });
    if (!items.length) return out.line("no contracts yet");
    const at = now();
    out.lines(
      table(
        out.c,
        ["ID", "NAME", "PHASE", "STATUS", "SUPERVISOR", "UPDATED"],
        items.map((k) => [k.id, k.name, k.phase, k.status, k.supervisorTaskId ?? "", `${absoluteTime(k.updatedAt)} ${out.c.dim(`(${relativeTime(k.updatedAt, at)})`)}`]),
      ),
    );
  });

  const tasks = contract
    .command("tasks")
    .description("a contract's tasks, newest first")
    .option("--contract <id>", "the contract (else MAKIMA_CONTRACT_ID)")
    .option("--limit <n>", "at most this many", intOption(1), 50)
    .option("--all", "every task");
  commonOptions(tasks, ["table", "json"], "table").action(async (opts: ApiOpts & { contract?: string; limit: number; all?: boolean }) => {
    const contractId = resolveContract(opts.contract);
    const { out, api } = session(opts);
    const { items, nextCursor } = await api.all<Task>(`/api/v1/contracts/${contractId}/tasks`, "items", {}, opts.all ? Infinity : opts.limit);
    if (opts.format === "json") return out.json({ contractId, items, nextCursor });
    if (!items.length) return out.line("no tasks in this contract yet");
    const at = now();
    out.lines(
      table(
        out.c,
        ["ID", "NAME", "KIND", "STATUS", "MESSAGES", "CREATED"],
        items.map((t) => [
          t.id,
          t.name,
          t.isSupervisor ? "supervisor" : t.forkedFromTaskId ? `from ${t.forkedFromTaskId}` : "task",
          t.status,
          String(t.messageCount),
          `${absoluteTime(t.createdAt)} ${out.c.dim(`(${relativeTime(t.createdAt, at)})`)}`,
        ]),
        ["left", "left", "left", "left", "right"],
      ),
    );
  });

  commonOptions(contract.command("show").description("one contract: its phase, status and supervisor").argument("[contractId]", "the contract (else MAKIMA_CONTRACT_ID)"), ["text", "json"], "text").action(
    async (arg: string | undefined, opts: ApiOpts) => {
      const contractId = resolveContract(arg);
      const { out, api } = session(opts);
      const k = await api.get<Contract>(`/api/v1/contracts/${contractId}`);
      if (opts.format === "json") return out.json(k);
      out.line(`Contract ${k.id} "${k.name}": ${k.phase}, ${k.status}${k.supervisorTaskId ? `, supervisor task ${k.supervisorTaskId}` : ", no supervisor yet"}; updated ${when(k.updatedAt)}.`);
    },
  );

  resumeCommands(contract, { resume: "resume" });
  rewindCommands(contract, { "rewind-conversation": "rewind-conversation", "restore-conversation": "restore-conversation" });
  return contract;
}

export function historyFilters(command: Command): Command {
  return command
    .option("--event-types <types>", `only these event types, comma separated (${EVENT_TYPES.join(", ")})`)
    .option("--since, --from <time>", "events at or after this time: 30m, 2h, 1d, 1w (ago), today, yesterday, or ISO 8601")
    .option("--to <time>", "events at or before this time (as --from)")
    .option("--limit <n>", "at most this many events", intOption(1), 50)
    .option("--all", "every event, however many pages")
    .option("--cursor <cursor>", "continue where a previous page stopped");
}

/** The history query those options ask for (a usage error for an unknown event type). */
export function historyQuery(opts: HistoryOpts): { eventTypes?: string; from?: string; to?: string; cursor?: string } {
  const eventTypes = opts.eventTypes?.split(",").map((t) => t.trim()).filter(Boolean);
  const unknown = eventTypes?.filter((t) => !EVENT_TYPES.includes(t)) ?? [];
  if (unknown.length) throw usage(`unknown event type ${unknown.join(", ")} (one of ${EVENT_TYPES.join(", ")})`);
  return { eventTypes: eventTypes?.join(","), from: timeArg(opts.from, "--from"), to: timeArg(opts.to, "--to"), cursor: opts.cursor };
}

/** History events as a table, and how to see more. */
export function printEvents(out: Out, items: HistoryEvent[], nextCursor: string | null): void {
  if (!items.length) return out.line("no history events match");
  out.lines(historyEventsTable(out.c, items, now()));
  if (nextCursor) out.line(out.c.dim(`… more: --all, or --cursor ${nextCursor}`));
}

/** The options every history listing takes: event types, a time range, and paging. */
export interface HistoryOpts {
  eventTypes?: string;
  from?: string;
  to?: string;
  limit: number;
  all?: boolean;
  cursor?: string;
}
