/**
 * The Lambda bundles as they deploy: stacks/build.ts builds them with
 * stacks/functions.ts LAMBDA_NODEJS, the options SST bundles each function
 * with. Each bundle is loaded in a fresh Node process from a directory with no
 * node_modules in reach, and the api bundle is invoked with API Gateway events
 * against the test's table: it serves the source's OpenAPI document, refuses
 * invalid input through zod, and writes through the bundled AWS SDK.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildFunctions, type BundleSize } from "../stacks/build.js";
import { LAMBDA_ENTRIES, LAMBDA_NODEJS } from "../stacks/functions.js";
import bundlePlugins from "../stacks/bundlePlugins.mjs";
import { build, type OnLoadResult, type OnResolveResult, type Plugin, type PluginBuild } from "esbuild";
import { createApiKey } from "../core/store/owners.js";
import type { Config } from "../core/config.js";
import { createTestApi } from "./support/api.js";
import { awsEvent } from "./support/fixtures.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface LambdaResult {
  statusCode: number;
  body: string;
  headers?: Record<string, string>;
}

/**
 * Imports `file` in a fresh Node process (working directory `cwd`), then calls
 * its handler with each event in turn, and returns the answers.
 */
function runBundle(file: string, events: unknown[], env: Record<string, string>, cwd: string, alsoImport: string[] = []): Promise<LambdaResult[]> {
  const answers = join(cwd, `answers-${Math.random().toString(36).slice(2)}.json`);
  const script = [
    `import { writeFileSync } from "node:fs";`,
    `const [file, events, answers, ...more] = process.argv.slice(1);`,
    `const { handler } = await import(file);`,
    `for (const other of more) await import(other);`,
    `const out = [];`,
    `for (const event of JSON.parse(events)) out.push(await handler(event, {}));`,
    `writeFileSync(answers, JSON.stringify(out));`,
  ].join("\n");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--input-type=module", "-e", script, pathToFileURL(file).href, JSON.stringify(events), answers, ...alsoImport.map((f) => pathToFileURL(f).href)],
      { cwd, env: { PATH: process.env.PATH ?? "", POWERTOOLS_LOG_LEVEL: "SILENT", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...env }, timeout: 120_000 },
      (error, _stdout, stderr) => {
        if (error) return reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
        try {
          resolve(JSON.parse(readFileSync(answers, "utf8")) as LambdaResult[]);
        } catch (e) {
          reject(e as Error);
        }
      },
    );
  });
}

function lambdaEnv(config: Config): Record<string, string> {
  return {
    AWS_REGION: config.region,
    MAKIMA_DYNAMO_ENDPOINT: config.dynamoEndpoint ?? "",
    MAKIMA_S3_ENDPOINT: config.s3Endpoint ?? "",
    MAKIMA_TABLE: config.tableName,
    MAKIMA_BUCKET: config.bucketName,
    MAKIMA_CURSOR_SECRET: config.cursorSecret,
  };
}

/** An API Gateway HTTP API (v2) event for `method path`. */
function httpEvent(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}): unknown {
  const sample = awsEvent(method === "GET" ? "apigw-http-v2.json" : "apigw-http-v2-post-json-body.json");
  return {
    ...sample,
    rawPath: path,
    rawQueryString: "",
    headers: { ...sample.headers, ...options.headers, ...(options.body !== undefined ? { "content-type": "application/json" } : {}) },
    requestContext: { ...sample.requestContext, http: { ...sample.requestContext.http, method, path } },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    isBase64Encoded: false,
  };
}

let out: string;
let bundles: BundleSize[];
let api: Awaited<ReturnType<typeof createTestApi>>;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), "makima-bundles-"));
  [bundles, api] = await Promise.all([buildFunctions(out, { sourcemap: false }), createTestApi()]);
}, 180_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

const bundleOf = (name: string) => bundles.find((b) => b.name === name)!;

describe("the Lambda bundles (stacks/build.ts, LAMBDA_NODEJS)", () => {
  it("each function is its bundle and the chunks next to it", () => {
    expect(bundles.map((b) => b.name)).toEqual(LAMBDA_ENTRIES.map((e) => e.name));
    for (const b of bundles) {
      expect(b.files[0], b.name).toBe(join(out, `${b.name}.mjs`));
      for (const f of b.files.slice(1)) expect(f.startsWith(join(out, `${b.name}-`)), f).toBe(true);
      expect(b.bytes).toBeLessThanOrEqual(b.startBytes);
      expect(b.startBytes).toBeLessThanOrEqual(b.totalBytes);
    }
  });

  it.each(LAMBDA_ENTRIES.map((e) => [e.name]))("%s loads on its own, with no node_modules in reach, and so does each of its chunks", async (name) => {
    const { file, files } = bundleOf(name);
    expect(await runBundle(file, [], lambdaEnv(api.db.config), out, files.slice(1))).toEqual([]);
  }, 120_000);

  it("the api bundle serves the source's OpenAPI document, validates with zod and writes to the table", async () => {
    const owner = await api.newOwner();
    const key = (await createApiKey(api.db, owner.ownerId, { kind: "api" })).key;
    const auth = { authorization: `Bearer ${key}` };
    const [document, health, invalid, created] = await runBundle(
      bundleOf("api").file,
      [
        httpEvent("GET", "/api/v1/openapi.json"),
        httpEvent("GET", "/health"),
        httpEvent("POST", "/api/v1/contracts", { headers: auth, body: { name: 5 } }),
        httpEvent("POST", "/api/v1/contracts", { headers: auth, body: { name: "from the bundle" } }),
      ],
      lambdaEnv(api.db.config),
      out,
    );

    expect(document!.statusCode).toBe(200);
    expect(JSON.parse(document!.body)).toEqual((await api.call("GET", "/api/v1/openapi.json")).body);
    expect(health!.statusCode).toBe(200);
    expect(JSON.parse(health!.body)).toEqual({ ok: true });

    const source = await api.call("POST", "/api/v1/contracts", { key, body: { name: 5 } });
    expect(invalid!.statusCode).toBe(400);
    expect(JSON.parse(invalid!.body)).toEqual(source.body);

    expect(created!.statusCode, created!.body).toBe(201);
    const contract = JSON.parse(created!.body) as { id: string; name: string };
    expect(contract.name).toBe("from the bundle");
    expect((await api.call("GET", `/api/v1/contracts/${contract.id}`, { key })).body).toMatchObject({ id: contract.id, name: "from the bundle" });
  }, 120_000);

  it("carry zod's English messages only, and none of zod the service never runs", () => {
    for (const { name, files } of bundles) {
      const text = files.map((f) => readFileSync(f, "utf8")).join("\n");
      // A German locale message; zod's compiler (`z.compile`), kept only when the whole `z` namespace is.
      expect(text.includes("zu haben"), `${name}: zod's locales are bundled`).toBe(false);
      expect(text.includes("z.compile does not support"), `${name}: zod's whole namespace is bundled (import it as \`import * as z from "zod"\`)`).toBe(false);
    }
  });

  it("the plugins answer the same when every resolve and load reaches every callback, as SST's plugin relay calls them", async () => {
    // SST runs stacks/bundlePlugins.mjs in a node process of its own and hands it every
    // resolve and load, whatever a callback's filter or namespace.
    const resolvers: Parameters<PluginBuild["onResolve"]>[1][] = [];
    const loaders: Parameters<PluginBuild["onLoad"]>[1][] = [];
    const stub = { onResolve: (_: unknown, cb: (typeof resolvers)[number]) => resolvers.push(cb), onLoad: (_: unknown, cb: (typeof loaders)[number]) => loaders.push(cb), onEnd: () => undefined };
    for (const plugin of bundlePlugins) await plugin.setup(stub as unknown as PluginBuild);
    const relay: Plugin = {
      name: "relay",
      setup(b) {
        b.onResolve({ filter: /.*/ }, async (args) => {
          for (const cb of resolvers) {
            const answer = await cb(args);
            if (answer) return JSON.parse(JSON.stringify(answer)) as OnResolveResult;
          }
          return undefined;
        });
        b.onLoad({ filter: /.*/ }, async (args) => {
          for (const cb of loaders) {
            const answer = await cb(args);
            if (answer) return JSON.parse(JSON.stringify(answer)) as OnLoadResult;
          }
          return undefined;
        });
      },
    };
    const { outputFiles } = await build({
      absWorkingDir: ROOT,
      entryPoints: ["functions/api.ts"],
      bundle: true,
      platform: "node",
      format: "esm",
      mainFields: LAMBDA_NODEJS.esbuild.mainFields,
      write: false,
      logLevel: "silent",
      plugins: [relay],
    });
    const text = outputFiles.map((f) => f.text).join("\n");
    expect(text.includes("zu haben")).toBe(false);
    expect(text.includes("z.compile does not support")).toBe(false);
    expect(text).toContain("ZodType");
  }, 120_000);

  it("nothing imports `z` from @hono/zod-openapi, whose bundled `z` holds only ZodType", () => {
    const files = execFileSync("git", ["ls-files", "core", "functions", "daemon", "stacks"], { cwd: ROOT, encoding: "utf8" })
      .split("\n").filter((f) => /\.(ts|mts|js|mjs)$/.test(f));
    const offenders = files.filter((f) =>
      [...readFileSync(join(ROOT, f), "utf8").matchAll(/import\s*(type\s*)?\{([^}]*)\}\s*from\s*"@hono\/zod-openapi"/g)].some(
        (m) => !m[1] && m[2]!.split(",").some((name) => /^\s*z(\s+as\s+\w+)?\s*$/.test(name)),
      ),
    );
    expect(files.length).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});

