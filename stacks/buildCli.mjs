/**
 * The `makima` CLI as prebuilt JavaScript: daemon/cli/main.ts bundled by
 * esbuild into dist/cli/ (ESM, split so each command's code is a chunk
 * loaded only when that command runs). daemon/cli/bin.js runs it while it
 * is newer than every source file it was built from (listed in
 * dist/cli/inputs.json), and the TypeScript through tsx otherwise.
 *
 * Runs on `npm install` (the "prepare" script) and with `npm run build`;
 * plain Node, so it needs nothing but esbuild. Without esbuild (a
 * production install) it says so and the CLI runs through tsx.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const CLI_OUT_DIR = join(ROOT, "dist", "cli");

/** Builds dist/cli; resolves to its entry, or undefined when esbuild is not installed. */
export async function buildCli(outDir = CLI_OUT_DIR) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    console.error("makima CLI: esbuild is not installed; the CLI runs through tsx (slower to start)");
    return undefined;
  }
  const builtAt = Date.now();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { metafile } = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: "daemon/cli/main.ts" },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    minify: true,
    chunkNames: "chunks/[name]-[hash]",
    // CommonJS inside dependencies (ws, cli-table3) gets a real require.
    banner: { js: 'import { createRequire as __makimaRequire } from "node:module"; const require = __makimaRequire(import.meta.url);' },
    metafile: true,
    logLevel: "warning",
  });
  const inputs = Object.keys(metafile.inputs).filter((p) => !p.includes("node_modules/")).sort();
  writeFileSync(join(outDir, "inputs.json"), JSON.stringify({ builtAt, inputs: [...inputs, "package.json"] }) + "\n");
  // main.ts reads ../../package.json for --version: dist/cli/ sits as deep as daemon/cli/.
  return join(outDir, "main.js");
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const started = Date.now();
  const entry = await buildCli();
  if (entry) console.error(`makima CLI built in ${Date.now() - started} ms: ${entry}`);
}
