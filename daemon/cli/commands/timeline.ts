import { Command } from "commander";
import { usage } from "../errors.js";
import type { HistoryEvent } from "../render.js";
import { commonOptions, intOption, session, timeArg, type ApiOpts } from "./common.js";
import { EVENT_TYPES, printEvents } from "./contract.js";

/** `makima timeline`: the owner's history across contracts and tasks, newest first. */
export function timelineCommand(): Command {
  const timeline = new Command("timeline")
    .description("everything that happened in your contracts and tasks, newest first")
    .option("--event-types <types>", `only these event types, comma separated (${EVENT_TYPES.join(", ")})`)
    .option("--since, --from <time>", "events at or after this time: 30m, 2h, 1d, 1w (ago), today, yesterday, or ISO 8601")
    .option("--to <time>", "events at or before this time (as --from)")
    .option("--limit <n>", "at most this many events", intOption(1), 50)
    .option("--all", "every event, however many pages")
    .option("--cursor <cursor>", "continue where a previous page stopped");
  return commonOptions(timeline, ["table", "json"], "table").action(
    async (opts: ApiOpts & { eventTypes?: string; from?: string; to?: string; limit: number; all?: boolean; cursor?: string }) => {
      const eventTypes = opts.eventTypes?.split(",").map((t) => t.trim()).filter(Boolean);
      const unknown = eventTypes?.filter((t) => !EVENT_TYPES.includes(t)) ?? [];
      if (unknown.length) throw usage(`unknown event type ${unknown.join(", ")} (one of ${EVENT_TYPES.join(", ")})`);
      const query = { eventTypes: eventTypes?.join(","), from: timeArg(opts.from, "--from"), to: timeArg(opts.to, "--to"), cursor: opts.cursor };
      const { out, api } = session(opts);
      const { items, nextCursor } = await api.all<HistoryEvent>("/api/v1/timeline", "items", query, opts.all ? Infinity : opts.limit);
      if (opts.format === "json") return out.json({ items, nextCursor });
      printEvents(out, items, nextCursor);
    },
  );
}
