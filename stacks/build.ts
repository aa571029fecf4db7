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
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import bundlePlugins from "./bundlePlugins.mjs";
import { LAMBDA_ENTRIES, LAMBDA_NODEJS, type LambdaEntry } from "./functions.js";
import { buildViewer, VIEWER_DIST, viewerSizes } from "./viewer.js";

/** The project root (this file lives in `<root>/stacks/`). */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

export const DEFAULT_OUT_DIR = join(PROJECT_ROOT, "dist", "functions");

export interface BundleSize {
  name: string;
  /** Path of the bundle: the module Lambda loads (`<name>.mjs`). */
  file: string;
  /** Every file of the function: the bundle, then its chunks (`<name>-…`); no source maps. */
  files: string[];
  /** Size of the bundle in bytes (the `.mjs`, without its source map). */
  bytes: number;
  /** The bundle and the chunks it imports statically: what a cold start reads and compiles. */
  startBytes: number;
  /** Every file: what deploys (the rest are chunks loaded when first needed). */
  totalBytes: number;
  /** Every file gzip-compressed (level 9): roughly what the deployment zip costs. */
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
 * project root), each on its own, and returns each bundle's sizes, in
 * LAMBDA_ENTRIES order.
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
  return Promise.all(entries.map((e) => buildOne(e, out, options)));
}

/** A previous build's files of function `name` in `out` (its bundle and chunks, with their maps). */
function previousFiles(out: string, name: string): string[] {
  const own = new RegExp(`^${name.replace(/[^\w-]/g, "")}(\\.mjs|-[\\w-]+-[A-Z0-9]{8}\\.mjs)(\\.map)?$`);
  return readdirSync(out).filter((f) => own.test(f));
}

/**
 * One function, built on its own as SST's Node runtime builds it, from
 * LAMBDA_NODEJS: the bundle `<name>.mjs` and, with splitting, the chunks
 * `<name>-<chunk>-<hash>.mjs` next to it (SST puts them next to its bundle
 * too, so `__dirname` is the same for all).
 */
async function buildOne(e: LambdaEntry, out: string, options: BuildOptions): Promise<BundleSize> {
  for (const f of previousFiles(out, e.name)) rmSync(join(out, f));
  const nodejs = LAMBDA_NODEJS;
  const { metafile } = await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: { [e.name]: e.entry },
    outdir: out,
    outExtension: { ".js": ".mjs" },
    chunkNames: `${e.name}-[name]-[hash]`,
    bundle: true,
    platform: "node",
    format: nodejs.format,
    splitting: nodejs.splitting,
    minify: options.minify ?? nodejs.minify,
    target: nodejs.esbuild.target,
    mainFields: nodejs.esbuild.mainFields,
    keepNames: nodejs.esbuild.keepNames,
    define: nodejs.esbuild.define,
    external: nodejs.esbuild.external,
    banner: { js: `${SST_RUNTIME_BANNER}\n${nodejs.banner}` },
    plugins: bundlePlugins,
    sourcemap: options.sourcemap ?? true,
    metafile: true,
    logLevel: "warning",
  });

  const outputs = new Map(Object.entries(metafile.outputs).filter(([path]) => path.endsWith(".mjs")).map(([path, o]) => [resolve(PROJECT_ROOT, path), o]));
  const file = join(out, `${e.name}.mjs`);
  const atStart = new Set<string>();
  const visit = (path: string) => {
    if (atStart.has(path)) return;
    atStart.add(path);
    for (const i of outputs.get(path)?.imports ?? []) if (i.kind === "import-statement" && !i.external) visit(resolve(PROJECT_ROOT, i.path));
  };
  visit(file);
  const files = [file, ...[...outputs.keys()].filter((f) => f !== file).sort()];
  const size = (f: string) => statSync(f).size;
  const sum = (paths: Iterable<string>) => [...paths].reduce((acc, f) => acc + size(f), 0);
  return {
    name: e.name,
    file,
    files,
    bytes: size(file),
    startBytes: sum(atStart),
    totalBytes: sum(files),
    gzipBytes: files.reduce((acc, f) => acc + gzipSync(readFileSync(f), { level: 9 }).length, 0),
  };
}

/** The sizes as an aligned text table, with a total row. */
export function formatSizes(sizes: readonly BundleSize[]): string {
  const fmt = (n: number) => n.toLocaleString("en-US");
  const sum = (pick: (s: BundleSize) => number) => fmt(sizes.reduce((acc, s) => acc + pick(s), 0));
  const rows: string[][] = [
    ["function", "bundle", "bytes", "at start", "all files", "gzip bytes"],
    ...sizes.map((s) => [
      s.name,
      `${relative(PROJECT_ROOT, s.file)}${s.files.length > 1 ? ` (+${s.files.length - 1} chunks)` : ""}`,
      fmt(s.bytes),
      fmt(s.startBytes),
      fmt(s.totalBytes),
      fmt(s.gzipBytes),
    ]),
    ["total", "", sum((s) => s.bytes), sum((s) => s.startBytes), sum((s) => s.totalBytes), sum((s) => s.gzipBytes)],
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
  await buildViewer();
  const viewer = viewerSizes();
  console.log(`built the viewer into ${relative(PROJECT_ROOT, VIEWER_DIST)}: JavaScript ${viewer.jsGzipBytes.toLocaleString("en-US")} bytes gzip, CSS ${viewer.cssGzipBytes.toLocaleString("en-US")} bytes gzip`);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
