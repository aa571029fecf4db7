/**
 * The AWS deployment (sst.config.ts, stacks/*.ts), executed against a
 * recording stand-in for SST's globals (test/support/sstStandIn.ts) and
 * type-checked against SST's component argument types (stacks/typecheck.ts).
 * What it declares is checked against the code it deploys:
 *
 * - the Dynamo table against core/keys.ts TABLE_KEYS (what the local stack and
 *   tests create through core/tableSchema.ts);
 * - every function wired to a route or the schedule against
 *   stacks/functions.ts LAMBDA_ENTRIES (what `npm run build` bundles), both
 *   ways, and every entry file against the disk;
 * - the WebSocket routes and the `$default` route response, the cron
 *   schedule, timeouts, links, environment and the cursor secret per stage;
 * - no DynamoDB Scan anywhere in core/, functions/, stacks/.
 */
import { beforeAll, describe, expect, it } from "vitest";
import ts from "typescript";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { TABLE_KEYS } from "../core/keys.js";
import { CURSOR_SECRET_UNSET, loadConfig } from "../core/config.js";
import { blobKeys } from "../core/blobs.js";
import { INFRA_STACK_FILES, LAMBDA_ENTRIES, LAMBDA_NODEJS } from "../stacks/functions.js";
import bundlePlugins from "../stacks/bundlePlugins.mjs";
import { checkStacks } from "../stacks/typecheck.js";
import { Component, Output, runStacks, type Args, type Deployment, type RecordedFunction } from "./support/sstStandIn.js";
import { filesUnder } from "./support/sourceFiles.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const rel = (path: string) => relative(ROOT, path).split("\\").join("/");

/** Files in stacks/ that are tooling, not infrastructure: not imported by sst.config.ts. */
const STACKS_TOOLING = ["stacks/build.ts", "stacks/functions.ts", "stacks/typecheck.ts", "stacks/viewer.ts"];

function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };

/** SST durations: "29 seconds", "5 minutes", "45 days". */
function durationSeconds(value: unknown): number {
  const match = typeof value === "string" ? /^(\d+) (second|minute|hour|day)s?$/.exec(value) : null;
  if (!match) throw new Error(`not an SST duration: ${JSON.stringify(value)}`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** EventBridge (Scheduler) schedule expressions: rate(…) and cron(…). */
function isValidSchedule(expression: string): boolean {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const plural = rate[2]!.endsWith("s");
    return value >= 1 && plural === (value !== 1);
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) return false;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return false;
  if (!fields.every((f) => /^[0-9A-Za-z*?,\-/#]+$/.test(f))) return false;
  const [minutes, hours, dayOfMonth, , dayOfWeek] = fields as [string, string, string, string, string, string];
  if ([minutes, hours].some((f) => f.includes("?"))) return false;
  // Exactly one of day-of-month and day-of-week is "?".
  return (dayOfMonth === "?") !== (dayOfWeek === "?");
}


/** Uses of a DynamoDB Scan in a file's code (comments and strings do not count). */
function scanUses(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const hits: string[] = [];
  const where = (node: ts.Node) => `${fileName}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;
  walk(sf, (node) => {
    if (ts.isIdentifier(node) && /^(Scan(Command|Input|Output|CommandInput|CommandOutput)?|paginateScan)$/.test(node.text)) {
      // `Scan` alone is a common word; only count it as an identifier in an import or a type/value reference.
      if (node.text !== "Scan" || ts.isImportSpecifier(node.parent)) hits.push(`${where(node)} ${node.text}`);
    }
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text.toLowerCase() === "scan"
    ) {
      hits.push(`${where(node)} .${node.expression.name.text}(`);
    }
  });
  return hits;
}


const entryFor = (handler: unknown) => LAMBDA_ENTRIES.find((e) => e.handler === handler);
const nameOf = (fn: RecordedFunction) => entryFor(fn.handler)?.name ?? fn.handler;
const isArgs = (value: unknown): value is Args => typeof value === "object" && value !== null && !Array.isArray(value);

/** Where a deploy-time value comes from (`Table.name`), or the value itself. */
const source = (value: unknown) => (value instanceof Output ? (value.value ?? value.from) : value);

const STAGE_ENV = {
  MAKIMA_RETENTION_DAYS: undefined,
  MAKIMA_OPERATORS: undefined,
  MAKIMA_JWT_JWKS_URL: undefined,
  MAKIMA_JWT_ISSUER: undefined,
  MAKIMA_JWT_AUDIENCE: undefined,
  MAKIMA_THROTTLE_RATE: undefined,
  MAKIMA_THROTTLE_BURST: undefined,
};

let dev: Deployment;
beforeAll(async () => {
  dev = await runStacks({ stage: "alice", env: STAGE_ENV });
});

describe("the test's own parsers", () => {
  it("validates schedule expressions", () => {
    for (const ok of ["rate(1 hour)", "rate(5 minutes)", "rate(1 day)", "cron(0 * * * ? *)", "cron(15 10 ? * MON-FRI *)"]) {
      expect(isValidSchedule(ok), ok).toBe(true);
    }
    for (const bad of ["rate(1 hours)", "rate(2 hour)", "rate(0 minutes)", "rate(1 week)", "cron(0 * * * *)", "cron(0 * * * * *)", "1 hour", "at(2025-01-01T00:00:00)"]) {
      expect(isValidSchedule(bad), bad).toBe(false);
    }
  });

  it("finds Scan in code, not in comments or strings", () => {
    const code = [
      `import { ScanCommand } from "@aws-sdk/lib-dynamodb";`,
      `// never use ScanCommand or .scan(`,
      `const message = "no ScanCommand here";`,
      `await client.scan({ TableName: "t" });`,
    ].join("\n");
    expect(scanUses("x.ts", code)).toEqual(["x.ts:1 ScanCommand", "x.ts:4 .scan("]);
  });
});

describe("types (stacks/typecheck.ts)", () => {
  it("sst.config.ts and the stacks type-check against SST's component types", () => {
    expect(checkStacks().errors).toEqual([]);
  }, 60_000);

  it("an argument SST does not take is a type error", () => {
    const dir = mkdtempSync(join(tmpdir(), "makima-stack-types-"));
    const file = join(dir, "mutant.ts");
    writeFileSync(
      file,
      [
        `new sst.aws.ApiGatewayWebSocket("Relay").route("$default", { handler: "functions/ws-message.handler", timout: "29 seconds" });`,
        `new sst.aws.CronV2("Cleanup", { schedule: "rate(1 hour)", function: { handler: "functions/cleanup.handler", timeout: "29 secs" } });`,
        `new sst.aws.Dynamo("Table", { fields: { pk: "text" }, primaryIndex: { hashKey: "pk" } });`,
        `new sst.aws.Function("Fn", { handler: "functions/api.handler", nodejs: { esbuild: { alias: { zod: "zod/mini" } } } });`,
      ].join("\n"),
    );
    const { errors } = checkStacks([file]);
    expect(errors.join("\n")).toMatch(/mutant\.ts:1: .*timout/);
    expect(errors.join("\n")).toMatch(/mutant\.ts:2: .*29 secs/);
    expect(errors.join("\n")).toMatch(/mutant\.ts:3: .*"text"/);
    // SST passes a few esbuild options on, not esbuild's whole BuildOptions.
    expect(errors.join("\n")).toMatch(/mutant\.ts:4: .*alias/);
  }, 60_000);
});

describe("sst.config.ts", () => {
  it("starts with the SST platform reference", () => {
    expect(readFileSync(join(ROOT, "sst.config.ts"), "utf8").split("\n")[0]).toBe(
      '/// <reference path="./.sst/platform/config.d.ts" />',
    );
  });

  it("retains and protects production stages, and only those", async () => {
    expect(dev.app).toMatchObject({ name: "makima-history", home: "aws", removal: "remove", protect: false });
    for (const stage of ["prod", "production"]) {
      const deployment = await runStacks({ stage, env: STAGE_ENV, secrets: { CursorSecret: "s3cret" } });
      expect(deployment.app, stage).toMatchObject({ removal: "retain", protect: true });
      expect(deployment.ofKind("sst.aws.Dynamo")[0]!.args.deletionProtection, stage).toBe(true);
    }
    expect(dev.ofKind("sst.aws.Dynamo")[0]!.args.deletionProtection).toBe(false);
  });

  it("imports every infrastructure file in stacks/, and the list names them all", () => {
    const onDisk = readdirSync(join(ROOT, "stacks"), { withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith(".ts") && !d.name.endsWith(".d.ts"))
      .map((d) => `stacks/${d.name}`)
      .filter((f) => !STACKS_TOOLING.includes(f))
      .sort();
    expect([...INFRA_STACK_FILES].sort()).toEqual(onDisk);
    const config = readFileSync(join(ROOT, "sst.config.ts"), "utf8");
    const imported = [...config.matchAll(/import\("\.\/(stacks\/\w+)"\)/g)]
      .map((m) => `${m[1]}.ts`)
      .filter((f) => !STACKS_TOOLING.includes(f))
      .sort();
    expect(imported).toEqual(onDisk);
  });

  it("outputs the URLs and names a client and an operator need", () => {
    expect(Object.keys(dev.outputs).sort()).toEqual(["apiUrl", "bucket", "stage", "table", "viewerUrl", "websocketManagementEndpoint", "websocketUrl"]);
    expect(source(dev.outputs.viewerUrl)).toBe("Viewer.url");
    expect(source(dev.outputs.apiUrl)).toBe("Api.url");
    expect(source(dev.outputs.websocketUrl)).toBe("Relay.url");
    expect(source(dev.outputs.table)).toBe("Table.name");
    expect(dev.outputs.stage).toBe("alice");
  });

  it("uses CronV2, not the deprecated Cron", () => {
    expect(dev.ofKind("sst.aws.Cron")).toEqual([]);
    expect(dev.ofKind("sst.aws.CronV2")).toHaveLength(1);
  });
});

describe("storage (stacks/storage.ts)", () => {
  const table = () => dev.ofKind("sst.aws.Dynamo");

  it("declares one table", () => {
    expect(table().map((t) => t.logicalName)).toEqual(["Table"]);
  });

  it("has exactly the key attributes of TABLE_KEYS as string fields", () => {
    const keyAttributes = [
      TABLE_KEYS.partitionKey,
      TABLE_KEYS.sortKey,
      ...Object.values(TABLE_KEYS.globalIndexes).flatMap((i) => [i.hashKey, i.rangeKey]),
    ];
    expect(table()[0]!.args.fields).toEqual(Object.fromEntries(keyAttributes.map((k) => [k, "string"])));
  });

  it("has the primary index of TABLE_KEYS", () => {
    expect(table()[0]!.args.primaryIndex).toEqual({ hashKey: TABLE_KEYS.partitionKey, rangeKey: TABLE_KEYS.sortKey });
  });

  it("has the global indexes of TABLE_KEYS, projecting all attributes like core/tableSchema.ts", () => {
    const declared = table()[0]!.args.globalIndexes;
    expect(isArgs(declared)).toBe(true);
    const indexes = declared as Args;
    expect(Object.keys(indexes).sort()).toEqual(Object.keys(TABLE_KEYS.globalIndexes).sort());
    for (const [name, index] of Object.entries(TABLE_KEYS.globalIndexes)) {
      const { projection, ...keysOnly } = (indexes[name] ?? {}) as Args;
      expect(keysOnly, name).toEqual({ hashKey: index.hashKey, rangeKey: index.rangeKey });
      expect([undefined, "all"], `${name} projection`).toContain(projection);
    }
  });

  it("has the TTL attribute of TABLE_KEYS", () => {
    expect(table()[0]!.args.ttl).toBe(TABLE_KEYS.ttlAttribute);
  });

  it("declares one bucket whose lifecycle expires only transfers, after operations expire", () => {
    const buckets = dev.ofKind("sst.aws.Bucket");
    expect(buckets.map((b) => b.logicalName)).toEqual(["Blobs"]);
    const rules = buckets[0]!.args.lifecycle as Args[];
    expect(Array.isArray(rules)).toBe(true);
    expect(rules.map((r) => r.prefix)).toEqual([blobKeys.transferPrefix]);
    // An operation's large result lives in transfers/ for as long as the operation (7 days).
    expect(durationSeconds(rules[0]!.expiresIn)).toBeGreaterThan(7 * UNIT_SECONDS.day!);
    // Message bodies and snapshot state (pinned snapshots keep theirs forever) are never expired by S3.
    for (const r of rules) {
      expect(typeof r.prefix === "string" && r.prefix.length > 0, "rule without prefix").toBe(true);
      expect(blobKeys.logChunkPrefix.startsWith(r.prefix as string)).toBe(false);
      expect(blobKeys.snapshotPrefix.startsWith(r.prefix as string)).toBe(false);
    }
  });
});

describe("the cursor secret", () => {
  const cursorKeys = (deployment: Deployment) => [...new Set(deployment.functions.map((f) => source((f.args.environment as Args).MAKIMA_CURSOR_SECRET)))];

  it("is an SST secret with a placeholder, so a new stage deploys without it", () => {
    const secrets = dev.ofKind("sst.Secret");
    expect(secrets.map((s) => s.logicalName)).toEqual(["CursorSecret"]);
    expect(secrets[0]!.args.placeholder).toBe(CURSOR_SECRET_UNSET);
  });

  it("unset on an unprotected stage: every function signs with one key drawn at deploy, never the placeholder", async () => {
    const keys = cursorKeys(dev);
    expect(keys).toHaveLength(1);
    expect(typeof keys[0]).toBe("string");
    expect(keys[0]).not.toBe(CURSOR_SECRET_UNSET);
    expect((keys[0] as string).length).toBeGreaterThanOrEqual(32);
    const again = cursorKeys(await runStacks({ stage: "alice", env: STAGE_ENV }));
    expect(again[0]).not.toBe(keys[0]);
    expect(loadConfig({ MAKIMA_CURSOR_SECRET: keys[0] as string }).cursorSecret).toBe(keys[0]);
  });

  it("unset on a protected stage: the functions get the placeholder and refuse to start", async () => {
    const keys = cursorKeys(await runStacks({ stage: "prod", env: STAGE_ENV }));
    expect(keys).toEqual([CURSOR_SECRET_UNSET]);
    expect(() => loadConfig({ MAKIMA_CURSOR_SECRET: CURSOR_SECRET_UNSET })).toThrow(/sst secret set CursorSecret/);
  });

  it("set: every function signs with its value, on any stage", async () => {
    for (const stage of ["alice", "prod"]) {
      const keys = cursorKeys(await runStacks({ stage, env: STAGE_ENV, secrets: { CursorSecret: "set-by-hand" } }));
      expect(keys, stage).toEqual(["set-by-hand"]);
    }
  });
});

describe("functions (stacks/functions.ts against the stacks)", () => {
  it("LAMBDA_ENTRIES is consistent", () => {
    const names = LAMBDA_ENTRIES.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const e of LAMBDA_ENTRIES) {
      expect(e.entry, e.name).toBe(`functions/${e.name}.ts`);
      expect(e.handler, e.name).toBe(`${e.entry.replace(/\.ts$/, "")}.handler`);
    }
    expect(names.sort()).toEqual(["api", "cleanup", "ws-connect", "ws-disconnect", "ws-message"]);
  });

  it("each function is declared once, with the handler and trigger LAMBDA_ENTRIES gives it", () => {
    const byHandler = (a: { handler: string }, b: { handler: string }) => a.handler.localeCompare(b.handler);
    const declared = dev.functions.map((f) => ({ handler: f.handler, trigger: f.trigger })).sort(byHandler);
    const expected = LAMBDA_ENTRIES.map((e) => ({ handler: e.handler, trigger: e.trigger })).sort(byHandler);
    expect(declared).toEqual(expected);
  });

  it("every function is bundled with LAMBDA_NODEJS, the options `npm run build` and the bundle bench build with", async () => {
    for (const f of dev.functions) expect(f.args.nodejs, nameOf(f)).toBe(LAMBDA_NODEJS);
    // SST loads the plugins file with node and uses its default export; stacks/build.ts uses the same list.
    const plugins = (await import(pathToFileURL(join(ROOT, LAMBDA_NODEJS.plugins)).href)) as { default: unknown };
    expect(plugins.default).toBe(bundlePlugins);
    expect(bundlePlugins.map((p) => p.name)).toEqual(["zod-english-only", "zod-type-for-openapi"]);
  });

  it("the bundle banner declares nothing SST's own banner declares before it", () => {
    // SST's Node runtime starts every bundle with `const require`, `const __filename`, `const __dirname`
    // (and imports named topLevel*): declaring one again is a SyntaxError when the function loads.
    const sf = ts.createSourceFile("banner.mjs", LAMBDA_NODEJS.banner, ts.ScriptTarget.Latest, true);
    const declared: string[] = [];
    for (const statement of sf.statements) {
      if (ts.isVariableStatement(statement)) {
        for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) declared.push(d.name.text);
      }
      if (ts.isImportDeclaration(statement)) {
        const bindings = statement.importClause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) declared.push(...bindings.elements.map((e) => e.name.text));
      }
    }
    expect(declared.length).toBeGreaterThan(0);
    expect(declared.filter((name) => ["require", "__filename", "__dirname"].includes(name) || name.startsWith("topLevel"))).toEqual([]);
    // CommonJS code's free __filename / __dirname are pointed at what the banner declares.
    for (const target of Object.values(LAMBDA_NODEJS.esbuild.define)) expect(declared).toContain(target);
  });

  it("every function runs on Node.js 22, arm64", () => {
    for (const f of dev.functions) {
      expect({ runtime: f.args.runtime, architecture: f.args.architecture }, nameOf(f)).toEqual({ runtime: "nodejs22.x", architecture: "arm64" });
    }
  });

  it("the HTTP API sends everything to the api function, within API Gateway's 30 s, and throttles", async () => {
    const apis = dev.ofKind("sst.aws.ApiGatewayV2");
    expect(apis).toHaveLength(1);
    const httpRoutes = dev.routes.filter((r) => r.api === apis[0]);
    expect(httpRoutes.map((r) => r.route)).toEqual(["$default"]);
    const fn = httpRoutes[0]!.fn;
    expect(nameOf(fn)).toBe("api");
    const timeout = durationSeconds(fn.args.timeout);
    expect(timeout).toBe(29);
    // The relay must answer (200 or 202) before the Lambda times out.
    expect(loadConfig({}).relayWaitMs).toBeLessThan(timeout * 1000);
    const settings = ((apis[0]!.args.transform as Args | undefined)?.stage as Args | undefined)?.defaultRouteSettings;
    expect(settings).toEqual({ throttlingRateLimit: 100, throttlingBurstLimit: 200 });
    const tuned = await runStacks({ stage: "alice", env: { ...STAGE_ENV, MAKIMA_THROTTLE_RATE: "7", MAKIMA_THROTTLE_BURST: "9" } });
    const tunedApi = tuned.ofKind("sst.aws.ApiGatewayV2")[0]!;
    expect(((tunedApi.args.transform as Args).stage as Args).defaultRouteSettings).toEqual({ throttlingRateLimit: 7, throttlingBurstLimit: 9 });
  });

  it("the WebSocket API has exactly the $connect, $disconnect and $default routes", () => {
    const sockets = dev.ofKind("sst.aws.ApiGatewayWebSocket");
    expect(sockets).toHaveLength(1);
    const wsRoutes = dev.routes.filter((r) => r.api === sockets[0]);
    expect(Object.fromEntries(wsRoutes.map((r) => [r.route, nameOf(r.fn)]))).toEqual({
      $connect: "ws-connect",
      $disconnect: "ws-disconnect",
      $default: "ws-message",
    });
    expect(wsRoutes).toHaveLength(3);
    for (const r of wsRoutes) expect(durationSeconds(r.fn.args.timeout), r.route).toBeLessThanOrEqual(29);
  });

  it("$default has a route response, so what ws-message answers reaches the daemon", () => {
    const socket = dev.ofKind("sst.aws.ApiGatewayWebSocket")[0]!;
    const route = dev.routes.find((r) => r.api === socket && r.route === "$default")!;
    const routeTransform = (route.args.transform as Args | undefined)?.route;
    expect(routeTransform).toEqual({ routeResponseSelectionExpression: "$default" });
    const responses = dev.ofKind("aws.apigatewayv2.RouteResponse");
    expect(responses).toHaveLength(1);
    expect({
      apiId: source(responses[0]!.args.apiId),
      routeId: source(responses[0]!.args.routeId),
      routeResponseKey: responses[0]!.args.routeResponseKey,
    }).toEqual({ apiId: "Relay.api.id", routeId: "RelayRoute$default.id", routeResponseKey: "$default" });
  });

  it("ws-message, which writes the replies api requests wait on, has reserved concurrency", () => {
    const fn = dev.functions.find((f) => nameOf(f) === "ws-message")!;
    const reserved = (fn.args.concurrency as Args | undefined)?.reserved;
    expect(typeof reserved).toBe("number");
    expect(reserved as number).toBeGreaterThan(0);
  });

  it("the Cleanup cron has a valid schedule and runs the cleanup function", () => {
    const crons = dev.ofKind("sst.aws.CronV2");
    expect(crons.map((c) => c.logicalName)).toEqual(["Cleanup"]);
    const schedule = crons[0]!.args.schedule;
    expect(typeof schedule).toBe("string");
    expect(isValidSchedule(schedule as string), String(schedule)).toBe(true);
    expect(schedule).toBe("rate(1 hour)");
    const fn = dev.functions.find((f) => f.trigger.type === "schedule")!;
    expect(nameOf(fn)).toBe("cleanup");
    expect(durationSeconds(fn.args.timeout)).toBe(5 * 60);
    expect((crons[0]!.args.event as Args | undefined)?.source).toBe("makima.cleanup");
  });

  it("every function is linked to the table, the bucket and the secret; api and ws-message to the WebSocket API", () => {
    for (const f of dev.functions) {
      const links = (f.args.link as Component[]).map((c) => `${c.kind} ${c.logicalName}`).sort();
      const expected = ["sst.Secret CursorSecret", "sst.aws.Bucket Blobs", "sst.aws.Dynamo Table"];
      if (nameOf(f) === "api" || nameOf(f) === "ws-message") expected.push("sst.aws.ApiGatewayWebSocket Relay");
      expect(links, nameOf(f)).toEqual(expected.sort());
    }
  });

  it("every function gets the environment core/config.ts reads, from the components it uses", () => {
    const required = ["MAKIMA_TABLE", "MAKIMA_BUCKET", "MAKIMA_CURSOR_SECRET", "MAKIMA_RETENTION_DAYS", "MAKIMA_OPERATORS", "MAKIMA_JWT_JWKS_URL", "MAKIMA_JWT_ISSUER", "MAKIMA_JWT_AUDIENCE"];
    for (const f of dev.functions) {
      const env = f.args.environment as Args;
      const expected = nameOf(f) === "api" || nameOf(f) === "ws-message" ? [...required, "MAKIMA_WS_MANAGEMENT_ENDPOINT"] : required;
      expect(Object.keys(env).sort(), nameOf(f)).toEqual(expected.sort());
      expect(source(env.MAKIMA_TABLE), nameOf(f)).toBe("Table.name");
      expect(source(env.MAKIMA_BUCKET), nameOf(f)).toBe("Blobs.name");
      if (env.MAKIMA_WS_MANAGEMENT_ENDPOINT !== undefined) expect(source(env.MAKIMA_WS_MANAGEMENT_ENDPOINT)).toBe("Relay.managementEndpoint");
      // Default "30", the same as core/config.ts.
      expect(env.MAKIMA_RETENTION_DAYS).toBe("30");
      expect(env.MAKIMA_JWT_JWKS_URL).toBe("");
    }
    expect(loadConfig({}).retentionDays).toBe(30);
  });

  it("passes the deploying shell's retention, operators and JWT settings to every function", async () => {
    const settings = {
      MAKIMA_RETENTION_DAYS: "60",
      MAKIMA_OPERATORS: "owner-1",
      MAKIMA_JWT_JWKS_URL: "https://idp.example/.well-known/jwks.json",
      MAKIMA_JWT_ISSUER: "https://idp.example/",
      MAKIMA_JWT_AUDIENCE: "makima",
    };
    const deployment = await runStacks({ stage: "alice", env: { ...STAGE_ENV, ...settings } });
    for (const f of deployment.functions) expect(f.args.environment, nameOf(f)).toMatchObject(settings);
    const config = loadConfig(settings);
    expect(config.jwt).toEqual({ jwksUrl: settings.MAKIMA_JWT_JWKS_URL, issuer: settings.MAKIMA_JWT_ISSUER, audience: "makima" });
    expect(config.retentionDays).toBe(60);
  });

  it("every MAKIMA_* variable the stacks set is read in core/ or functions/", () => {
    const set = new Set(dev.functions.flatMap((f) => Object.keys(f.args.environment as Args)));
    const code = [...filesUnder("core"), ...filesUnder("functions")].map((f) => readFileSync(f, "utf8")).join("\n");
    expect([...set].filter((name) => !new RegExp(`\\b${name}\\b`).test(code)).sort()).toEqual([]);
  });
});

describe("Lambda entry files", () => {
  it.each(LAMBDA_ENTRIES.map((e) => [e.entry, e] as const))("%s exists and exports handler", (_, e) => {
    const path = join(ROOT, e.entry);
    expect(existsSync(path), `${e.entry} is missing`).toBe(true);
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(
      /export\s+(const|let|var)\s+handler\b|export\s+(async\s+)?function\s*\*?\s*handler\b|export\s*\{[^}]*\bhandler\b[^}]*\}/,
    );
  });
});

describe("no DynamoDB Scan", () => {
  const files = [...filesUnder("core"), ...filesUnder("functions"), ...filesUnder("stacks")];

  it("looks at the code", () => {
    expect(files.map(rel)).toEqual(expect.arrayContaining(["core/keys.ts", "stacks/storage.ts", "stacks/build.ts"]));
  });

  it("in core/, functions/ or stacks/", () => {
    const hits = files.flatMap((f) => scanUses(rel(f), readFileSync(f, "utf8")));
    expect(hits).toEqual([]);
  });
});
