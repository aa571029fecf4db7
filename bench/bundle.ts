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

function loadTimeMs(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const times = Array.from({ length: LOADS }, () =>
    Number(
      execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        env: { ...process.env, AWS_REGION: "us-east-1", MAKIMA_TABLE: "bench", MAKIMA_BUCKET: "bench", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
        encoding: "utf8",
      }).trim(),
    ),
  ).sort((a, b) => a - b);
  return times[Math.floor(LOADS / 2)]!;
}

export async function runBundleBench(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), "makima-bundle-"));
  try {
    const sizes = await buildFunctions(out, { sourcemap: false });
    console.log(formatSizes(sizes));
    console.log(`\nmodule load time (fresh node ${process.version}, median of ${LOADS}):`);
    for (const size of sizes) console.log(`  ${size.name.padEnd(14)} ${loadTimeMs(size.file).toFixed(1).padStart(7)} ms`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runBundleBench();
