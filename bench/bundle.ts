import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildFunctions, formatSizes } from "../stacks/build.js";
import { writeBenchResult } from "./support.js";

/**
 * bench/bundle: each Lambda's bundle, built as SST deploys it (stacks/build.ts
 * with stacks/functions.ts LAMBDA_NODEJS): its size (the bundle, what a cold
 * start loads with the chunks it imports, every file, and gzip, what a
 * deployment uploads) and its module load time in a fresh Node process (the
 * part of a cold start the code controls), median of 7, next to the limits.
 */
const LOADS = 7;
/** Every function's files, minified. */
const BYTES_LIMIT = 1_000_000;
/** A function's module load, median, wall and CPU. */
const LOAD_MS_LIMIT = 150;

/**
 * Wall time of the import, and the CPU time it took (user + system): on a
 * busy machine the wall time measures the other processes too, the CPU time
 * much less so.
 */
function loadTimeMs(file: string): { wall: number; cpu: number } {
  const script = `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); const u = process.cpuUsage(c); console.log(JSON.stringify({ wall: performance.now() - t, cpu: (u.user + u.system) / 1000 }));`;
  const runs = Array.from({ length: LOADS }, () =>
    JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        env: { ...process.env, AWS_REGION: "us-east-1", MAKIMA_TABLE: "bench", MAKIMA_BUCKET: "bench", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
        encoding: "utf8",
      }).trim(),
    ) as { wall: number; cpu: number },
  );
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(LOADS / 2)]!;
  return { wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)) };
}

export async function runBundleBench(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), "makima-bundle-"));
  try {
    const sizes = await buildFunctions(out, { sourcemap: false });
    console.log(formatSizes(sizes));
    const load = loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
    console.log(`\nmodule load time (fresh node ${process.version}, median of ${LOADS}, load average ${load}): wall, and CPU (user + system)`);
    const times = sizes.map((size) => {
      const time = loadTimeMs(size.file);
      console.log(`  ${size.name.padEnd(14)} ${time.wall.toFixed(1).padStart(7)} ms  ${time.cpu.toFixed(1).padStart(7)} ms CPU`);
      return { name: size.name, ...time };
    });
    const largest = sizes.reduce((a, b) => (b.totalBytes > a.totalBytes ? b : a));
    const slowest = (pick: (t: (typeof times)[number]) => number) => times.reduce((a, b) => (pick(b) > pick(a) ? b : a));
    const wall = slowest((t) => t.wall);
    const cpu = slowest((t) => t.cpu);
    const within = (ok: boolean) => (ok ? "within" : "OVER");
    console.log(
      `\nlargest function: ${largest.name} ${largest.totalBytes.toLocaleString("en-US")} B in all files, ${largest.startBytes.toLocaleString("en-US")} B at start (${within(largest.totalBytes <= BYTES_LIMIT)} ${BYTES_LIMIT.toLocaleString("en-US")} B)`,
    );
    console.log(
      `slowest load: ${wall.name} ${wall.wall.toFixed(1)} ms wall, ${cpu.name} ${cpu.cpu.toFixed(1)} ms CPU (${within(wall.wall <= LOAD_MS_LIMIT && cpu.cpu <= LOAD_MS_LIMIT)} ${LOAD_MS_LIMIT} ms)`,
    );
    writeBenchResult("bundle", {
      "largest function": largest.name,
      "its bytes in all files": largest.totalBytes,
      "its bytes at start": largest.startBytes,
      "slowest load, wall ms": Number(wall.wall.toFixed(1)),
      "slowest load, CPU ms": Number(cpu.cpu.toFixed(1)),
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runBundleBench();
