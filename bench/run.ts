import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { closeSharedEmulators, shareEmulators } from "./support.js";

/**
 * Runs every bench in bench/ that exists: `npm run bench` for all,
 * `npm run bench -- storage relay` for some. Benches are known by file and
 * export name; a file not written yet is skipped with a note, so this runner
 * does not have to change as benches land.
 */

const BENCHES = [
  { name: "storage", file: "./storage.ts", run: "runStorageBench" },
  { name: "cleanup", file: "./cleanup.ts", run: "runCleanupBench" },
  { name: "api", file: "./api.ts", run: "runApiBench" },
  { name: "relay", file: "./relay.ts", run: "runRelayBench" },
  { name: "reports", file: "./reports.ts", run: "runReportsBench" },
  { name: "bundle", file: "./bundle.ts", run: "runBundleBench" },
  { name: "partitions", file: "./partitions.ts", run: "runPartitionsBench" },
  { name: "cost", file: "./cost.ts", run: "runCostBench" },
  { name: "cli", file: "./cli.ts", run: "runCliBench" },
  { name: "viewer", file: "./viewer.ts", run: "runViewerBench" },
  { name: "import", file: "./import.ts", run: "runImportBench" },
] as const;

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => a !== "--").map((a) => a.toLowerCase());
  const unknown = filters.filter((f) => !BENCHES.some((b) => b.name.includes(f)));
  if (unknown.length) {
    console.error(`no bench matches ${unknown.join(", ")}; known: ${BENCHES.map((b) => b.name).join(", ")}`);
    process.exitCode = 2;
    return;
  }
  const selected = BENCHES.filter((b) => filters.length === 0 || filters.some((f) => b.name.includes(f)));

  // One set of emulators for every bench that asks for them through bench/support.ts.
  shareEmulators();
  const failed: string[] = [];
  try {
    for (const bench of selected) {
      console.log(`\n=== bench: ${bench.name} ===\n`);
      // Checked by path first: a failing import inside an existing bench must not read as "not written yet".
      if (!existsSync(fileURLToPath(new URL(bench.file, import.meta.url)))) {
        console.log(`(skipped: bench/${bench.file.slice(2)} does not exist yet)`);
        continue;
      }
      const started = performance.now();
      try {
        // The .js suffix resolves to the .ts file under tsx, like every other import here.
        const module = (await import(bench.file.replace(/\.ts$/, ".js"))) as Record<string, unknown>;
        const run = module[bench.run];
        if (typeof run !== "function") throw new Error(`bench/${bench.file.slice(2)} does not export ${bench.run}()`);
        await (run as () => Promise<void>)();
        console.log(`\n(${bench.name}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed.push(bench.name);
        console.error(`bench ${bench.name} failed:`, error);
      }
    }
  } finally {
    await closeSharedEmulators();
  }
  if (failed.length) {
    console.error(`\nfailed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

await main();
