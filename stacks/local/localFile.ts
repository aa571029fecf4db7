import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** `.makima/local.json`: what the CLI and daemon need to reach the local stack, and where its parts listen. */
export interface LocalFile {
  apiUrl: string;
  wsUrl: string;
  apiKey: string;
  daemonKey: string;
  ownerId: string;
  dynamoEndpoint?: string;
  s3Endpoint?: string;
  tableName?: string;
  bucketName?: string;
}

export const LOCAL_DIR = join(process.cwd(), ".makima");
export const LOCAL_FILE = join(LOCAL_DIR, "local.json");

export function readLocalFile(path = LOCAL_FILE): LocalFile | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as LocalFile;
}

export function writeLocalFile(file: LocalFile, path = LOCAL_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
}
