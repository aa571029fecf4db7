import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { createTestApi, lambdaApi, type TestOwner } from "../support/api.js";
import { freePort } from "../../stacks/local/emulators.js";
import { serveApi } from "../../stacks/local/http.js";
import type { ServerType } from "@hono/node-server";
import { awsEvent } from "../support/fixtures.js";

let api: Awaited<ReturnType<typeof createTestApi>>;
let alice: TestOwner;
let server: ServerType;
let base: string;

beforeAll(async () => {
  api = await createTestApi();
  alice = await api.newOwner("alice");
  const port = await freePort();
  server = await serveApi(api.app.fetch, { port });
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** One raw HTTP/1.1 exchange on a keep-alive agent-less socket; returns status, headers and parsed JSON. */
function raw(method: string, path: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* keep text */
        }
        resolve({ status: res.statusCode!, headers: res.headers, body });
      });
    });
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

describe("the api Lambda", () => {
  it("answers a GET carrying a body like any GET, as JSON (the reproduction: a text/plain 400)", async () => {
    const invoke = await lambdaApi(api.db.config);
    const get = awsEvent("apigw-http-v2.json");
    const event = {
      ...get,
      rawPath: "/api/v1/contracts",
      rawQueryString: "",
      headers: { ...get.headers, authorization: `Bearer ${alice.apiKey}`, "content-type": "application/json" },
      requestContext: { ...get.requestContext, http: { ...get.requestContext.http, method: "GET", path: "/api/v1/contracts" } },
      body: '{"x":1}',
      isBase64Encoded: false,
    };
    const res = await invoke(event);
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(JSON.parse(res.body)).toHaveProperty("items");
  });
});

describe("the local server answers what Node refuses as JSON", () => {
  it("a GET with a body gets the JSON error shape or its answer, never text/plain", async () => {
    const res = await raw("GET", "/api/v1/contracts", {
      headers: { authorization: `Bearer ${alice.apiKey}`, "content-type": "application/json", "content-length": "7" },
      body: '{"x":1}',
    });
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(res.status).toBe(200);
    const chunked = await raw("GET", "/api/v1/contracts", {
      headers: { authorization: `Bearer ${alice.apiKey}`, "content-type": "application/json", "transfer-encoding": "chunked" },
      body: '{"x":1}',
    });
    expect(chunked.headers["content-type"]).toMatch(/application\/json/);
    expect(chunked.status).toBe(200);
  });

  it("a GET with a body, then another request on the same connection: both answered as JSON", async () => {
    const socket = connect({ host: "127.0.0.1", port: Number(new URL(base).port) });
    const auth = `Authorization: Bearer ${alice.apiKey}\r\n`;
    const body = '{"filter":"x"}';
    socket.write(`GET /api/v1/contracts?limit=1 HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    socket.write(`GET /api/v1/contracts?limit=1 HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    const text = await new Promise<string>((resolve, reject) => {
      let out = "";
      socket.on("data", (d) => (out += d.toString("utf8")));
      socket.on("end", () => resolve(out));
      socket.on("error", reject);
    });
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 200]);
    expect([...text.matchAll(/^content-type: (.*)$/gim)].map((m) => m[1]!.trim())).toEqual([
      expect.stringMatching(/application\/json/),
      expect.stringMatching(/application\/json/),
    ]);
  });

  it("a URL over 16 KB is a JSON 431 with Connection: close", async () => {
    const res = await raw("GET", `/api/v1/contracts?cursor=${"a".repeat(20_000)}`, { headers: { authorization: `Bearer ${alice.apiKey}` } });
    expect(res.status).toBe(431);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(res.headers.connection).toBe("close");
    expect(res.body).toMatchObject({ error: { code: "headers_too_large" } });
  });

  it("Node's fetch reads the JSON of a 413 for a body of any size, streamed or not, and of a 431", async () => {
    const headers = { authorization: `Bearer ${alice.apiKey}`, "content-type": "application/json" };
    for (const size of [2, 20, 60]) {
      const res = await fetch(`${base}/api/v1/contracts`, { method: "POST", headers, body: Buffer.alloc(size * 1024 * 1024, "a") });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ error: { code: "body_too_large" } });
    }
    let sent = 0;
    const chunks = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 40) controller.enqueue(new Uint8Array(512 * 1024).fill(98));
        else controller.close();
      },
    });
    const streamed = await fetch(`${base}/api/v1/contracts`, { method: "POST", headers, body: chunks, duplex: "half" } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await streamed.json()).toMatchObject({ error: { code: "body_too_large" } });
    const longUrl = await fetch(`${base}/api/v1/contracts?cursor=${"a".repeat(20_000)}`, { headers });
    expect(longUrl.status).toBe(431);
    expect(await longUrl.json()).toMatchObject({ error: { code: "headers_too_large" } });
    const longHeaderWithBody = await fetch(`${base}/api/v1/contracts`, { method: "POST", headers: { ...headers, "x-pad": "p".repeat(20_000) }, body: Buffer.alloc(4 * 1024 * 1024, "c") });
    expect(longHeaderWithBody.status).toBe(431);
    expect(await longHeaderWithBody.json()).toMatchObject({ error: { code: "headers_too_large" } });
  });

  it("a body over 1 MB is a JSON 413 with Connection: close, and the next requests all succeed", async () => {
    const big = Buffer.alloc(1.5 * 1024 * 1024, "a");
    let failures = 0;
    for (let i = 0; i < 30; i++) {
      if (i % 10 === 0) {
        const res = await fetch(`${base}/api/v1/contracts`, {
          method: "POST",
          headers: { authorization: `Bearer ${alice.apiKey}`, "content-type": "application/json" },
          body: big,
        });
        expect(res.status).toBe(413);
        expect(res.headers.get("connection")).toBe("close");
        expect(await res.json()).toMatchObject({ error: { code: "body_too_large" } });
        continue;
      }
      try {
        const res = await fetch(`${base}/api/v1/contracts?limit=1`, { headers: { authorization: `Bearer ${alice.apiKey}` } });
        if (res.status !== 200) failures++;
        await res.arrayBuffer();
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(0);
  });
});
