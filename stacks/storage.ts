/**
 * State every function shares: the single DynamoDB table, the S3 bucket for
 * large snapshots / diffs / transfers, the cursor-signing secret, and the
 * environment that tells core/config.ts where they are.
 *
 * The table declares exactly core/keys.ts `TABLE_KEYS` (the local stack
 * creates the same table from it in core/tableSchema.ts); test/stack.test.ts
 * runs these stacks and compares the two.
 */
import { randomBytes } from "node:crypto";
import { CURSOR_SECRET_UNSET } from "../core/config.js";

/** Stages whose data must survive `sst remove` and accidental deletes. */
export const isProductionStage = (stage: string) => stage === "production" || stage === "prod";

export function createStorage() {
  const production = isProductionStage($app.stage);

  const table = new sst.aws.Dynamo("Table", {
    // Index attributes only; every other attribute is schemaless.
    fields: {
      pk: "string",
      sk: "string",
      gsi1pk: "string",
      gsi1sk: "string",
      gsi2pk: "string",
      gsi2sk: "string",
      gsi3pk: "string",
      gsi3sk: "string",
    },
    primaryIndex: { hashKey: "pk", rangeKey: "sk" },
    globalIndexes: {
      gsi1: { hashKey: "gsi1pk", rangeKey: "gsi1sk" },
      gsi2: { hashKey: "gsi2pk", rangeKey: "gsi2sk" },
      gsi3: { hashKey: "gsi3pk", rangeKey: "gsi3sk" },
    },
    // Backstop only: the cleanup job deletes expired snapshots itself.
    ttl: "expiresAt",
    // SST turns point-in-time recovery on for every stage; production also
    // refuses DeleteTable.
    deletionProtection: production,
  });

  const bucket = new sst.aws.Bucket("Blobs", {
    lifecycle: [
      {
        // Backstop only: transfers (diffs, conversations handed to daemons,
        // large operation results) are temporary; the cleanup job removes them
        // after a day, and an operation's result lives as long as the operation
        // (7 days). Snapshot objects get no rule: a pinned snapshot, or an owner's
        // longer retention, keeps its object for as long as the item says.
        id: "expire-transfers-backstop",
        prefix: "transfers/",
        expiresIn: "8 days",
      },
    ],
  });

  /**
   * Signs pagination cursors: `npx sst secret set CursorSecret <value> --stage <stage>`.
   * Until it is set, an unprotected stage signs with a key drawn at each
   * deploy (outstanding cursors end with the deploy); a protected stage passes
   * the placeholder on and its functions refuse to start (core/config.ts).
   */
  const cursorSecret = new sst.Secret("CursorSecret", CURSOR_SECRET_UNSET);
  const cursorKey = production
    ? cursorSecret.value
    : cursorSecret.value.apply((value) => (value === CURSOR_SECRET_UNSET ? randomBytes(32).toString("base64url") : value));

  /** Read by core/config.ts loadConfig(); every function gets these. */
  const environment = {
    MAKIMA_TABLE: table.name,
    MAKIMA_BUCKET: bucket.name,
    MAKIMA_CURSOR_SECRET: cursorKey,
    MAKIMA_RETENTION_DAYS: process.env.MAKIMA_RETENTION_DAYS ?? "30",
    // Owner ids who may read service-wide records (the cleanup job's runs).
    MAKIMA_OPERATORS: process.env.MAKIMA_OPERATORS ?? "",
    // JWT sign-in (off while MAKIMA_JWT_JWKS_URL is empty): the issuer's keys, issuer and audience.
    MAKIMA_JWT_JWKS_URL: process.env.MAKIMA_JWT_JWKS_URL ?? "",
    MAKIMA_JWT_ISSUER: process.env.MAKIMA_JWT_ISSUER ?? "",
    MAKIMA_JWT_AUDIENCE: process.env.MAKIMA_JWT_AUDIENCE ?? "",
  };

  return { table, bucket, cursorSecret, environment };
}

export type Storage = ReturnType<typeof createStorage>;
