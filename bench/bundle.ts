import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildFunctions, formatSizes } from "../stacks/build.js";

/**
 * bench/bundle: each Lambda's bundle size (raw and gzip, what a deployment
 * uploads) and its module load time in a fresh Node process (the part of a
 * cold start the code controls), median of 5.
 */
const LOADS = 5;

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
    console.log(`\nmodule load time (fresh node ${process.version}, median of ${LOADS}): wall, and CPU (user + system)`);
    for (const size of sizes) {
      const { wall, cpu } = loadTimeMs(size.file);
      console.log(`  ${size.name.padEnd(14)} ${wall.toFixed(1).padStart(7)} ms  ${cpu.toFixed(1).padStart(7)} ms CPU`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runBundleBench();
