import { spawn, type ChildProcess } from "node:child_process";

/**
 * Long output on a terminal goes through a pager: $MAKIMA_PAGER, $PAGER,
 * else `less -FRX` (it quits at once when the output fits one screen, and
 * keeps colours). Never when stdout is not a terminal, with --no-pager, or
 * MAKIMA_PAGER=cat / PAGER=cat.
 */

let enabled = false;
let pager: { child: ChildProcess; done: Promise<void> } | undefined;

/** Allows a pager for this run (the command reads, and --no-pager was not given). */
export function allowPager(allow: boolean): void {
  enabled = allow && Boolean(process.stdout.isTTY);
}

function command(): string | undefined {
  const chosen = process.env.MAKIMA_PAGER ?? process.env.PAGER;
  if (chosen !== undefined) return chosen.trim() === "" || chosen.trim() === "cat" ? undefined : chosen;
  return "less -FRX";
}

/** Where output goes: the pager's input once a pager runs, else stdout. */
export function outputStream(): NodeJS.WritableStream {
  if (!enabled) return process.stdout;
  if (pager) return pager.child.stdin!;
  const cmd = command();
  if (!cmd) return process.stdout;
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

/** Waits for the reader to finish with the pager, if one runs. */
export async function closePager(): Promise<void> {
  if (!pager) return;
  pager.child.stdin!.end();
  await pager.done;
}
