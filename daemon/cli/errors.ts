/**
 * The CLI's exit codes: 0 ok, 1 the server or a daemon failed (or could not
 * be reached), 2 the command line was wrong. Every failure prints one line.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** The command line is wrong or incomplete: exit 2. */
export const usage = (message: string) => new CliError(message, EXIT_USAGE);
