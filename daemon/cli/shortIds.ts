import type { Command } from "commander";
import { Api } from "./api.js";
import { isUuid, resolveApi } from "./config.js";
import { CliError, usage } from "./errors.js";
import type { Contract } from "./render.js";

/**
 * Short ids: wherever a task or contract id is taken, a unique prefix or
 * suffix of it will do (UUIDv7s begin with their time, so the end is what
 * tells them apart: `makima task show 3fa9c2e1`). Expanded before the
 * command runs, against the ids of the owner's contracts and their tasks.
 */

const SHORT = /^[0-9a-f-]{4,35}$/i;

/** A short id, not a checkpoint number (`checkpoint diff 3`). */
export function isShortId(value: unknown): value is string {
  return typeof value === "string" && SHORT.test(value) && !/^\d{1,6}$/.test(value) && !isUuid(value);
}

function match(what: string, short: string, ids: string[]): string {
  const s = short.toLowerCase();
  const found = ids.filter((id) => id.startsWith(s) || id.endsWith(s));
  if (found.length === 1) return found[0]!;
  if (!found.length) throw new CliError(`no ${what} of yours has an id starting or ending with "${short}" [404 not_found]`);
  throw usage(`"${short}" matches ${found.length} ${what}s (${found.slice(0, 4).join(", ")}${found.length > 4 ? ", …" : ""}): give more of the id`);
}

/** Replaces short task and contract ids in the command's arguments and --contract with full ones. */
export async function expandShortIds(action: Command): Promise<void> {
  const args = action.registeredArguments.map((a, i) => ({ name: a.name(), i })).filter((a) => /^(taskId|contractId)$/.test(a.name) && isShortId(action.processedArgs[a.i]));
  const contractOption = action.getOptionValue("contract") as unknown;
  if (!args.length && !isShortId(contractOption)) return;
  const api = new Api(resolveApi(action.opts()));
  const contracts = (await api.all<Contract>("/api/v1/contracts", "items")).items.map((c) => c.id);
  if (isShortId(contractOption)) action.setOptionValue("contract", match("contract", contractOption, contracts));
  let tasks: string[] | undefined;
  for (const { name, i } of args) {
    const short = action.processedArgs[i] as string;
    if (name === "contractId") {
      action.processedArgs[i] = match("contract", short, contracts);
      continue;
    }
    tasks ??= (await Promise.all(contracts.map((id) => api.all<{ id: string }>(`/api/v1/contracts/${id}/tasks`, "items")))).flatMap((p) => p.items.map((t) => t.id));
    action.processedArgs[i] = match("task", short, tasks);
  }
}
