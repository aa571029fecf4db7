/**
 * The Lambda entry points, in one list: what `stacks/build.ts` bundles, what
 * the SST stacks wire to API Gateway and the schedule, and what
 * `test/stack.test.ts` checks the stacks against. A handler string is
 * `<entry without .ts>.handler`, the form SST's `handler` option takes.
 *
 * This file is plain data (no SST globals), so tsc, tsx and vitest can import it.
 */

/** What invokes a function: a route of one of the two APIs, or the schedule. */
export type LambdaTrigger =
  | { type: "http"; route: "$default" }
  | { type: "websocket"; route: "$connect" | "$disconnect" | "$default" }
  | { type: "schedule"; component: string };

export interface LambdaEntry {
  /** Function name; also the bundle's file name (`dist/functions/<name>.mjs`). */
  name: string;
  /** Source file, relative to the project root. */
  entry: string;
  /** SST handler string: the entry's path without extension, then the export. */
  handler: string;
  trigger: LambdaTrigger;
}

export const LAMBDA_ENTRIES: readonly LambdaEntry[] = [
  {
    name: "api",
    entry: "functions/api.ts",
    handler: "functions/api.handler",
    trigger: { type: "http", route: "$default" },
  },
  {
    name: "ws-connect",
    entry: "functions/ws-connect.ts",
    handler: "functions/ws-connect.handler",
    trigger: { type: "websocket", route: "$connect" },
  },
  {
    name: "ws-disconnect",
    entry: "functions/ws-disconnect.ts",
    handler: "functions/ws-disconnect.handler",
    trigger: { type: "websocket", route: "$disconnect" },
  },
  {
    name: "ws-message",
    entry: "functions/ws-message.ts",
    handler: "functions/ws-message.handler",
    trigger: { type: "websocket", route: "$default" },
  },
  {
    name: "cleanup",
    entry: "functions/cleanup.ts",
    handler: "functions/cleanup.handler",
    trigger: { type: "schedule", component: "Cleanup" },
  },
];

/**
 * How every Lambda is bundled, in the shape of SST's `nodejs` function
 * option: sst.config.ts gives it to every function SST deploys, and
 * `npm run build` (stacks/build.ts, which the bundle bench runs) makes the same
 * esbuild build from it, so what is measured is what is deployed.
 *
 * SST's Node runtime bundles each handler as an ES module for Node, and puts
 * its own banner first (a `require` made with createRequire, `__filename`,
 * `__dirname`); stacks/build.ts adds the same `require`. The AWS SDK is
 * bundled like every other dependency (nothing is external): the runtime's
 * preinstalled SDK is not relied on.
 */
export interface LambdaNodejs {
  format: "esm";
  minify: boolean;
  /** Modules imported with `import()` go in chunks of their own, read only when first imported. */
  splitting: boolean;
  /** Goes after SST's own banner. */
  banner: string;
  /** A file (from the project root) whose default export is the esbuild plugins. */
  plugins: string;
  esbuild: {
    /** SST takes an `es20xx` target only (not `node20`); ES2023 is what Node 20 and 22 run. */
    target: string;
    mainFields: string[];
    keepNames: boolean;
    define: Record<string, string>;
    external: string[];
  };
}

export const LAMBDA_NODEJS: LambdaNodejs = {
  format: "esm",
  minify: true,
  // What a cold start does not need stays out of the module it compiles: the
  // AWS SDK's credential providers other than the environment's (a Lambda's
  // credentials are in its environment), and what the service imports on
  // first use.
  splitting: true,
  // SST's own banner already declares `require`, `__filename` and
  // `__dirname`: this one declares prefixed names, and `define` points the
  // free references of CommonJS code at them.
  banner: [
    `import { fileURLToPath as __makimaFileURLToPath } from "node:url";`,
    `const __makimaFilename = __makimaFileURLToPath(import.meta.url);`,
    `const __makimaDirname = __makimaFileURLToPath(new URL(".", import.meta.url));`,
  ].join("\n"),
  plugins: "stacks/bundlePlugins.mjs",
  esbuild: {
    target: "es2023",
    // Prefer the ESM builds of dependencies (smaller, tree-shakeable).
    mainFields: ["module", "main"],
    // esbuild's keepNames wraps every function and class in a call that
    // restores its name: about 50 KB and 15 ms of every cold start. Nothing in
    // the service reads a function's or class's name (AWS SDK errors carry
    // their own `name`; of jose's errors, only the message is read). Stack
    // traces show minified names: the source maps read them (SST keeps them
    // in its bootstrap bucket; `npm run build` writes them).
    keepNames: false,
    define: { __filename: "__makimaFilename", __dirname: "__makimaDirname" },
    external: [],
  },
};

/**
 * The infrastructure files sst.config.ts imports (the rest of stacks/ is
 * tooling: this list, the build, the type check, the local stack).
 */
export const INFRA_STACK_FILES = ["stacks/api.ts", "stacks/cleanup.ts", "stacks/realtime.ts", "stacks/storage.ts", "stacks/viewerSite.ts"] as const;
