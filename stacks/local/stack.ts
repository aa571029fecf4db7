import type { ServerType } from "@hono/node-server";
import { join } from "node:path";
import { loadConfig, type Config } from "../../core/config.js";
import { createRuntime, type Runtime } from "../../core/runtime.js";
import { dynamoClient } from "../../core/aws.js";
import { ensureTable } from "../../core/tableSchema.js";
import { createApp } from "../../functions/http/app.js";
import { freePort, startEmulators } from "./emulators.js";
import { startWsGateway } from "./gateway.js";
import { serveApi } from "./http.js";
import { withViewer } from "./viewer.js";

/**
 * The whole service on one machine: DynamoDB Local and s3rver, the Hono app
 * on @hono/node-server, the WebSocket gateway that plays API Gateway for the
 * ws-* handlers, and the cleanup job on a timer. Used by `npm start` and by
 * tests that drive the CLI and the daemon as real processes.
 */
export interface LocalStackOptions {
  /** Where data persists; omit for everything in memory. */
  dataDir?: string;
  port?: number;
  wsPort?: number;
  /** Extra configuration (relay timings in tests, retention, …). */
  config?: Partial<Config>;
  /** DynamoDB Local on 127.0.0.1 only, as `npm start` runs it (see startEmulators). */
  loopback?: boolean;
}

export interface LocalStack {
  apiUrl: string;
  wsUrl: string;
  config: Config;
  runtime: Runtime;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const emulators = await startEmulators({ dataDir: options.dataDir ? join(options.dataDir) : undefined, loopback: options.loopback });
  const port = options.port ?? (await freePort());
  const wsPort = options.wsPort ?? (await freePort());
  const config: Config = {
    ...loadConfig({ ...process.env, MAKIMA_TABLE: "makima-history", MAKIMA_BUCKET: "makima-history" }),
    dynamoEndpoint: emulators.dynamoEndpoint,
    s3Endpoint: emulators.s3Endpoint,
    wsManagementEndpoint: `http://127.0.0.1:${wsPort}`,
    ...options.config,
  };
  await ensureTable(dynamoClient(config), config.tableName);
  const runtime = createRuntime(config);
  await runtime.db.blobs.ensureBucket();

  const app = createApp(runtime);
  // The browser viewer at `/` (built files from dist/viewer), the API everywhere else.
  const http: ServerType = await serveApi(withViewer(app.fetch), { port });

  // Same port as wsManagementEndpoint: WebSocket upgrades and @connections share it, as on API Gateway.
  const gateway = await startWsGateway(runtime, { port: wsPort });

  return {
    apiUrl: `http://127.0.0.1:${port}`,
    wsUrl: gateway.url,
    config,
    runtime,
    async stop() {
      await gateway.stop();
      // Kept-alive sockets would hold the port for their whole timeout: closed with the server.
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        if ("closeAllConnections" in http) http.closeAllConnections();
      });
      await emulators.stop();
    },
  };
}
