import { Command, Option } from "commander";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { resolveAgentCommand, resolveDaemon, uuidArg } from "../config.js";
import { CliError, usage } from "../errors.js";
import { createOut } from "../output.js";
import type { AgentFormat } from "../../ws/agentFormats.js";

/** What daemon/daemon.ts exports (loaded only when `makima daemon` runs). */

/** `makima daemon`: connects this machine to the service and carries out its commands until Ctrl-C. */
export function daemonCommand(): Command {
  return new Command("daemon")
    .description("connect this machine as a daemon: it runs tasks, diffs and rewinds their worktrees (Ctrl-C stops)")
    .option("--ws-url <url>", "the WebSocket API (else MAKIMA_WS_URL, else your profile or .makima/local.json)")
    .option("--daemon-key <key>", "a daemon key mkd_… (else MAKIMA_DAEMON_KEY, else your profile or .makima/local.json)")
    .option("--repo <path>", "your repository: each task's worktree is a `git worktree add` of it, so its commits (your checkpoints) are known")
    .option("--root <dir>", "where task worktrees live, one directory per task (default ./worktrees; with --repo, ~/.local/share/makima/worktrees/<repo>)")
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
    .action(async (opts: { wsUrl?: string; daemonKey?: string; repo?: string; root?: string; agentCommand?: string; agentFormat: AgentFormat; daemonId?: string; transferOrigin?: string[] }) => {
      const { wsUrl, daemonKey } = resolveDaemon(opts);
      const daemonId = opts.daemonId ? uuidArg(opts.daemonId, "daemon") : undefined;
      const repo = opts.repo === undefined ? undefined : repoTop(opts.repo);
      const root = resolve(opts.root ?? (repo ? defaultRepoRoot(repo) : "./worktrees"));
      const transferOrigins = (opts.transferOrigin ?? (process.env.MAKIMA_TRANSFER_ORIGINS ?? "").split(",")).map((o) => o.trim()).filter(Boolean);
      for (const origin of transferOrigins) {
        if (!URL.canParse(origin)) throw new CliError(`--transfer-origin ${JSON.stringify(origin)} is not a URL`, 2);
      }
      const out = createOut();
      const { runDaemon } = await loadDaemon();
      let daemon: { daemonId: string; stop(): Promise<void> };
      try {
        daemon = await runDaemon({ wsUrl, daemonKey, daemonId, root, repo, agentCommand: resolveAgentCommand(opts.agentCommand), agentFormat: opts.agentFormat, transferOrigins, log: (line) => out.line(line) });
      } catch (error) {
        throw new CliError(`the daemon could not start: ${(error as Error).message}`);
      }
      out.note(`makima daemon ${daemon.daemonId} connected to ${wsUrl}; worktrees in ${root}. Ctrl-C stops.`);
      out.note(
        repo
          ? `Tasks work in worktrees of ${repo} (git worktree add): its commits are their checkpoints.`
          : "No --repo: each task gets a new, empty repository under the root; `makima daemon --repo <path>` works in worktrees of your repository instead.",
      );
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

/** The top of the repository at `path`, which must have a commit; else a usage error. */
function repoTop(path: string): string {
  const git = (...args: string[]) => execFileSync("git", ["-C", resolve(path), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  let top: string;
  try {
    top = git("rev-parse", "--show-toplevel");
  } catch {
    throw usage(`--repo ${path} is not a git repository`);
  }
  try {
    git("rev-parse", "--verify", "--quiet", "HEAD^{commit}");
  } catch {
    throw usage(`--repo ${path} has no commit yet: commit something first, tasks start from a commit`);
  }
  return top;
}

/** With --repo and no --root: worktrees outside the repository, under the user's data folder. */
function defaultRepoRoot(repo: string): string {
  const data = process.env.XDG_DATA_HOME?.startsWith("/") ? process.env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  const id = createHash("sha256").update(repo).digest("hex").slice(0, 8);
  return join(data, "makima", "worktrees", `${basename(repo)}-${id}`);
}

/** Loaded only for `makima daemon`, so the other commands start without it. */
const loadDaemon = () => import("../../daemon.js");
