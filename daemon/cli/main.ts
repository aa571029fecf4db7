import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./errors.js";

/**
 * `makima`: history, resume, rewind and fork from the terminal, over the
 * HTTP API. Exit codes: 0 ok, 1 the server or a daemon failed, 2 the
 * command line was wrong; every failure is one line on stderr.
 *
 * Each top-level command lives in its own file under commands/ and is
 * loaded only when it runs: `makima --help` reads no more than this list.
 */

interface Entry {
  name: string;
  summary: string;
  /** Kept for the names of earlier versions: works, but is not listed. */
  hidden?: boolean;
  load: () => Promise<Command>;
}

/** One line a command file. */
const COMMANDS: Entry[] = [
  { name: "task", summary: "tasks: list, show, history, append, rewind, restore, fork, resume, interrupt", load: async () => (await import("./commands/task.js")).taskCommand() },
  { name: "checkpoint", summary: "a task's checkpoints: create, list, show, diff", load: async () => (await import("./commands/checkpoint.js")).checkpointCommand() },
  { name: "contract", summary: "contracts: create, list, show, history, tasks, resume", load: async () => (await import("./commands/contract.js")).contractCommand() },
  { name: "timeline", summary: "everything that happened in your contracts and tasks, newest first", load: async () => (await import("./commands/timeline.js")).timelineCommand() },
  { name: "daemon", summary: "run a daemon: agents and git for your tasks, in worktrees of your repository", load: async () => (await import("./commands/daemon.js")).daemonCommand() },
  { name: "keys", summary: "your API, tool and daemon keys", load: async () => (await import("./commands/keys.js")).keysCommand() },
  { name: "login", summary: "save a stage's API URL and key as a profile", load: async () => (await import("./commands/login.js")).loginCommand() },
  { name: "config", summary: "your settings and profiles (~/.config/makima/config.json)", load: async () => (await import("./commands/config.js")).configCommand() },
  { name: "completion", summary: "shell completion for bash, zsh or fish", load: async () => (await import("./commands/completion.js")).completionCommand() },
  { name: "import", summary: "bring in Claude Code, Codex, OpenAI or makima transcripts, one task a session", load: async () => (await import("./commands/importExport.js")).importCommand() },
  { name: "export", summary: "a task's conversation as jsonl, markdown, html, claude-code or openai", load: async () => (await import("./commands/importExport.js")).exportCommand() },
  { name: "supervisor", summary: "the earlier names of task and checkpoint commands", hidden: true, load: async () => (await import("./commands/supervisor.js")).supervisorCommand() },
];

/** The names `makima` answers to at the top, for completion and suggestions. */
export function commandNames(includeHidden = false): string[] {
  return COMMANDS.filter((e) => includeHidden || !e.hidden).map((e) => e.name);
}

/** Every top-level command, fully defined (completion scripts list their subcommands). */
export async function loadAllCommands(): Promise<Command[]> {
  return Promise.all(COMMANDS.filter((e) => !e.hidden).map((e) => e.load()));
}

/** From package.json: two folders up from daemon/cli/, three from the prebuilt CLI's chunks. */
function version(): string {
  for (const path of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { name?: string; version: string };
      if (pkg.name === "makima-history") return pkg.version;
    } catch {
      // not there: the next place
    }
  }
  return "unknown";
}

/** The first word that is not an option: the command to load. */
function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--profile") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** The program with the named command loaded, the others as stubs that show in help and suggestions. */
export async function buildProgram(args: string[] = []): Promise<Command> {
  const program = new Command("makima")
    .description("history, resume, rewind and fork for coding agents")
    .version(version(), "-v, --version")
    .option("--profile <name>", "the profile of ~/.config/makima/config.json to use (else MAKIMA_PROFILE, else its default)")
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  let word = commandWord(args);
  if (word === "help") word = args[args.indexOf("help") + 1];
  for (const entry of COMMANDS) {
    const cmd = entry.name === word ? await entry.load() : new Command(entry.name).description(entry.summary).allowUnknownOption().helpOption(false);
    program.addCommand(cmd, { hidden: entry.hidden });
  }
  program.hook("preAction", async (_program, action) => {
    const { useProfile } = await import("./config.js");
    useProfile(action.optsWithGlobals().profile as string | undefined);
    const json = action.getOptionValue("json") as string | boolean | undefined;
    // --json is --format json where --format is an output format (import's --format is the transcripts').
    if (json !== undefined && action.options.some((o) => o.long === "--format" && o.argChoices?.includes("json"))) action.setOptionValue("format", "json");
    // Which of them are short ids (not checkpoint numbers) is shortIds.ts's to say.
    if (action.processedArgs.some((a) => typeof a === "string") || typeof action.getOptionValue("contract") === "string") {
      await (await import("./shortIds.js")).expandShortIds(action);
    }
  });
  program.addHelpText(
    "after",
    `
Settings, first found wins: the command's flags, then MAKIMA_API_URL, MAKIMA_API_KEY,
MAKIMA_CONTRACT_ID, MAKIMA_TASK_ID, then a profile (--profile, MAKIMA_PROFILE),
.makima/local.json (a clone running \`npm start\`), then your default profile
(\`makima login\`, \`makima config\`). Ids may be shortened to a unique prefix or suffix.
Exit codes: 0 ok, 1 the server or a daemon failed, 2 the command line was wrong.`,
  );
  configureErrors(program);
  return program;
}

/** Commander's complaints as one line naming the command's help; the same exit-override everywhere. */
function configureErrors(cmd: Command): void {
  const name = fullName(cmd);
  cmd.exitOverride();
  cmd.configureOutput({
    outputError: (text, write) => write(`makima: ${text.trim().replace(/^error: /, "").replace(/\n\(Did you mean/, " (did you mean")} (see \`${name} --help\`)\n`),
  });
  for (const sub of cmd.commands) configureErrors(sub);
}

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Runs one command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // `makima … | head`: a reader that stops early is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(EXIT_OK);
    throw error;
  });
  // `-V` as earlier versions spelled it.
  const args = argv.slice(2).map((a, i) => (i === 0 && a === "-V" ? "-v" : a));
  try {
    const program = await buildProgram(args);
    await program.parseAsync(args, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and the version exit 0 (also `makima help <command>`); a bare group's help and every mistake, 2.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`makima: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`makima: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    if (process.env.MAKIMA_DEBUG) process.stderr.write(`${(error as Error)?.stack}\n`);
    return EXIT_FAILURE;
  } finally {
    const { closePager } = await import("./pager.js");
    await closePager();
  }
}
