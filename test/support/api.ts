import { createTestDb } from "./env.js";
import { createRuntime, type Runtime } from "../../core/runtime.js";
import { createApp } from "../../functions/http/app.js";
import { createApiKey, createOwner } from "../../core/store/owners.js";
import type { ConnectionPoster } from "../../core/relay.js";
import type { Config } from "../../core/config.js";

export interface TestOwner {
  ownerId: string;
  apiKey: string;
  daemonKey: string;
}

/** The Hono app on a fresh table and bucket, with helpers to call it as an owner. */
export async function createTestApi(options: { config?: Partial<Config>; poster?: ConnectionPoster; clock?: () => Date } = {}) {
  const db = await createTestDb({ config: { relayWaitMs: 2000, relayTimeoutMs: 2000, ...options.config }, clock: options.clock });
  const runtime: Runtime = createRuntime(db.config, { db, poster: options.poster });
  const app = createApp(runtime);

  async function newOwner(name = "owner"): Promise<TestOwner> {
    const owner = await createOwner(db, name);
    const api = await createApiKey(db, owner.id, { kind: "api" });
    const daemon = await createApiKey(db, owner.id, { kind: "daemon" });
    return { ownerId: owner.id, apiKey: api.key, daemonKey: daemon.key };
  }

  async function call(
    method: string,
    path: string,
    options: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    } else if (body !== undefined) headers["content-type"] ??= "application/json";
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  return { db, runtime, app, newOwner, call };
}

/**
 * The `api` Lambda's handler, configured (through its environment, as on AWS)
 * for the table and bucket of `config`, and a way to invoke it with an event.
 */
export async function lambdaApi(config: Config): Promise<(event: unknown) => Promise<any>> {
  Object.assign(process.env, {
    MAKIMA_DYNAMO_ENDPOINT: config.dynamoEndpoint,
    MAKIMA_S3_ENDPOINT: config.s3Endpoint,
    MAKIMA_TABLE: config.tableName,
    MAKIMA_BUCKET: config.bucketName,
    MAKIMA_CURSOR_SECRET: config.cursorSecret,
  });
  const { handler } = await import("../../functions/api.js");
  return (event) => (handler as (e: unknown, c: unknown) => Promise<any>)(event, {});
}
