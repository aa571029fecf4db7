import { inject } from "vitest";
import { randomUUID } from "node:crypto";
import { loadConfig, type Config } from "../../core/config.js";
import { createDb, type Db } from "../../core/store/db.js";
import { dynamoClient } from "../../core/aws.js";
import { ensureTable } from "../../core/tableSchema.js";

/** A config pointing at the emulators the global setup started, with a table and bucket of its own. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  const suffix = randomUUID().slice(0, 8);
  return {
    ...loadConfig({}),
    dynamoEndpoint: inject("dynamoEndpoint"),
    s3Endpoint: inject("s3Endpoint"),
    tableName: `test-${suffix}`,
    bucketName: `test-${suffix}`,
    cursorSecret: `secret-${suffix}`,
    ...overrides,
  };
}

/** A fresh, isolated table and bucket on the shared emulators. */
export async function createTestDb(options: { clock?: () => Date; config?: Partial<Config> } = {}): Promise<Db & { config: Config }> {
  const config = testConfig(options.config);
  await ensureTable(dynamoClient(config), config.tableName);
  const db = createDb(config, { clock: options.clock });
  await db.blobs.ensureBucket();
  return Object.assign(db, { config });
}
