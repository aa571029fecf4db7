import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** `.makima/local.json`: what the CLI and daemon need to reach the local stack (written by `npm start`), and where its parts listen. */
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
  /** Opens the browser viewer signed in as the dev owner (the key rides in the fragment, which is never sent). */
  viewerUrl?: string;
}

const REQUIRED = ["apiUrl", "wsUrl", "apiKey", "daemonKey", "ownerId"] as const;
const OPTIONAL = ["dynamoEndpoint", "s3Endpoint", "tableName", "bucketName", "viewerUrl"] as const;

/** Checked by hand, not with zod: every `makima` command reads this file, and its start-up stays quick. */
function problemsOf(value: unknown): string[] {
  if (!value || typeof value !== "object") return ["not a JSON object"];
  return [
    ...REQUIRED.filter((k) => typeof Reflect.get(value, k) !== "string").map((k) => `${k}: a string is required`),
    ...OPTIONAL.filter((k) => !["string", "undefined"].includes(typeof Reflect.get(value, k))).map((k) => `${k}: must be a string`),
  ];
}

function isLocalFile(value: unknown): value is LocalFile {
  return problemsOf(value).length === 0;
}

export const LOCAL_DIR = join(process.cwd(), ".makima");
export const LOCAL_FILE = join(LOCAL_DIR, "local.json");

export function readLocalFile(path = LOCAL_FILE): LocalFile | undefined {
  if (!existsSync(path)) return undefined;
  const value: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (!isLocalFile(value)) throw new Error(problemsOf(value).join("; "));
  return value;
}

export function writeLocalFile(file: LocalFile, path = LOCAL_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
}
