import { Command, Option } from "commander";
import { resolve } from "node:path";
import { resolveAgentCommand, resolveDaemon, uuidArg } from "../config.js";
import { CliError } from "../errors.js";
import { createOut } from "../output.js";
import type { AgentFormat } from "../../ws/agentFormats.js";

/** What daemon/daemon.ts exports (loaded only when `makima daemon` runs). */

/** `makima daemon`: connects this machine to the service and carries out its commands until Ctrl-C. */
export function daemonCommand(): Command {
  return new Command("daemon")
    .description("connect this machine as a daemon: it runs tasks, diffs and rewinds their worktrees (Ctrl-C stops)")
    .option("--ws-url <url>", "the WebSocket API (else MAKIMA_WS_URL, else .makima/local.json)")
    .option("--daemon-key <key>", "a daemon key mkd_… (else MAKIMA_DAEMON_KEY, else .makima/local.json)")
    .option("--root <dir>", "where task worktrees live, one directory per task", "./worktrees")
    .option("--agent-command <command>", "the agent to run for a task (else MAKIMA_AGENT_COMMAND)")
    .addOption(
      new Option("--agent-format <format>", "what the agent prints: makima (a message a line), claude-stream-json (`claude -p --output-format stream-json --verbose`), codex-json (`codex exec --json`)")
        .choices(["makima", "claude-stream-json", "codex-json"])
        .default("makima"),
    )
    .option("--daemon-id <id>", "this daemon's id (default: the one kept in <root>/.makima-daemon.json, made on first start)")
    .option(
      "--transfer-origin <url...>",
      "the only origins presigned transfers may come from (else MAKIMA_TRANSFER_ORIGINS, comma-separated; else the bucket host the server names after hello)",
    )
    .action(async (opts: { wsUrl?: string; daemonKey?: string; root: string; agentCommand?: string; agentFormat: AgentFormat; daemonId?: string; transferOrigin?: string[] }) => {
      const { wsUrl, daemonKey } = resolveDaemon(opts);
      const daemonId = opts.daemonId ? uuidArg(opts.daemonId, "daemon") : undefined;
      const root = resolve(opts.root);
      const transferOrigins = (opts.transferOrigin ?? (process.env.MAKIMA_TRANSFER_ORIGINS ?? "").split(",")).map((o) => o.trim()).filter(Boolean);
      for (const origin of transferOrigins) {
        if (!URL.canParse(origin)) throw new CliError(`--transfer-origin ${JSON.stringify(origin)} is not a URL`, 2);
      }
      const out = createOut();
      const { runDaemon } = await loadDaemon();
      let daemon: { daemonId: string; stop(): Promise<void> };
      try {
        daemon = await runDaemon({ wsUrl, daemonKey, daemonId, root, agentCommand: resolveAgentCommand(opts.agentCommand), agentFormat: opts.agentFormat, transferOrigins, log: (line) => out.line(line) });
      } catch (error) {
        throw new CliError(`the daemon could not start: ${(error as Error).message}`);
      }
      out.note(`makima daemon ${daemon.daemonId} connected to ${wsUrl}; worktrees in ${root}. Ctrl-C stops.`);
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = () => {
          if (stopping) return;
          stopping = true;
          out.note("stopping the daemon…");
          daemon.stop().then(done, (error: Error) => {
            out.note(`makima: the daemon did not stop cleanly: ${error.message}`);
            process.exitCode = 1;
            done();
          });
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}

/** Loaded only for `makima daemon`, so the other commands start without it. */
const loadDaemon = () => import("../../daemon.js");
