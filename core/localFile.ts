import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";

/** `.makima/local.json`: what the CLI and daemon need to reach the local stack (written by `npm start`), and where its parts listen. */
export const LocalFile = z.object({
  apiUrl: z.string(),
  wsUrl: z.string(),
  apiKey: z.string(),
  daemonKey: z.string(),
  ownerId: z.string(),
  dynamoEndpoint: z.string().optional(),
  s3Endpoint: z.string().optional(),
  tableName: z.string().optional(),
  bucketName: z.string().optional(),
});
export type LocalFile = z.infer<typeof LocalFile>;

export const LOCAL_DIR = join(process.cwd(), ".makima");
export const LOCAL_FILE = join(LOCAL_DIR, "local.json");

export function readLocalFile(path = LOCAL_FILE): LocalFile | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = LocalFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`).join("; "));
  return parsed.data;
}

export function writeLocalFile(file: LocalFile, path = LOCAL_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + "\n", { mode: 0o600 });
}
