import "./quiet.js";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as owners from "../../core/store/owners.js";
import { startLocalStack } from "./stack.js";
import { startCleanupTimer } from "./cleanupTimer.js";
import { ensureViewerBuilt, viewerSignInUrl } from "../viewer.js";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { LOCAL_DIR, LOCAL_FILE, writeLocalFile, type LocalFile } from "../../core/localFile.js";
import { assertPortFree, cursorSecretFor, prettyLogsOnTerminal, registerLocalProfile } from "./startSupport.js";

/**
 * Stops everything this process started — servers, the cleanup timer, both
 * emulators (DynamoDB Local's Java is asked to exit, so what it keeps on
 * disk is flushed) — then exits. On SIGINT, SIGTERM or SIGHUP (from the
 * first moment, so a signal during startup is not lost), and when the
 * process that started this one (npm, a shell, a process manager) goes away
 * without a signal reaching here.
 */
const stoppers: Array<() => Promise<void>> = [];
let stopping = false;
async function shutdown(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`Stopping (${reason})…`);
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  try {
    for (const stop of stoppers.reverse()) await stop();
  } finally {
    process.exit(0);
  }
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));
const parent = process.ppid;
const orphanWatch = setInterval(() => {
  if (process.ppid !== parent) void shutdown("the process that started it has gone");
}, 500);
orphanWatch.unref();

const { values } = parseArgs({ options: { "in-memory": { type: "boolean", default: false } } });
const inMemory = values["in-memory"] ?? false;

const dataDir = inMemory ? undefined : join(LOCAL_DIR, "data");
const port = Number(process.env.PORT ?? 4000);
const wsPort = Number(process.env.WS_PORT ?? 4001);
// A port in use is one line, before anything starts; so is anything else that stops the start.
try {
  await assertPortFree(port, "HTTP API", "PORT");
  await assertPortFree(wsPort, "WebSocket API", "WS_PORT");
} catch (error) {
  console.error(`makima-history: ${(error as Error).message}`);
  process.exit(1);
}
if (dataDir) mkdirSync(dataDir, { recursive: true });
prettyLogsOnTerminal();
await ensureViewerBuilt();

const stack = await startLocalStack({ dataDir, port, wsPort, loopback: true, config: { cursorSecret: cursorSecretFor(dataDir) } }).catch((error: Error) => {
  console.error(`makima-history: the local stack did not start: ${error.message.split("\n")[0]}`);
  process.exit(1);
});
stoppers.push(() => stack.stop());
const { db } = stack.runtime;

// Keep the dev owner and its keys across restarts: keys are stored hashed, so
// the secrets live beside the data they open (never overwritten by an
// --in-memory run, which gets an owner of its own).
const devFile = inMemory ? undefined : join(LOCAL_DIR, "data", "dev-owner.json");
const previous = devFile && existsSync(devFile) ? (JSON.parse(readFileSync(devFile, "utf8")) as DevOwner) : undefined;
type DevOwner = Pick<LocalFile, "ownerId" | "apiKey" | "daemonKey">;
let dev: DevOwner;
if (
  previous &&
  (await owners.getOwner(db, previous.ownerId)) &&
  (await owners.authenticateKey(db, previous.apiKey)) &&
  (await owners.authenticateKey(db, previous.daemonKey))
) {
  dev = previous;
} else {
  const owner = await owners.createOwner(db, "dev");
  dev = {
    ownerId: owner.id,
    apiKey: (await owners.createApiKey(db, owner.id, { kind: "api", name: "local dev" })).key,
    daemonKey: (await owners.createApiKey(db, owner.id, { kind: "daemon", name: "local dev" })).key,
  };
  if (devFile) writeFileSync(devFile, JSON.stringify(dev, null, 2) + "\n", { mode: 0o600 });
}

// On one machine the dev owner is also its operator.
stack.config.operators.push(dev.ownerId);

const file: LocalFile = {
  apiUrl: stack.apiUrl,
  wsUrl: stack.wsUrl,
  ...dev,
  dynamoEndpoint: stack.config.dynamoEndpoint,
  s3Endpoint: stack.config.s3Endpoint,
  tableName: stack.config.tableName,
  bucketName: stack.config.bucketName,
  viewerUrl: viewerSignInUrl(stack.apiUrl, dev.apiKey),
};
writeLocalFile(file);
const profileFile = registerLocalProfile({ apiUrl: stack.apiUrl, apiKey: dev.apiKey, wsUrl: stack.wsUrl, daemonKey: dev.daemonKey });

// The hourly schedule of AWS, played by a timer (MAKIMA_CLEANUP_INTERVAL_MS to change it).
const cleanupIntervalMs = Number(process.env.MAKIMA_CLEANUP_INTERVAL_MS ?? 3_600_000);
const cleanup = startCleanupTimer(db, cleanupIntervalMs);
stoppers.push(() => cleanup.stop());

console.log(`makima-history is running locally${inMemory ? " (in memory: nothing is kept)" : ` (data in ${join(LOCAL_DIR, "data")})`}

  HTTP API     ${stack.apiUrl}        docs: ${stack.apiUrl}/api/v1/docs
  viewer       ${file.viewerUrl}
  WebSocket    ${stack.wsUrl}
  DynamoDB     ${stack.config.dynamoEndpoint}   table ${stack.config.tableName}
  S3           ${stack.config.s3Endpoint}   bucket ${stack.config.bucketName}
  cleanup      every ${Math.round(cleanupIntervalMs / 60000)} min (npm run cleanup -- --now for one pass)

  owner        ${dev.ownerId}
  API key      ${dev.apiKey}
  daemon key   ${dev.daemonKey}

Written to ${LOCAL_FILE}, and as the profile "local" of ${profileFile}
for the CLI and daemon, from any folder. Try:
  makima timeline --since 1d
  makima daemon --repo <your repository>

Ctrl-C stops.`);
