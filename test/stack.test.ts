/**
 * The AWS deployment (sst.config.ts, stacks/*.ts) cannot run without the SST
 * CLI (its globals `sst`, `$app`, `$config` come from .sst/), so this suite
 * reads those files as TypeScript syntax trees and evaluates their object
 * literals statically, then checks them against the code they deploy:
 *
 * - the Dynamo table against core/keys.ts TABLE_KEYS (what the local stack and
 *   tests create through core/tableSchema.ts);
 * - every handler wired to a route or the schedule against stacks/functions.ts
 *   LAMBDA_ENTRIES (what `npm run build` bundles), both ways, and every entry
 *   file against the disk;
 * - the WebSocket routes, the cron schedule, timeouts, links and environment;
 * - sst.config.ts imports every infrastructure file in stacks/;
 * - no DynamoDB Scan anywhere in core/, functions/, stacks/.
 *
 * Values the stacks compute at deploy time (`table.name`, `$app.stage`, …)
 * evaluate to their source text; anything the checks need must be a literal.
 */
import { describe, expect, it } from "vitest";
import ts from "typescript";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TABLE_KEYS } from "../core/keys.js";
import { loadConfig } from "../core/config.js";
import { blobKeys } from "../core/blobs.js";
import { LAMBDA_ENTRIES, type LambdaEntry } from "../stacks/functions.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const rel = (path: string) => relative(ROOT, path).split("\\").join("/");

/** Files in stacks/ that are tooling, not infrastructure: not imported by sst.config.ts. */
const STACKS_TOOLING = ["stacks/build.ts", "stacks/functions.ts"];

// ---------------------------------------------------------------------------
// Static evaluation of TypeScript source
// ---------------------------------------------------------------------------

/** A value known only at deploy time (or not a literal): kept as source text. */
class Expr {
  constructor(
    readonly text: string,
    readonly node: ts.Node,
  ) {}
}

type Value = string | number | boolean | null | undefined | Expr | Value[] | { [key: string]: Value };

/** Key under which an object literal keeps spreads it could not resolve (so toEqual fails on them). */
const SPREADS = "...";

interface Source {
  path: string;
  file: string;
  text: string;
  sf: ts.SourceFile;
}

function parseSource(path: string): Source {
  const text = readFileSync(path, "utf8");
  return { path: rel(path), file: path, text, sf: ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true) };
}

function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

function variableDeclarations(src: Source, name: string): ts.VariableDeclaration[] {
  const found: ts.VariableDeclaration[] = [];
  walk(src.sf, (node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === name) found.push(node);
  });
  return found;
}

/** The initializer of the one `const name = …` in the file, if there is exactly one. */
function resolveIdentifier(src: Source, name: string): ts.Expression | undefined {
  const declarations = variableDeclarations(src, name);
  return declarations.length === 1 ? declarations[0]!.initializer : undefined;
}

function propertyName(name: ts.PropertyName): string | undefined {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name) && ts.isStringLiteralLike(name.expression)) return name.expression.text;
  return undefined;
}

function isPlainObject(value: Value): value is { [key: string]: Value } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Expr);
}

/**
 * Evaluates literals (strings, numbers, booleans, objects, arrays, spreads of
 * them) and identifiers bound by a single `const` in the same file; anything
 * else becomes an Expr holding its source text.
 */
function evaluate(src: Source, node: ts.Node, depth = 0): Value {
  if (depth > 20) return new Expr(node.getText(src.sf), node);
  const next = (n: ts.Node) => evaluate(src, n, depth + 1);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (node.kind === ts.SyntaxKind.NullKeyword) return null;
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node)) {
    return next(node.expression);
  }
  if (ts.isIdentifier(node)) {
    if (node.text === "undefined") return undefined;
    const initializer = resolveIdentifier(src, node.text);
    // A component (`const ws = new sst.aws.…`) is a reference, not a value: keep its name.
    if (!initializer || ts.isNewExpression(initializer)) return new Expr(node.text, node);
    return next(initializer);
  }
  if (ts.isArrayLiteralExpression(node)) {
    const out: Value[] = [];
    for (const element of node.elements) {
      if (ts.isSpreadElement(element)) {
        const spread = next(element.expression);
        if (Array.isArray(spread)) out.push(...spread);
        else out.push(new Expr(element.getText(src.sf), element));
      } else {
        out.push(next(element));
      }
    }
    return out;
  }
  if (ts.isObjectLiteralExpression(node)) {
    const out: { [key: string]: Value } = {};
    const unresolved: Value[] = [];
    for (const property of node.properties) {
      if (ts.isPropertyAssignment(property)) {
        const key = propertyName(property.name);
        if (key === undefined) unresolved.push(new Expr(property.getText(src.sf), property));
        else out[key] = next(property.initializer);
      } else if (ts.isShorthandPropertyAssignment(property)) {
        out[property.name.text] = next(property.name);
      } else if (ts.isSpreadAssignment(property)) {
        const spread = next(property.expression);
        if (isPlainObject(spread)) Object.assign(out, spread);
        else unresolved.push(spread instanceof Expr ? spread : new Expr(property.expression.getText(src.sf), property));
      } else {
        const key = property.name ? propertyName(property.name) : undefined;
        if (key !== undefined) out[key] = new Expr(property.getText(src.sf), property);
      }
    }
    if (unresolved.length > 0) out[SPREADS] = unresolved;
    return out;
  }
  return new Expr(node.getText(src.sf), node);
}

// ---------------------------------------------------------------------------
// What the deployment declares
// ---------------------------------------------------------------------------

interface Component {
  src: Source;
  /** e.g. "sst.aws.Dynamo", "sst.Secret". */
  kind: string;
  name: Value;
  args: Value;
  /** The `const` it is bound to, if any. */
  variable?: string;
}

interface Route {
  src: Source;
  api: Component;
  route: Value;
  /** The handler argument normalised to function args: a string handler becomes `{ handler }`. */
  fn: { [key: string]: Value };
  node: ts.CallExpression;
}

/** A Lambda the deployment creates: a route's handler or the cron's function. */
interface FunctionDeclaration {
  src: Source;
  trigger: LambdaEntry["trigger"];
  handler: Value;
  config: { [key: string]: Value };
}

function asFunctionArgs(value: Value): { [key: string]: Value } {
  if (typeof value === "string") return { handler: value };
  if (isPlainObject(value)) return value;
  return { handler: value };
}

function components(sources: Source[]): Component[] {
  const out: Component[] = [];
  for (const src of sources) {
    walk(src.sf, (node) => {
      if (!ts.isNewExpression(node)) return;
      const kind = node.expression.getText(src.sf);
      if (!/^sst(\.aws)?\.[A-Z]\w*$/.test(kind)) return;
      const [nameArg, argsArg] = node.arguments ?? [];
      const parent = node.parent;
      out.push({
        src,
        kind,
        name: nameArg ? evaluate(src, nameArg) : undefined,
        args: argsArg ? evaluate(src, argsArg) : undefined,
        variable: ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name) ? parent.name.text : undefined,
      });
    });
  }
  return out;
}

function routes(sources: Source[], all: Component[]): { routes: Route[]; unresolved: string[] } {
  const out: Route[] = [];
  const unresolved: string[] = [];
  for (const src of sources) {
    walk(src.sf, (node) => {
      if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return;
      if (node.expression.name.text !== "route") return;
      const receiver = node.expression.expression;
      const api = ts.isIdentifier(receiver)
        ? all.find((c) => c.src === src && c.variable === receiver.text)
        : undefined;
      if (!api) {
        unresolved.push(`${src.path}: ${node.getText(src.sf).slice(0, 80)}`);
        return;
      }
      const [routeArg, handlerArg, extraArg] = node.arguments;
      const fn = asFunctionArgs(handlerArg ? evaluate(src, handlerArg) : undefined);
      // ApiGatewayV2.route(route, handler, args): args are route options, not function args.
      if (extraArg) fn["(route args)"] = evaluate(src, extraArg);
      out.push({ src, api, route: routeArg ? evaluate(src, routeArg) : undefined, fn, node });
    });
  }
  return { routes: out, unresolved };
}

const configSource = parseSource(join(ROOT, "sst.config.ts"));
const stackFiles = readdirSync(join(ROOT, "stacks"), { withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith(".ts"))
  .map((d) => `stacks/${d.name}`)
  .sort();
const infraStackFiles = stackFiles.filter((f) => !STACKS_TOOLING.includes(f));
const infraSources = [configSource, ...infraStackFiles.map((f) => parseSource(join(ROOT, f)))];

const allComponents = components(infraSources);
const { routes: allRoutes, unresolved: unresolvedRoutes } = routes(infraSources, allComponents);
const ofKind = (kind: string) => allComponents.filter((c) => c.kind === kind);

function functionDeclarations(): FunctionDeclaration[] {
  const out: FunctionDeclaration[] = [];
  for (const r of allRoutes) {
    // Compared with LAMBDA_ENTRIES by value: a route that is not a literal fails there.
    const trigger = (
      r.api.kind === "sst.aws.ApiGatewayV2" ? { type: "http", route: r.route } : { type: "websocket", route: r.route }
    ) as LambdaEntry["trigger"];
    out.push({ src: r.src, trigger, handler: r.fn.handler, config: r.fn });
  }
  for (const cron of [...ofKind("sst.aws.CronV2"), ...ofKind("sst.aws.Cron")]) {
    const args = isPlainObject(cron.args) ? cron.args : {};
    const fn = asFunctionArgs(args.function ?? args.job);
    out.push({
      src: cron.src,
      trigger: { type: "schedule", component: String(cron.name) },
      handler: fn.handler,
      config: fn,
    });
  }
  return out;
}
const declaredFunctions = functionDeclarations();

/** Every string literal in the infrastructure naming something under functions/. */
function handlerStrings(): string[] {
  const found = new Set<string>();
  for (const src of infraSources) {
    walk(src.sf, (node) => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && node.text.startsWith("functions/")) {
        found.add(node.text);
      }
    });
  }
  return [...found].sort();
}

const entryFor = (handler: Value) => LAMBDA_ENTRIES.find((e) => e.handler === handler);

// ---------------------------------------------------------------------------
// Small parsers
// ---------------------------------------------------------------------------

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86_400 };

/** SST durations: "29 seconds", "5 minutes", "45 days". */
function durationSeconds(value: Value): number {
  const match = typeof value === "string" ? /^(\d+) (second|minute|hour|day)s?$/.exec(value) : null;
  if (!match) throw new Error(`not an SST duration: ${JSON.stringify(value instanceof Expr ? value.text : value)}`);
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

function linkTexts(config: { [key: string]: Value }): string[] {
  const link = config.link;
  if (!Array.isArray(link)) return [];
  return link.map((item) => (item instanceof Expr ? item.text : JSON.stringify(item)));
}

/**
 * The environment a function gets: its own keys, plus spreads of
 * `<storage>.environment`, resolved to the `environment` object literal
 * declared in stacks/storage.ts.
 */
function environmentOf(config: { [key: string]: Value }): { [key: string]: Value } {
  const env = config.environment;
  if (!isPlainObject(env)) return {};
  const out: { [key: string]: Value } = {};
  const spreads = (env[SPREADS] as Value[] | undefined) ?? [];
  for (const spread of spreads) {
    if (spread instanceof Expr && /(^|\.)environment$/.test(spread.text)) Object.assign(out, storageEnvironment());
    else out[`(unresolved ${spread instanceof Expr ? spread.text : String(spread)})`] = spread;
  }
  for (const [key, value] of Object.entries(env)) if (key !== SPREADS) out[key] = value;
  return out;
}

function storageEnvironment(): { [key: string]: Value } {
  const storage = infraSources.find((s) => s.path === "stacks/storage.ts");
  if (!storage) return {};
  const initializer = resolveIdentifier(storage, "environment");
  const value = initializer ? evaluate(storage, initializer) : undefined;
  return isPlainObject(value) ? value : {};
}

function filesUnder(dir: string): string[] {
  const base = join(ROOT, dir);
  if (!existsSync(base)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(base, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (/[/\\](node_modules|dist|\.sst)[/\\]/.test(path)) continue;
    if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

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

  it("evaluates object literals and keeps deploy-time values as text", () => {
    const src = parseSource(join(ROOT, "stacks/storage.ts"));
    const dynamo = components([src]).find((c) => c.kind === "sst.aws.Dynamo");
    expect(isPlainObject(dynamo?.args)).toBe(true);
  });
});

describe("sst.config.ts", () => {
  it("starts with the SST platform reference", () => {
    expect(configSource.text.split("\n")[0]).toBe('/// <reference path="./.sst/platform/config.d.ts" />');
  });

  it("exports $config({ app, run })", () => {
    const exported = configSource.sf.statements.find(ts.isExportAssignment);
    expect(exported, "export default $config(...)").toBeDefined();
    const call = exported!.expression;
    expect(ts.isCallExpression(call) && call.expression.getText(configSource.sf)).toBe("$config");
    const arg = (call as ts.CallExpression).arguments[0];
    expect(arg && ts.isObjectLiteralExpression(arg)).toBe(true);
    const members = (arg as ts.ObjectLiteralExpression).properties.map((p) => (p.name ? propertyName(p.name) : undefined));
    expect(members).toEqual(expect.arrayContaining(["app", "run"]));
  });

  it("retains and protects production stages", () => {
    const app = configSource.text.slice(configSource.text.indexOf("app("), configSource.text.indexOf("async run("));
    expect(app).toMatch(/removal:\s*production\s*\?\s*"retain"\s*:\s*"remove"/);
    expect(app).toMatch(/protect:\s*production/);
    expect(app).toMatch(/stage\s*===\s*"prod"/);
  });

  it("imports every infrastructure file in stacks/", () => {
    const imported = new Set<string>();
    walk(configSource.sf, (node) => {
      let specifier: ts.Expression | undefined;
      if (ts.isImportDeclaration(node)) specifier = node.moduleSpecifier;
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) specifier = node.arguments[0];
      if (specifier && ts.isStringLiteralLike(specifier)) {
        const target = resolve(ROOT, specifier.text).replace(/\.(js|ts)$/, "") + ".ts";
        imported.add(rel(target));
      }
    });
    expect(infraStackFiles.length).toBeGreaterThan(0);
    expect([...imported].sort()).toEqual(infraStackFiles);
    for (const file of imported) expect(existsSync(join(ROOT, file)), file).toBe(true);
  });

  it("uses CronV2, not the deprecated Cron", () => {
    expect(ofKind("sst.aws.Cron")).toEqual([]);
  });
});

describe("storage (stacks/storage.ts)", () => {
  const dynamos = ofKind("sst.aws.Dynamo");
  const table = dynamos[0];
  const args = (isPlainObject(table?.args) ? table.args : {}) as { [key: string]: Value };

  it("declares one table", () => {
    expect(dynamos.map((d) => d.src.path)).toEqual(["stacks/storage.ts"]);
  });

  it("has exactly the key attributes of TABLE_KEYS as string fields", () => {
    const keyAttributes = [
      TABLE_KEYS.partitionKey,
      TABLE_KEYS.sortKey,
      ...Object.values(TABLE_KEYS.globalIndexes).flatMap((i) => [i.hashKey, i.rangeKey]),
    ];
    expect(args.fields).toEqual(Object.fromEntries(keyAttributes.map((k) => [k, "string"])));
  });

  it("has the primary index of TABLE_KEYS", () => {
    expect(args.primaryIndex).toEqual({ hashKey: TABLE_KEYS.partitionKey, rangeKey: TABLE_KEYS.sortKey });
  });

  it("has the global indexes of TABLE_KEYS, projecting all attributes like core/tableSchema.ts", () => {
    const indexes = args.globalIndexes;
    expect(isPlainObject(indexes)).toBe(true);
    const declared = indexes as { [key: string]: Value };
    expect(Object.keys(declared).sort()).toEqual(Object.keys(TABLE_KEYS.globalIndexes).sort());
    for (const [name, index] of Object.entries(TABLE_KEYS.globalIndexes)) {
      const { projection, ...keysOnly } = (declared[name] ?? {}) as { [key: string]: Value };
      expect(keysOnly, name).toEqual({ hashKey: index.hashKey, rangeKey: index.rangeKey });
      expect([undefined, "all"], `${name} projection`).toContain(projection);
    }
  });

  it("has the TTL attribute of TABLE_KEYS", () => {
    expect(args.ttl).toBe(TABLE_KEYS.ttlAttribute);
  });

  it("declares one bucket whose lifecycle expires only transfers, after operations expire", () => {
    const buckets = ofKind("sst.aws.Bucket");
    expect(buckets.map((b) => b.src.path)).toEqual(["stacks/storage.ts"]);
    const lifecycle = (buckets[0]!.args as { lifecycle?: Value }).lifecycle;
    expect(Array.isArray(lifecycle)).toBe(true);
    const rules = lifecycle as { [key: string]: Value }[];
    expect(rules.map((r) => r.prefix)).toEqual([blobKeys.transferPrefix]);
    // An operation's large result lives in transfers/ for as long as the operation (7 days).
    expect(durationSeconds(rules[0]!.expiresIn)).toBeGreaterThan(7 * UNIT_SECONDS.day!);
    // Message bodies and snapshot state (pinned snapshots keep theirs forever) are never expired by S3.
    for (const r of rules) {
      expect(typeof r.prefix === "string" && r.prefix.length > 0, "rule without prefix").toBe(true);
      expect(blobKeys.messagePrefix.startsWith(r.prefix as string)).toBe(false);
      expect(blobKeys.snapshotPrefix.startsWith(r.prefix as string)).toBe(false);
    }
  });

  it("declares the CursorSecret secret", () => {
    expect(ofKind("sst.Secret").map((s) => s.name)).toEqual(["CursorSecret"]);
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

  it("every route.route(…) call is on a component declared in the same file", () => {
    expect(unresolvedRoutes).toEqual([]);
  });

  it("every handler string in the stacks is in LAMBDA_ENTRIES", () => {
    const known = new Set(LAMBDA_ENTRIES.map((e) => e.handler));
    expect(handlerStrings().filter((h) => !known.has(h))).toEqual([]);
  });

  it("every LAMBDA_ENTRIES handler is wired in the stacks", () => {
    const declared = new Set(handlerStrings());
    expect(LAMBDA_ENTRIES.filter((e) => !declared.has(e.handler)).map((e) => e.handler)).toEqual([]);
  });

  it("each function is declared once, with the trigger LAMBDA_ENTRIES gives it", () => {
    const declared = declaredFunctions.map((f) => ({ handler: f.handler, trigger: f.trigger })).sort((a, b) =>
      String(a.handler).localeCompare(String(b.handler)),
    );
    const expected = LAMBDA_ENTRIES.map((e) => ({ handler: e.handler, trigger: e.trigger })).sort((a, b) =>
      a.handler.localeCompare(b.handler),
    );
    expect(declared).toEqual(expected);
  });

  it("the HTTP API sends everything to the api function, within API Gateway's 30 s", () => {
    const apis = ofKind("sst.aws.ApiGatewayV2");
    expect(apis).toHaveLength(1);
    const httpRoutes = allRoutes.filter((r) => r.api === apis[0]);
    expect(httpRoutes.map((r) => r.route)).toEqual(["$default"]);
    const fn = httpRoutes[0]!.fn;
    expect(fn.handler).toBe(entryFor(fn.handler)?.handler);
    expect(entryFor(fn.handler)?.name).toBe("api");
    const timeout = durationSeconds(fn.timeout);
    expect(timeout).toBe(29);
    // The relay must answer (200 or 202) before the Lambda times out.
    expect(loadConfig({}).relayWaitMs).toBeLessThan(timeout * 1000);
    // The stage throttles (API Gateway answers 429) with both a rate and a burst.
    const settings = ((apis[0]!.args as any)?.transform?.stage?.defaultRouteSettings ?? {}) as Record<string, unknown>;
    expect(Object.keys(settings).sort()).toEqual(["throttlingBurstLimit", "throttlingRateLimit"]);
  });

  it("the WebSocket API has exactly the $connect, $disconnect and $default routes", () => {
    const sockets = ofKind("sst.aws.ApiGatewayWebSocket");
    expect(sockets).toHaveLength(1);
    const wsRoutes = allRoutes.filter((r) => r.api === sockets[0]);
    expect(wsRoutes.map((r) => r.route).sort()).toEqual(["$connect", "$default", "$disconnect"]);
    const byRoute = Object.fromEntries(wsRoutes.map((r) => [r.route as string, entryFor(r.fn.handler)?.name]));
    expect(byRoute).toEqual({ $connect: "ws-connect", $disconnect: "ws-disconnect", $default: "ws-message" });
    for (const r of wsRoutes) {
      if (r.fn.timeout !== undefined) expect(durationSeconds(r.fn.timeout)).toBeLessThanOrEqual(29);
    }
  });

  it("ws-message, which writes the replies api requests wait on, has reserved concurrency", () => {
    const socket = ofKind("sst.aws.ApiGatewayWebSocket")[0];
    const fn = allRoutes.find((r) => r.api === socket && r.route === "$default")!.fn;
    const reserved = (fn.concurrency as { [key: string]: Value } | undefined)?.reserved;
    expect(typeof reserved).toBe("number");
    expect(reserved as number).toBeGreaterThan(0);
  });

  it("the Cleanup cron has a valid schedule and runs the cleanup function", () => {
    const crons = ofKind("sst.aws.CronV2");
    expect(crons.map((c) => c.name)).toEqual(["Cleanup"]);
    const args = crons[0]!.args as { [key: string]: Value };
    expect(typeof args.schedule).toBe("string");
    expect(isValidSchedule(args.schedule as string), String(args.schedule)).toBe(true);
    expect(args.schedule).toBe("rate(1 hour)");
    const fn = asFunctionArgs(args.function);
    expect(entryFor(fn.handler)?.name).toBe("cleanup");
    expect(durationSeconds(fn.timeout)).toBe(5 * 60);
    expect(durationSeconds(fn.timeout)).toBeLessThanOrEqual(15 * 60);
  });

  it("every function is linked to the table and the bucket; api and ws-message to the WebSocket API", () => {
    const socket = ofKind("sst.aws.ApiGatewayWebSocket")[0];
    for (const f of declaredFunctions) {
      const name = entryFor(f.handler)?.name ?? String(f.handler);
      const links = linkTexts(f.config);
      expect(links.some((l) => /\btable\b/i.test(l)), `${name} links the table: ${links.join(", ")}`).toBe(true);
      expect(links.some((l) => /\bbucket\b/i.test(l)), `${name} links the bucket: ${links.join(", ")}`).toBe(true);
      const linksSocket = links.some(
        (l) => (socket?.variable !== undefined && l === socket.variable && f.src === socket.src) || /(^|\.)ws$/.test(l),
      );
      expect(linksSocket, `${name} links the WebSocket API: ${links.join(", ")}`).toBe(
        name === "api" || name === "ws-message",
      );
    }
  });

  it("every function gets the environment core/config.ts reads", () => {
    const required = ["MAKIMA_TABLE", "MAKIMA_BUCKET", "MAKIMA_CURSOR_SECRET", "MAKIMA_RETENTION_DAYS", "MAKIMA_OPERATORS", "MAKIMA_JWT_JWKS_URL", "MAKIMA_JWT_ISSUER", "MAKIMA_JWT_AUDIENCE"];
    for (const f of declaredFunctions) {
      const name = entryFor(f.handler)?.name ?? String(f.handler);
      const env = environmentOf(f.config);
      const expected = name === "api" || name === "ws-message" ? [...required, "MAKIMA_WS_MANAGEMENT_ENDPOINT"] : required;
      expect(Object.keys(env).sort(), name).toEqual(expected.sort());
    }
    const retention = storageEnvironment().MAKIMA_RETENTION_DAYS;
    const text = retention instanceof Expr ? retention.text : JSON.stringify(retention);
    // Default "30", the same as core/config.ts.
    expect(text).toMatch(/(\?\?|\|\|)\s*"30"$|^"30"$/);
    expect(loadConfig({}).retentionDays).toBe(30);
  });

  it("every MAKIMA_* variable the stacks set is read in core/ or functions/", () => {
    const set = new Set<string>();
    for (const src of infraSources) for (const m of src.text.matchAll(/\b(MAKIMA_[A-Z0-9_]+)\s*:/g)) set.add(m[1]!);
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
