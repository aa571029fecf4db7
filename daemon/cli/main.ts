import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./errors.js";
import { contractCommand } from "./commands/contract.js";
import { supervisorCommand } from "./commands/supervisor.js";
import { taskCommand } from "./commands/task.js";
import { checkpointCommand } from "./commands/checkpoint.js";
import { keysCommand } from "./commands/keys.js";
import { daemonCommand } from "./commands/daemon.js";
import { exportCommand, importCommand } from "./commands/importExport.js";

/**
 * `makima`: history, resume, rewind and fork from the terminal, over the
 * HTTP API. Exit codes: 0 ok, 1 the server or a daemon failed, 2 the
 * command line was wrong; every failure is one line on stderr.
 */

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function buildProgram(): Command {
  const program = new Command("makima")
    .description("history, resume, rewind and fork for coding agents")
    .version(version(), "-V, --version")
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  program.addCommand(contractCommand());
  program.addCommand(taskCommand());
  program.addCommand(checkpointCommand());
  program.addCommand(supervisorCommand());
  program.addCommand(keysCommand());
  program.addCommand(daemonCommand());
  program.addCommand(importCommand());
  program.addCommand(exportCommand());
  program.addHelpText(
    "after",
    `
Settings, first found wins: the command's flags, then MAKIMA_API_URL, MAKIMA_API_KEY,
MAKIMA_CONTRACT_ID, MAKIMA_TASK_ID, then .makima/local.json (written by \`npm start\`).
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
    outputError: (text, write) => write(`makima: ${text.trim().replace(/^error: /, "")} (see \`${name} --help\`)\n`),
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
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`makima: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`makima: unexpected failure: ${(error as Error)?.message ?? String(error)}\n`);
    if (process.env.MAKIMA_DEBUG) process.stderr.write(`${(error as Error)?.stack}\n`);
    return EXIT_FAILURE;
  }
}
