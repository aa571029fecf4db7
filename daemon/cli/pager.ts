import { spawn, type ChildProcess } from "node:child_process";

/**
 * Long output on a terminal goes through a pager: $MAKIMA_PAGER, $PAGER,
 * else `less -FRX` (colours kept). Output is held until it is longer than
 * the screen; shorter output is printed as it is, with no pager. Never
 * when stdout is not a terminal, TERM is dumb or unset, with --no-pager,
 * or with MAKIMA_PAGER=cat / PAGER=cat.
 */

let enabled = false;
let held: string[] = [];
let heldLines = 0;
let pager: { child: ChildProcess; done: Promise<void> } | undefined;

/** Allows a pager for this run (the command reads, and --no-pager was not given). */
export function allowPager(allow: boolean): void {
  const term = process.env.TERM;
  enabled = allow && Boolean(process.stdout.isTTY) && Boolean(term) && term !== "dumb";
}

function command(): string | undefined {
  const chosen = process.env.MAKIMA_PAGER ?? process.env.PAGER;
  if (chosen !== undefined) return chosen.trim() === "" || chosen.trim() === "cat" ? undefined : chosen;
  return "less -FRX";
}

function startPager(cmd: string): NodeJS.WritableStream {
  const child = spawn(cmd, { shell: true, stdio: ["pipe", "inherit", "inherit"], env: { LESS: "FRX", ...process.env } });
  const done = new Promise<void>((resolve) => {
    child.on("close", () => resolve());
    child.on("error", () => resolve());
  });
  // The reader quit early (q in less): the rest is not wanted.
  child.stdin!.on("error", () => undefined);
  pager = { child, done };
  return child.stdin!;
}

/** Writes command output: to stdout, or held until it outgrows the screen and then to the pager. */
export function writeOutput(text: string): void {
  if (pager) return void pager.child.stdin!.write(text);
  if (!enabled) return void process.stdout.write(text);
  held.push(text);
  heldLines += text.split("\n").length - 1;
  const cmd = command();
  if (!cmd) return flush();
  if (heldLines >= (process.stdout.rows || 24)) {
    const input = startPager(cmd);
    input.write(held.join(""));
    held = [];
  }
}

function flush(): void {
  if (held.length) process.stdout.write(held.join(""));
  held = [];
}

/** Prints what is held, or waits for the reader to finish with the pager. */
export async function closePager(): Promise<void> {
  if (!pager) return flush();
  pager.child.stdin!.end();
  await pager.done;
}
