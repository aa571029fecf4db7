/**
 * `npm run build`: bundles every Lambda entry in LAMBDA_ENTRIES with esbuild
 * into `dist/functions/<name>.mjs` (self-contained: every dependency, the AWS
 * SDK v3 included, is in the bundle) and prints their sizes.
 *
 * SST bundles the functions itself on `sst deploy`, with the same options
 * (stacks/functions.ts LAMBDA_NODEJS, plugins from stacks/bundlePlugins.mjs);
 * this build is for checking that the entries bundle, for measuring them
 * (bench/ reuses buildFunctions), and for deploying the bundles by other means.
 */
import { build } from "esbuild";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import bundlePlugins from "./bundlePlugins.mjs";
import { LAMBDA_ENTRIES, LAMBDA_NODEJS, type LambdaEntry } from "./functions.js";

/** The project root (this file lives in `<root>/stacks/`). */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

export const DEFAULT_OUT_DIR = join(PROJECT_ROOT, "dist", "functions");

export interface BundleSize {
  name: string;
  /** Path of the bundle. */
  file: string;
  /** Size of the bundle in bytes (the `.mjs`, without its source map). */
  bytes: number;
  /** Size of the bundle gzip-compressed (level 9): roughly what the deployment zip costs. */
  gzipBytes: number;
}

export interface BuildOptions {
  /** Which entries to build; default all of LAMBDA_ENTRIES. */
  entries?: readonly LambdaEntry[];
  /** Write source maps next to the bundles; default true. */
  sourcemap?: boolean;
  /** Minify; default true. */
  minify?: boolean;
}

/**
 * What SST's Node runtime puts at the top of every bundle before
 * LAMBDA_NODEJS.banner: ESM output still meets CommonJS code inside
 * dependencies (the AWS SDK and others call `require` for Node built-ins), so
 * the module gets a real `require`.
 */
const SST_RUNTIME_BANNER = [
  `import { createRequire as __makimaCreateRequire } from "node:module";`,
  `const require = __makimaCreateRequire(import.meta.url);`,
].join("\n");

/**
 * Bundles the Lambda entries into `outDir` (relative paths are taken from the
 * project root) and returns each bundle's size, in LAMBDA_ENTRIES order.
 * Throws, naming them, if entry files are missing.
 */
export async function buildFunctions(outDir: string = DEFAULT_OUT_DIR, options: BuildOptions = {}): Promise<BundleSize[]> {
  const entries = options.entries ?? LAMBDA_ENTRIES;
  const out = isAbsolute(outDir) ? outDir : resolve(PROJECT_ROOT, outDir);

  const missing = entries.filter((e) => !existsSync(resolve(PROJECT_ROOT, e.entry)));
  if (missing.length > 0) {
    throw new Error(`Missing Lambda entry files: ${missing.map((e) => e.entry).join(", ")}`);
  }
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new Error(`Duplicate Lambda name "${e.name}" in LAMBDA_ENTRIES`);
    names.add(e.name);
  }

  mkdirSync(out, { recursive: true });
  const nodejs = LAMBDA_NODEJS;
  await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: Object.fromEntries(entries.map((e) => [e.name, e.entry])),
    outdir: out,
    outExtension: { ".js": ".mjs" },
    // As SST's Node runtime builds each function, from LAMBDA_NODEJS.
    bundle: true,
    platform: "node",
    format: nodejs.format,
    minify: options.minify ?? nodejs.minify,
    target: nodejs.esbuild.target,
    mainFields: nodejs.esbuild.mainFields,
    keepNames: nodejs.esbuild.keepNames,
    define: nodejs.esbuild.define,
    external: nodejs.esbuild.external,
    banner: { js: `${SST_RUNTIME_BANNER}\n${nodejs.banner}` },
    plugins: bundlePlugins,
    sourcemap: options.sourcemap ?? true,
    logLevel: "warning",
  });

  return entries.map((e) => {
    const file = join(out, `${e.name}.mjs`);
    const bytes = statSync(file).size;
    const gzipBytes = gzipSync(readFileSync(file), { level: 9 }).length;
    return { name: e.name, file, bytes, gzipBytes };
  });
}

/** The sizes as an aligned text table, with a total row. */
export function formatSizes(sizes: readonly BundleSize[]): string {
  const fmt = (n: number) => n.toLocaleString("en-US");
  const total = sizes.reduce((acc, s) => ({ bytes: acc.bytes + s.bytes, gzipBytes: acc.gzipBytes + s.gzipBytes }), {
    bytes: 0,
    gzipBytes: 0,
  });
  const rows: string[][] = [
    ["function", "bundle", "bytes", "gzip bytes"],
    ...sizes.map((s) => [s.name, relative(PROJECT_ROOT, s.file), fmt(s.bytes), fmt(s.gzipBytes)]),
    ["total", "", fmt(total.bytes), fmt(total.gzipBytes)],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(rows[0]!), rule, ...rows.slice(1, -1).map(line), rule, line(rows[rows.length - 1]!)].join("\n");
}

async function main(): Promise<void> {
  const outDir = process.argv[2] ?? DEFAULT_OUT_DIR;
  const started = Date.now();
  const sizes = await buildFunctions(outDir);
  console.log(formatSizes(sizes));
  console.log(`\nbuilt ${sizes.length} functions in ${Date.now() - started} ms`);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
