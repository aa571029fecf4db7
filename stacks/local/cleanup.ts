/**
 * `npm run cleanup -- --now`: one pass of the cleanup job against the local
 * stack, then the run's summary. `--all` repeats passes until nothing
 * expired is left. Endpoints and names come from `.makima/local.json`
 * (written by `npm start`) when it has them, else from the same environment
 * variables core/config.ts reads.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadConfig, type Config } from "../../core/config.js";
import * as db from "../../core/store/db.js";
import { runCleanup } from "../../core/retention/index.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function localCleanupConfig(env: NodeJS.ProcessEnv = process.env, root = ROOT): Config {
  const config = loadConfig(env);
  const file = join(root, ".makima", "local.json");
  if (!existsSync(file)) return config;
  const local = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const str = (name: string) => (typeof local[name] === "string" && local[name] ? (local[name] as string) : undefined);
  return {
    ...config,
    dynamoEndpoint: str("dynamoEndpoint") ?? config.dynamoEndpoint,
    s3Endpoint: str("s3Endpoint") ?? config.s3Endpoint,
    tableName: str("tableName") ?? config.tableName,
    bucketName: str("bucketName") ?? config.bucketName,
  };
}

async function main(args: string[]): Promise<number> {
  if (!args.includes("--now")) {
    console.error("usage: npm run cleanup -- --now [--all]\n  --now  run one pass of the cleanup job against the local stack\n  --all  repeat until nothing expired is left");
    return 2;
  }
  const config = localCleanupConfig();
  if (!config.dynamoEndpoint || !config.s3Endpoint) {
    console.error("no local endpoints: start the local stack (npm start) or set MAKIMA_DYNAMO_ENDPOINT and MAKIMA_S3_ENDPOINT");
    return 1;
  }
  const database = db.createDb(config);
  for (let pass = 1; ; pass++) {
    const summary = await runCleanup(database, { trigger: "local", log: () => {} });
    console.log(JSON.stringify(summary, null, 2));
    if (!args.includes("--all") || !summary.hasMore || summary.stoppedBy === "done") break;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
