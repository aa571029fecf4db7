import { Command } from "commander";
import type { HistoryEvent } from "../render.js";
import { commonOptions, session, type ApiOpts } from "./common.js";
import { historyFilters, historyQuery, printEvents, type HistoryOpts } from "./contract.js";

/** `makima timeline`: the owner's history across contracts and tasks, newest first. */
export function timelineCommand(): Command {
  const timeline = new Command("timeline").description("everything that happened in your contracts and tasks, newest first");
  return commonOptions(historyFilters(timeline), ["table", "json"], "table").action(
    async (opts: ApiOpts & HistoryOpts) => {
      const query = historyQuery(opts);
      const { out, api } = session(opts);
      const { items, nextCursor } = await api.all<HistoryEvent>("/api/v1/timeline", "items", query, opts.all ? Infinity : opts.limit);
      if (opts.format === "json") return out.json({ items, nextCursor });
      printEvents(out, items, nextCursor);
    },
  );
}
