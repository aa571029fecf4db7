/**
 * What an operator gets on AWS: every log line is one JSON object carrying
 * the ids of what it is about (request, owner, task, operation), and metrics
 * are CloudWatch embedded-metric-format lines in the `Makima` namespace.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "aws-lambda";
import type { WebSocket } from "ws";
import { createRelayEnv, type RelayEnv } from "./support/relay.js";
import type { TestOwner } from "./support/api.js";
import { captureStdout, jsonLines } from "./support/stdout.js";
import { withInvocation } from "../functions/lambda.js";
import { log } from "../core/log.js";
import { METRICS, METRICS_NAMESPACE } from "../core/metrics.js";
import { runCleanup } from "../core/retention/index.js";
import { readFileSync } from "node:fs";

interface Emf {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

const isEmf = (line: Record<string, unknown>): line is Emf =>
  typeof line._aws === "object" && line._aws !== null && Array.isArray((line._aws as Emf["_aws"]).CloudWatchMetrics);

/** Each EMF point as { name, unit, value, dimensions }. */
function points(lines: Record<string, unknown>[]) {
  return lines.filter(isEmf).flatMap((line) =>
    line._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((metric) => ({
        namespace: directive.Namespace,
        name: metric.Name,
        unit: metric.Unit,
        value: line[metric.Name],
        dimensions: Object.fromEntries(directive.Dimensions.flat().map((d) => [d, line[d]])),
      })),
    ),
  );
}

async function withMetrics<T>(fn: () => Promise<T>) {
  const before = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = "false";
  try {
    return await captureStdout(fn);
  } finally {
    if (before === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = before;
  }
}

const answerBranch = (command: { requestId: string; taskId: string; branchName?: string }, ws: WebSocket) =>
  ws.send(JSON.stringify({ type: "branchCreated", requestId: command.requestId, taskId: command.taskId, success: true, branchName: command.branchName, commitSha: "1".repeat(40) }));

describe("logs and metrics of an HTTP request", () => {
  let env: RelayEnv;
  let owner: TestOwner;
  let task: { id: string };
  let checkpointId: string;
  beforeAll(async () => {
    env = await createRelayEnv({ relayWaitMs: 30_000, relayTimeoutMs: 60_000 });
    owner = await env.newOwner("observed");
    await env.scriptedDaemon(owner, randomUUID(), answerBranch);
    task = (await env.call("POST", "/api/v1/mesh/tasks", { key: owner.apiKey, body: { name: "t", plan: "p" } })).body;
    const cp = await env.call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, {
      key: owner.apiKey,
      body: { commitSha: "1".repeat(40), branchName: "main", message: "cp" },
    });
    checkpointId = cp.body.checkpoint.id;
  });
  afterAll(() => env.close());

  const branch = (requestId: string) =>
    env.app.request(
      `/api/v1/mesh/tasks/${task.id}/checkpoints/${checkpointId}/branch`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${owner.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ branchName: `feature/${requestId}` }),
      },
      // What the Lambda adapter binds: API Gateway's request context.
      { requestContext: { requestId } },
    );

  it("log lines are JSON objects with the request, owner, task and operation ids", async () => {
    const { result: res, lines } = await captureStdout(async () => branch("gw-request-1"));
    expect(res.status).toBe(201);
    const relayed = jsonLines(lines).find((l) => l.message === "command relayed" && l.requestId === "gw-request-1");
    expect(relayed).toMatchObject({
      level: "INFO",
      service: "makima-history",
      requestId: "gw-request-1",
      ownerId: owner.ownerId,
      taskId: task.id,
      route: "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/branch",
      command: "createBranch",
      outcome: "succeeded",
    });
    expect(relayed!.operationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof relayed!.timestamp).toBe("string");
  });

  it("metrics are EMF: the relay's outcome and latency, the response by route and status class", async () => {
    const { lines } = await withMetrics(async () => branch("gw-request-2"));
    const emitted = points(jsonLines(lines));
    expect(emitted.every((p) => p.namespace === METRICS_NAMESPACE)).toBe(true);
    expect(emitted).toContainEqual(
      expect.objectContaining({ name: "RelayOutcome", unit: "Count", value: 1, dimensions: { service: "makima-history", command: "createBranch", outcome: "succeeded" } }),
    );
    expect(emitted.find((p) => p.name === "RelayLatency")).toMatchObject({ unit: "Milliseconds", value: expect.any(Number) });
    const route = "/api/v1/mesh/tasks/{id}/checkpoints/{cid}/branch";
    expect(emitted).toContainEqual(
      expect.objectContaining({ name: "HttpResponses", value: 1, dimensions: { service: "makima-history", route, statusClass: "2xx" } }),
    );
    expect(emitted).toContainEqual(expect.objectContaining({ name: "HttpLatency", unit: "Milliseconds", dimensions: { service: "makima-history", route } }));
  });

  it("a 4xx is counted under its route; an unmatched path under `unmatched`", async () => {
    const { lines } = await withMetrics(async () => {
      await env.call("GET", `/api/v1/mesh/tasks/${randomUUID()}`, { key: owner.apiKey });
      await env.call("GET", "/api/v1/nowhere", { key: owner.apiKey });
    });
    const responses = points(jsonLines(lines)).filter((p) => p.name === "HttpResponses").map((p) => p.dimensions);
    expect(responses).toContainEqual({ service: "makima-history", route: "/api/v1/mesh/tasks/{id}", statusClass: "4xx" });
    expect(responses).toContainEqual({ service: "makima-history", route: "unmatched", statusClass: "4xx" });
  });

  it("an append reports its latency and batch size", async () => {
    const messages = [
      { role: "user", content: "one" },
      { role: "assistant", content: "two" },
      { role: "user", content: "three" },
    ];
    const { result, lines } = await withMetrics(() => env.call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { key: owner.apiKey, body: { messages } }));
    expect(result.status).toBe(201);
    const emitted = points(jsonLines(lines));
    expect(emitted).toContainEqual(expect.objectContaining({ name: "AppendBatchSize", value: 3, dimensions: { service: "makima-history", source: "api" } }));
    expect(emitted).toContainEqual(expect.objectContaining({ name: "AppendLatency", unit: "Milliseconds", dimensions: { service: "makima-history", source: "api" } }));
  });

  it("a cleanup run reports its progress", async () => {
    const { lines } = await withMetrics(() => runCleanup(env.db, { record: false, sweep: false }));
    const names = points(jsonLines(lines)).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["CleanupDeleted", "CleanupOrphansDeleted", "CleanupBacklog", "CleanupErrors", "CleanupDuration"]));
  });

  it("emits no metrics off Lambda unless asked", async () => {
    const before = process.env.POWERTOOLS_METRICS_DISABLED;
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    try {
      const { lines } = await captureStdout(() => env.call("GET", "/api/v1/health"));
      expect(points(jsonLines(lines))).toEqual([]);
    } finally {
      if (before !== undefined) process.env.POWERTOOLS_METRICS_DISABLED = before;
    }
  });
});

describe("a Lambda entry point", () => {
  it("adds the invocation to every line: API Gateway's request id, the connection, Powertools' Lambda fields", async () => {
    const context = {
      awsRequestId: "lambda-request-1",
      functionName: "makima-ws-message",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:makima-ws-message",
      memoryLimitInMB: "1024",
      logGroupName: "/aws/lambda/makima-ws-message",
      logStreamName: "stream",
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => 10_000,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } satisfies Context;
    const handler = withInvocation(async (event: { requestContext: { requestId: string; connectionId: string } }) => {
      log.warn("something to see", { detail: 1 });
      return event.requestContext.connectionId;
    });
    const { lines } = await captureStdout(() => handler({ requestContext: { requestId: "gw-ws-1", connectionId: "conn-1=" } }, context));
    expect(jsonLines(lines).find((l) => l.message === "something to see")).toMatchObject({
      level: "WARN",
      requestId: "gw-ws-1",
      connectionId: "conn-1=",
      function_request_id: "lambda-request-1",
      function_name: "makima-ws-message",
      detail: 1,
    });
  });
});

describe("the operations guide", () => {
  it("says what each metric is for", () => {
    const guide = readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8");
    for (const name of Object.keys(METRICS)) expect(guide, name).toContain(`\`${name}\``);
  });
});
