import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi } from "./support/api.js";

const REDOCLY = fileURLToPath(new URL("../node_modules/@redocly/cli/bin/cli.js", import.meta.url));

interface LintProblem {
  ruleId: string;
  severity: "error" | "warn";
  message: string;
  location?: Array<{ pointer?: string }>;
}

/** Runs `redocly lint` (recommended rules) on a document, offline, and returns what it found. */
function lint(document: unknown): Promise<LintProblem[]> {
  const dir = mkdtempSync(join(tmpdir(), "makima-openapi-"));
  const file = join(dir, "openapi.json");
  writeFileSync(file, JSON.stringify(document));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [REDOCLY, "lint", file, "--extends=recommended", "--format=json"],
      { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        try {
          resolve((JSON.parse(stdout) as { problems: LintProblem[] }).problems);
        } catch {
          reject(new Error(`redocly lint gave no report (${error?.message ?? "no error"}): ${stderr}`));
        }
      },
    );
  });
}

let api: Awaited<ReturnType<typeof createTestApi>>;
let doc: any;

beforeAll(async () => {
  api = await createTestApi();
  doc = (await api.call("GET", "/api/v1/openapi.json")).body;
});
afterAll(() => undefined);

describe("the served OpenAPI document", () => {
  it("passes redocly's recommended rules without errors or operationId and security warnings", async () => {
    const problems = await lint(doc);
    const errors = problems.filter((p) => p.severity === "error");
    const named = problems.filter((p) => /operation-operationId|security/.test(p.ruleId));
    expect(errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`)).toEqual([]);
    expect(named.map((p) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`)).toEqual([]);
  }, 180_000);

  it("names every operation uniquely and lists every status the service can answer", () => {
    const operations = Object.entries(doc.paths).flatMap(([path, ops]: [string, any]) =>
      Object.entries(ops).map(([method, op]: [string, any]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
    );
    const ids = operations.map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { route, op } of operations) {
      const statuses = Object.keys(op.responses);
      expect(statuses, route).toContain("431");
      if (route === "GET /health") continue;
      expect(statuses, route).toEqual(expect.arrayContaining(["401", "403", "503"]));
      if (op.requestBody) expect(statuses, route).toEqual(expect.arrayContaining(["400", "413", "415"]));
      if (route.startsWith("POST ") || route.startsWith("PATCH ")) {
        if (op.requestBody) {
          expect(statuses, route).toContain("409");
          expect(op.parameters?.map((p: any) => p.name), route).toContain("idempotency-key");
        }
      }
    }
  });

  it("gives the conversation's tool flags a default their type allows", () => {
    const params = doc.paths["/api/v1/mesh/tasks/{id}/conversation"].get.parameters;
    for (const name of ["include_tool_calls", "include_tool_results"]) {
      const schema = params.find((p: any) => p.name === name).schema;
      expect(schema.enum, name).toContain(schema.default);
    }
  });
});

describe("methods", () => {
  it("answers 405 with Allow for an unknown method on a known path, 404 for an unknown path", async () => {
    const owner = await api.newOwner("methods");
    const contract = await api.call("POST", "/api/v1/contracts", { key: owner.apiKey, body: { name: "c" } });
    const put = await api.call("PUT", `/api/v1/contracts/${contract.body.id}`, { key: owner.apiKey, body: { name: "x" } });
    expect(put.status).toBe(405);
    expect(put.body.error.code).toBe("method_not_allowed");
    expect(put.headers.get("allow")).toBe("GET, HEAD, PATCH");
    const del = await api.call("DELETE", "/api/v1/mesh/tasks", { key: owner.apiKey });
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")).toBe("POST");
    expect((await api.call("GET", "/api/v1/nothing-here", { key: owner.apiKey })).status).toBe(404);
  });

  it("answers 415 to a body that is not JSON", async () => {
    const owner = await api.newOwner("media");
    const form = await api.call("POST", "/api/v1/contracts", { key: owner.apiKey, rawBody: "name=a", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(form).toMatchObject({ status: 415, body: { error: { code: "unsupported_media_type" } } });
  });

  it("names an unknown body field in the 400 instead of ignoring it", async () => {
    const owner = await api.newOwner("strict");
    const task = await api.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p" } });
    const rewind = await api.call("POST", `/api/v1/mesh/tasks/${task.body.id}/conversation/rewind`, {
      key: owner.apiKey,
      body: { byMessages: 1 },
    });
    expect(rewind.status).toBe(400);
    expect(rewind.body.error.message).toContain("byMessages");
    const create = await api.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p", colour: "red" } });
    expect(create.status).toBe(400);
    expect(create.body.error.message).toContain("colour");
  });
});
