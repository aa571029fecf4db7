/**
 * The esbuild plugins every Lambda bundle is built with, by `npm run build`
 * (stacks/build.ts) and by SST on deploy (`nodejs.plugins` in
 * stacks/functions.ts LAMBDA_NODEJS names this file).
 *
 * Plain JavaScript: SST loads this file with `node` itself and relays each of
 * esbuild's resolve and load calls to it. Its relay hands every call to every
 * plugin, whatever the plugin's filter or namespace, so the filters here are
 * `.*` and each callback checks what it is given, and answers `undefined`
 * (esbuild's own resolution) for anything else.
 */
import { dirname, resolve } from "node:path";

const ZOD_LOCALES = "makima-zod-locales";
const ZOD_FOR_OPENAPI = "makima-zod-for-openapi";

/**
 * zod re-exports every one of its ~50 error-message locales as a namespace
 * (`z.locales`), which no bundler can shake once the namespace object is
 * built: about 260 KB of minified text. The service speaks English only (zod
 * configures `en` itself), so the namespace is bundled with `en` alone.
 *
 * @type {import("esbuild").Plugin}
 */
const englishOnlyZodLocales = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) =>
      args.path === "../locales/index.js" && /[\\/]zod[\\/]v4[\\/]/.test(args.importer)
        ? { path: resolve(args.resolveDir, "../locales/en.js"), namespace: ZOD_LOCALES }
        : undefined,
    );
    build.onLoad({ filter: /.*/ }, (args) =>
      args.namespace === ZOD_LOCALES
        ? { contents: `export { default as en } from "./en.js";`, resolveDir: dirname(args.path), loader: "js" }
        : undefined,
    );
  },
};

/**
 * @hono/zod-openapi imports zod's `z` namespace only to hand it to
 * `extendZodWithOpenApi(z)`, which adds `.openapi()` to `z.ZodType`. Passing
 * the namespace as a value makes esbuild keep every export of zod (its JSON
 * Schema converters, its compiler, …): about 100 KB the service never runs.
 * That import gets `{ ZodType }`, the same class from the same zod; the
 * service itself imports zod as `import * as z from "zod"`, which bundles
 * only what it uses. (Nothing imports `z` from @hono/zod-openapi: the bundle
 * test checks that, and serves the OpenAPI document from the bundle.)
 *
 * @type {import("esbuild").Plugin}
 */
const zodTypeForOpenApi = {
  name: "zod-type-for-openapi",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) =>
      args.path === "zod" && args.namespace === "file" && /[\\/]@hono[\\/]zod-openapi[\\/]dist[\\/]/.test(args.importer)
        ? { path: args.resolveDir, namespace: ZOD_FOR_OPENAPI }
        : undefined,
    );
    build.onLoad({ filter: /.*/ }, (args) =>
      args.namespace === ZOD_FOR_OPENAPI
        ? { contents: `import { ZodType } from "zod";\nexport const z = { ZodType };`, resolveDir: args.path, loader: "js" }
        : undefined,
    );
  },
};

/** @type {import("esbuild").Plugin[]} */
const plugins = [englishOnlyZodLocales, zodTypeForOpenApi];
export default plugins;
