import { pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";
import { startEmulators } from "../stacks/local/emulators.js";
import { loadConfig } from "../core/config.js";
import { dynamoClient } from "../core/aws.js";
import { ensureTable } from "../core/tableSchema.js";
import { createRuntime } from "../core/runtime.js";
import { createApp } from "../functions/http/app.js";
import { createApiKey, createOwner } from "../core/store/owners.js";
import { historyEventItems, newHistoryEvent } from "../core/store/history.js";
import type { HistoryEventType } from "../core/models.js";
import { writeBenchResult } from "./support.js";

/**
 * Lists are read 20 at a time, so that every filter has more than a page of
 * matches even in the small table (a page that is not full costs less).
 *
 * bench/api: per endpoint, in-process latency (p50/p99) and DynamoDB capacity
 * units per request, with 1,000 and with 100,000 history events in the
 * table, side by side. Cost per request must not grow with table size.
 */

const REQUESTS = 40;
const EVENT_TYPES: HistoryEventType[] = ["task", "chat", "checkpoint", "phase", "file", "rewind", "fork", "resume"];

interface Measure {
  p50: number;
  p99: number;
  rcu: number;
  wcu: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function scenario(totalEvents: number): Promise<Map<string, Measure>> {
  const emulators = await startEmulators();
  try {
    const suffix = randomUUID().slice(0, 8);
    const config = {
      ...loadConfig({}),
      dynamoEndpoint: emulators.dynamoEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      tableName: `bench-api-${suffix}`,
      bucketName: `bench-api-${suffix}`,
    };
    await ensureTable(dynamoClient(config), config.tableName);
    const runtime = createRuntime(config);
    await runtime.db.blobs.ensureBucket();
    const app = createApp(runtime);
    const owner = await createOwner(runtime.db, "bench");
    const key = (await createApiKey(runtime.db, owner.id, { kind: "api" })).key;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<any>;
    };

    const contract = await call("POST", "/api/v1/contracts", { name: "bench" });
    const supervisor = await call("POST", "/api/v1/mesh/tasks", { name: "sup", plan: "p", contractId: contract.id, isSupervisor: true });
    const task = await call("POST", "/api/v1/mesh/tasks", { name: "worker", plan: "p", contractId: contract.id });
    for (let i = 0; i < 4; i++) {
      await call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, {
        messages: Array.from({ length: 50 }, (_, j) => ({ role: j % 2 ? "assistant" : "user", content: `message ${i}-${j} `.repeat(40) })),
      });
      await call("POST", `/api/v1/mesh/tasks/${task.id}/checkpoints`, { commitSha: `${i}`.repeat(40), branchName: "main", message: `c${i}` });
    }
    await call("POST", `/api/v1/mesh/tasks/${supervisor.id}/messages`, { messages: [{ role: "assistant", content: "go" }] });

    // The table's events: the same mix whatever the size; half on this owner's contract and task, half elsewhere.
    const start = Date.now() - totalEvents * 1000;
    const items = Array.from({ length: totalEvents }, (_, i) => {
      const mine = i % 3 === 0;
      return historyEventItems(
        newHistoryEvent(
          {
            ownerId: mine ? owner.id : `other-${i % 97}`,
            contractId: mine ? contract.id : undefined,
            taskId: mine && i % 2 === 0 ? task.id : undefined,
            eventType: EVENT_TYPES[i % EVENT_TYPES.length]!,
            eventSubtype: "bench",
            phase: "research",
            eventData: { i },
          },
          new Date(start + i * 1000),
        ),
      );
    }).flat();
    for (let i = 0; i < items.length; i += 25 * 40) {
      await Promise.all(
        Array.from({ length: 40 }, (_, j) => items.slice(i + j * 25, i + (j + 1) * 25))
          .filter((chunk) => chunk.length)
          .map((chunk) => runtime.db.table.batchWrite(chunk.map((put) => ({ put })))),
      );
    }

    const checkpoints = await call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints`);
    const cid = checkpoints.items[0].id;
    let counter = 0;
    const endpoints: Array<[string, () => Promise<unknown>]> = [
      ["GET contract", () => call("GET", `/api/v1/contracts/${contract.id}`)],
      ["GET task", () => call("GET", `/api/v1/mesh/tasks/${task.id}`)],
      ["GET contract history", () => call("GET", `/api/v1/contracts/${contract.id}/history?limit=20`)],
      ["GET contract history ?eventTypes=chat", () => call("GET", `/api/v1/contracts/${contract.id}/history?eventTypes=chat&limit=20`)],
      ["GET contract history ?phase&from&to", () => call("GET", `/api/v1/contracts/${contract.id}/history?phase=research&from=${new Date(start).toISOString()}&to=${new Date().toISOString()}&limit=20`)],
      ["GET task history", () => call("GET", `/api/v1/mesh/tasks/${task.id}/history?limit=20`)],
      ["GET timeline", () => call("GET", `/api/v1/timeline?limit=20`)],
      ["GET timeline ?eventTypes=rewind,fork", () => call("GET", `/api/v1/timeline?eventTypes=rewind,fork&limit=20`)],
      ["GET task conversation (50)", () => call("GET", `/api/v1/mesh/tasks/${task.id}/conversation`)],
      ["GET supervisor conversation", () => call("GET", `/api/v1/contracts/${contract.id}/supervisor/conversation`)],
      ["GET checkpoints", () => call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints`)],
      ["GET checkpoint", () => call("GET", `/api/v1/mesh/tasks/${task.id}/checkpoints/${cid}`)],
      ["GET snapshots", () => call("GET", `/api/v1/mesh/tasks/${task.id}/snapshots`)],
      ["GET contracts", () => call("GET", `/api/v1/contracts`)],
      ["POST messages (1)", () => call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { messages: [{ role: "user", content: `more ${counter++}` }] })],
      ["POST snapshots", () => call("POST", `/api/v1/mesh/tasks/${task.id}/snapshots`, {})],
    ];
    const results = new Map<string, Measure>();
    for (const [name, run] of endpoints) {
      await run(); // warm
      const times: number[] = [];
      runtime.db.table.meter.reset();
      for (let i = 0; i < REQUESTS; i++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      results.set(name, {
        p50: quantile(times, 0.5),
        p99: quantile(times, 0.99),
        rcu: runtime.db.table.meter.read / REQUESTS,
        wcu: runtime.db.table.meter.write / REQUESTS,
      });
    }
    return results;
  } finally {
    await emulators.stop();
  }
}

export async function runApiBench(): Promise<void> {
  const small = await scenario(1_000);
  const large = await scenario(100_000);
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  console.log(`in-process Hono app → DynamoDB Local; ${REQUESTS} requests each; capacity units per request (RCU/WCU)`);
  console.log(`${"endpoint".padEnd(40)} ${pad("1k p50 ms", 10)} ${pad("p99", 7)} ${pad("RCU", 6)} ${pad("WCU", 6)} │ ${pad("100k p50 ms", 11)} ${pad("p99", 7)} ${pad("RCU", 6)} ${pad("WCU", 6)} │ grows`);
  let allSame = true;
  for (const [name, a] of small) {
    const b = large.get(name)!;
    // Pages merged from shards read a little more or less as the events fall (ids are random): growth is more than
    // a tenth and a unit more at 100k, where reading with the table would be ~100 times more.
    const same = b.rcu <= a.rcu * 1.1 + 1 && b.wcu <= a.wcu * 1.1 + 1;
    allSame &&= same;
    console.log(
      `${name.padEnd(40)} ${pad(a.p50.toFixed(1), 10)} ${pad(a.p99.toFixed(1), 7)} ${pad(a.rcu.toFixed(1), 6)} ${pad(a.wcu.toFixed(1), 6)} │ ${pad(b.p50.toFixed(1), 11)} ${pad(b.p99.toFixed(1), 7)} ${pad(b.rcu.toFixed(1), 6)} ${pad(b.wcu.toFixed(1), 6)} │ ${same ? "no" : "YES"}`,
    );
  }
  console.log(`capacity per request grows with the table: ${allSame ? "no" : "yes"}`);
  const figures: Record<string, string> = { "capacity per request grows with the table": allSame ? "no" : "yes" };
  for (const name of ["GET task history", "GET contract history", "GET timeline", "GET task conversation (50)", "POST messages (1)"]) {
    const m = large.get(name);
    if (m) figures[`${name} at 100k events`] = `p50 ${m.p50.toFixed(1)} ms, ${m.rcu.toFixed(1)} RCU, ${m.wcu.toFixed(1)} WCU`;
  }
  writeBenchResult("api", figures);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  await runApiBench();
}
