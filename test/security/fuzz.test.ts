import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { ServerType } from "@hono/node-server";
import { createHash, randomUUID } from "node:crypto";
import type { TestOwner } from "../support/api.js";
import { createRelayEnv, type RelayEnv } from "../support/relay.js";
import { freePort } from "../../stacks/local/emulators.js";
import { serveApi } from "../../stacks/local/http.js";

/**
 * Requests generated from the served OpenAPI document, sent to the API on
 * the local server: every operation, with path, query and body drawn from
 * its schemas (valid and not), known and unknown ids, keys of each kind and
 * none, and a daemon that refuses, fails, succeeds or stays silent. Every
 * answer must be documented for its operation, and no 5xx may be the
 * service's own (only a daemon's documented 502, 503 or 504).
 *
 * Fixed seed; FUZZ_RUNS requests (150 here, `npm run fuzz` runs thousands),
 * FUZZ_SEED for another sequence.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 20261128);

type Schema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: string; required?: boolean; schema: Schema }>;
  body?: Schema;
  statuses: Set<number>;
  /** The media types documented for each status's answer. */
  mediaTypes: Map<number, string[]>;
}

let api: RelayEnv;
let alice: TestOwner;
let bob: TestOwner;
let toolKey: string;
let server: ServerType;
let base: string;
let doc: any;
let operations: Operation[];
const ids: Record<string, string[]> = {};

beforeAll(async () => {
  api = await createRelayEnv({ relayWaitMs: 300, relayTimeoutMs: 300 });
  alice = await api.newOwner("alice");
  // A daemon of alice's that answers each command with a refusal, a failure, a success the relay must
  // check, or nothing at all (chosen by the request id, so the answers do not depend on timing).
  await api.scriptedDaemon(alice, randomUUID(), (command, ws) => {
    const pick = createHash("sha256").update(command.requestId).digest()[0]! % 5;
    const base = { requestId: command.requestId, taskId: command.taskId };
    if (pick === 0) ws.send(JSON.stringify({ type: "error", ...base, code: "invalid_input", message: "refused" }));
    if (pick === 1) ws.send(JSON.stringify({ type: "error", ...base, code: "foreign_changes", message: "yours" }));
    if (pick === 2) ws.send(JSON.stringify({ type: "error", ...base, code: "daemon_error", message: "broke" }));
    if (pick === 3) ws.send(JSON.stringify({ type: replyTypeOf(command.type), ...base, success: true, message: "ok", safetyRef: `refs/makima/safety/${command.taskId}/1`, branchName: "main", commitSha: "1".repeat(40), diff: { files: [], stats: { filesChanged: 0, insertions: 0, deletions: 0 } }, messageCount: 0, state: {} }));
  });
  bob = await api.newOwner("bob");
  const contract = (await api.call("POST", "/api/v1/contracts", { key: alice.apiKey, body: { name: "c" } })).body;
  const supervisor = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "s", plan: "p", contractId: contract.id, isSupervisor: true } })).body;
  const task = (await api.call("POST", "/api/v1/mesh/tasks", { key: alice.apiKey, body: { name: "t", plan: "p", contractId: contract.id, baseSha: "a".repeat(40), branchName: "main" } })).body;
  await api.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: alice.apiKey, body: { messages: [{ id: "m1", role: "user", content: "hi" }, { id: "m2", role: "assistant", content: "yo" }] } });
  const cp = (await api.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { key: alice.apiKey, body: { commitSha: "1".repeat(40), branchName: "main", message: "one" } })).body;
  const bobTask = (await api.call("POST", "/api/v1/mesh/tasks", { key: bob.apiKey, body: { name: "b", plan: "p" } })).body;
  toolKey = (await api.call("POST", "/api/v1/keys", { key: alice.apiKey, body: { kind: "tool", contractId: contract.id } })).body.key;
  ids.id = [contract.id, task.id, supervisor.id, bobTask.id];
  ids.cid = [cp.checkpoint.id];
  ids.sid = [cp.snapshot?.id].filter(Boolean);
  ids.messageId = ["m1", "m2"];

  const port = await freePort();
  server = await serveApi(api.app.fetch, { port });
  base = `http://127.0.0.1:${port}`;
  doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
  operations = Object.entries(doc.paths).flatMap(([path, ops]: [string, any]) =>
    Object.entries(ops).map(([method, op]: [string, any]) => ({
      method: method.toUpperCase(),
      path,
      parameters: op.parameters ?? [],
      body: op.requestBody?.content?.["application/json"]?.schema,
      statuses: new Set(Object.keys(op.responses).map(Number)),
      mediaTypes: new Map(Object.entries(op.responses).map(([status, r]: [string, any]) => [Number(status), Object.keys(r?.content ?? {})])),
    })),
  );
});
afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await api?.close();
});

function replyTypeOf(commandType: string): string {
  const replies: Record<string, string> = {
    rewindToCheckpoint: "rewindResult",
    undoRewind: "undoRewindResult",
    createConversationSnapshot: "conversationSnapshotCreated",
    getCheckpointDiff: "checkpointDiffResult",
    createBranch: "branchCreated",
    spawnTask: "taskSpawned",
    previewRewind: "checkpointDiffResult",
  };
  return replies[commandType] ?? "error";
}

const resolveRef = (schema: Schema): Schema => (schema?.$ref ? resolveRef(doc.components.schemas[schema.$ref.split("/").pop()]) : schema);

/** Strings a careless store or parser would trip on. */
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.constantFrom("", "#", "a#b", "OWNER#x#KEYS", "../../etc/passwd", "\uD800", "refs/heads/x", "%00", "null", "-1", "1e-200", " ", "x".repeat(1_100), "@{-1}", "\u0000"),
);

function fromSchema(input: Schema, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolveRef(input);
  if (!schema || Object.keys(schema).length === 0) return fc.jsonValue({ maxDepth: 3 });
  if (depth > 4) return fc.constant(null);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return fc.oneof(...variants.map((s: Schema) => fromSchema(s, depth + 1)));
  if (schema.allOf) return fromSchema(schema.allOf[0], depth + 1);
  switch (schema.type) {
    case "string":
      if (schema.format === "uuid") return fc.oneof(fc.uuid(), fc.constantFrom(...Object.values(ids).flat()));
      if (schema.format === "date-time") return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString());
      if (schema.pattern) return fc.oneof({ weight: 4, arbitrary: fc.constantFrom("a".repeat(40), "1".repeat(40), "abcdef1") }, { weight: 1, arbitrary: hostileString });
      return fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom("main", "x", "feature/one", "m1", ...Object.values(ids).flat()) },
        { weight: 2, arbitrary: fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) }) },
        { weight: 1, arbitrary: hostileString },
      );
    case "integer":
      return fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 5, 5) }) },
        { weight: 1, arbitrary: fc.integer({ min: -1_000, max: 100_000 }) },
      );
    case "number":
      return fc.double({ noNaN: true, min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6 });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(fromSchema(schema.items ?? {}, depth + 1), { maxLength: Math.min(schema.maxItems ?? 3, 3) });
    case "object": {
      const properties: Record<string, Schema> = schema.properties ?? {};
      const required = new Set<string>(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, s] of Object.entries(properties)) record[name] = fromSchema(s, depth + 1);
      const known = fc.record(record, { requiredKeys: Object.keys(properties).filter((k) => required.has(k)) });
      if (schema.additionalProperties && Object.keys(properties).length === 0) {
        return fc.dictionary(hostileString, fromSchema(schema.additionalProperties === true ? {} : schema.additionalProperties, depth + 1), { maxKeys: 3 });
      }
      return known;
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

/** Valid by the schema most of the time; else any JSON, a hostile string, deep nesting or not JSON at all. */
function bodyArbitrary(schema: Schema): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 6, arbitrary: fromSchema(schema).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.integer({ min: 20, max: 6_000 }).map((d) => `{"metadata":${"[".repeat(d)}${"]".repeat(d)},"filesChanged":${"[".repeat(d)}${"]".repeat(d)}}`) },
    { weight: 1, arbitrary: fc.constantFrom('{"metadata":{"":1}}', '{"filesChanged":{"":true}}', '{"metadata":{"n":1e-200}}', "{", "null", "[]", '"x"', "") },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function paramValue(name: string, schema: Schema): fc.Arbitrary<string> {
  const known = ids[name] ?? [];
  return fc.oneof(
    { weight: 4, arbitrary: known.length ? fc.constantFrom(...known) : fc.uuid() },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: hostileString.filter((s) => s.length > 0) },
    { weight: 1, arbitrary: fromSchema(schema).map((v) => String(v)).filter((s) => s.length > 0) },
  );
}

/** Percent-encodes a path segment byte by byte (a lone surrogate travels as U+FFFD, as any HTTP client sends it). */
const encodeSegment = (value: string) =>
  [...Buffer.from(value, "utf8")].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");

interface Generated {
  op: Operation;
  path: string;
  query: string;
  body?: string;
  key: string | undefined;
  idempotencyKey?: string;
}

function requestArbitrary(): fc.Arbitrary<Generated> {
  return fc.constantFrom(...operations).chain((op) => {
    const pathParams = op.parameters.filter((p) => p.in === "path");
    const queryParams = op.parameters.filter((p) => p.in === "query");
    const pathArb = fc.tuple(...pathParams.map((p) => paramValue(p.name, p.schema))).map((values) => {
      let path = op.path;
      pathParams.forEach((p, i) => (path = path.replace(`{${p.name}}`, encodeSegment(values[i]!))));
      return path;
    });
    const queryArb = fc
      .tuple(...queryParams.map((p) => fc.option(fc.oneof(fromSchema(p.schema).map(String), hostileString), { nil: undefined })))
      .map((values) => new URLSearchParams(queryParams.flatMap((p, i): [string, string][] => (values[i] === undefined ? [] : [[p.name, String(values[i])]]))).toString());
    const keyArb = fc.oneof(
      { weight: 6, arbitrary: fc.constant(alice.apiKey) },
      { weight: 2, arbitrary: fc.constant(toolKey) },
      { weight: 1, arbitrary: fc.constant(bob.apiKey) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, "mk_nope", alice.daemonKey, "a.b.c", "") },
    );
    return fc.record({
      op: fc.constant(op),
      path: pathArb,
      query: queryArb,
      body: op.body ? bodyArbitrary(op.body) : fc.constant(undefined),
      key: keyArb,
      idempotencyKey: fc.option(fc.oneof(fc.constantFrom("fuzz-1", "fuzz-2"), hostileString), { nil: undefined, freq: 3 }),
    });
  });
}

export interface FuzzCounts {
  requests: number;
  serverErrors: number;
  undocumented: number;
  byStatus: Record<number, number>;
}

describe("a property-based fuzz from the served OpenAPI document", () => {
  it(`${RUNS} generated requests: no 500 (a daemon's documented 502, 503, 504 only), only documented statuses`, async () => {
    const counts: FuzzCounts = { requests: 0, serverErrors: 0, undocumented: 0, byStatus: {} };
    const failures: string[] = [];
    await fc.assert(
      fc.asyncProperty(requestArbitrary(), async (g) => {
        const headers: Record<string, string> = {};
        if (g.key !== undefined) headers.authorization = `Bearer ${g.key}`;
        if (g.body !== undefined) headers["content-type"] = "application/json";
        if (g.idempotencyKey !== undefined && /^[\x20-\x7e]*$/.test(g.idempotencyKey)) headers["idempotency-key"] = g.idempotencyKey;
        const url = `${base}${g.path}${g.query ? `?${g.query}` : ""}`;
        const res = await fetch(url, { method: g.op.method, headers, body: g.body });
        const text = await res.text();
        counts.requests++;
        counts.byStatus[res.status] = (counts.byStatus[res.status] ?? 0) + 1;
        const documented = g.op.statuses.has(res.status);
        // A daemon's answer (502 daemon_error, 503 no_daemon, 504 daemon_timeout) is documented for relayed routes;
        // anything else at 5xx is the service failing.
        const code = /"code":"([a-z_]+)"/.exec(text)?.[1];
        const serverError = res.status >= 500 && (!documented || res.status === 500 || code === "internal_error");
        if (serverError) counts.serverErrors++;
        if (!documented) counts.undocumented++;
        if (serverError || !documented) {
          failures.push(`${res.status} ${g.op.method} ${url.slice(0, 300)} ${String(g.body).slice(0, 200)} → ${text.slice(0, 300)}`);
        }
        // Every answer is one of the media types its status documents (JSON for errors).
        const mediaType = res.headers.get("content-type")?.split(";")[0]?.trim();
        const expected = g.op.mediaTypes.get(res.status)?.length ? g.op.mediaTypes.get(res.status)! : ["application/json", "text/html"];
        if (res.status !== 204 && res.status !== 431) expect(expected, `${g.op.method} ${g.op.path} ${res.status}`).toContain(mediaType);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: false, verbose: false },
    );
    console.log(`fuzz: ${JSON.stringify({ seed: SEED, ...counts })}`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(counts.serverErrors).toBe(0);
    expect(counts.undocumented).toBe(0);
  }, 600_000);
});
