import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
// @ts-expect-error a plain .mjs build script, no types
import { buildCli } from "../stacks/buildCli.mjs";
import { writeBenchResult } from "./support.js";

/**
 * How quickly `makima` starts: `makima --help` (the prebuilt CLI, as an
 * installed `makima` runs it) against `node -e 0` on the same machine, in
 * one run, interleaved so both see the same load. Prints the medians and
 * their ratio (the CLI aims at ≤ 2).
 */

const BIN = fileURLToPath(new URL("../daemon/cli/bin.js", import.meta.url));
const RUNS = Number(process.env.CLI_BENCH_RUNS ?? 15);

function timed(args: string[], expected = 0): number {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  const ms = performance.now() - started;
  if (r.status !== expected) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runCliBench(): Promise<void> {
  await buildCli();
  // One of each first, unmeasured: the files are in the page cache for both.
  timed(["-e", "0"]);
  timed([BIN, "--help"]);
  const help: number[] = [];
  const node: number[] = [];
  const failing: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    node.push(timed(["-e", "0"]));
    help.push(timed([BIN, "--help"]));
    failing.push(timed([BIN, "task", "show", "--api-url", "not-a-url", "--api-key", "k"], 2));
  }
  const h = median(help);
  const n = median(node);
  console.log(`runs         ${RUNS} (medians)`);
  console.log(`help ms      ${h.toFixed(1)}`);
  console.log(`node ms      ${n.toFixed(1)}`);
  console.log(`ratio        ${(h / n).toFixed(2)}`);
  console.log(`usage ms     ${median(failing).toFixed(1)} (a command that fails before any network)`);
  writeBenchResult("cli", { "help ms": Number(h.toFixed(1)), "node ms": Number(n.toFixed(1)), ratio: Number((h / n).toFixed(2)) });
}
