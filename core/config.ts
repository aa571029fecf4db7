/**
 * Runtime configuration, read from the environment. On AWS the SST stacks set
 * these variables on every function (stacks/storage.ts); the local stack and
 * tests set the same variables, or build a Config directly.
 */
export interface Config {
  region: string;
  tableName: string;
  bucketName: string;
  /** Endpoints of the local emulators; unset on AWS. */
  dynamoEndpoint?: string;
  s3Endpoint?: string;
  /** Signs cursors (and nothing else); rotate to invalidate outstanding cursors. */
  cursorSecret: string;
  retentionDays: number;
  /** The WebSocket API's @connections endpoint (https://…/stage); unset means no daemon can be reached. */
  wsManagementEndpoint?: string;
  /** How long the api Lambda waits on a daemon before answering 202 with an operation. */
  relayWaitMs: number;
  /** How long a daemon has to answer before the operation is timed out. */
  relayTimeoutMs: number;
  jwt?: { jwksUrl: string; issuer: string; audience: string };
  /** Owners who may read service-wide records (the cleanup job's runs). */
  operators: string[];
}

/**
 * The CursorSecret's value until someone sets it (`sst secret set`). The
 * stacks replace it with a key drawn at deploy time on unprotected stages; a
 * protected stage passes it through, and loadConfig refuses it there.
 */
export const CURSOR_SECRET_UNSET = "makima-cursor-secret-unset";

function cursorSecret(env: NodeJS.ProcessEnv): string {
  const value = env.MAKIMA_CURSOR_SECRET;
  if (value === CURSOR_SECRET_UNSET) {
    throw new Error("MAKIMA_CURSOR_SECRET is the placeholder: set it with `npx sst secret set CursorSecret <value> --stage <stage>` and deploy again");
  }
  return value || "makima-local-cursor-secret";
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const jwksUrl = env.MAKIMA_JWT_JWKS_URL;
  return {
    region: env.AWS_REGION ?? "us-east-1",
    tableName: env.MAKIMA_TABLE ?? "makima-history",
    bucketName: env.MAKIMA_BUCKET ?? "makima-history",
    dynamoEndpoint: env.MAKIMA_DYNAMO_ENDPOINT || undefined,
    s3Endpoint: env.MAKIMA_S3_ENDPOINT || undefined,
    cursorSecret: cursorSecret(env),
    wsManagementEndpoint: env.MAKIMA_WS_MANAGEMENT_ENDPOINT || undefined,
    retentionDays: num(env, "MAKIMA_RETENTION_DAYS", 30),
    relayWaitMs: num(env, "MAKIMA_RELAY_WAIT_MS", 5_000),
    relayTimeoutMs: num(env, "MAKIMA_RELAY_TIMEOUT_MS", 120_000),
    operators: (env.MAKIMA_OPERATORS ?? "").split(",").map((id) => id.trim()).filter(Boolean),
    jwt: jwksUrl
      ? { jwksUrl, issuer: env.MAKIMA_JWT_ISSUER ?? "", audience: env.MAKIMA_JWT_AUDIENCE ?? "" }
      : undefined,
  };
}
