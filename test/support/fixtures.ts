import { readFileSync } from "node:fs";
import { join } from "node:path";

/** AWS's own sample Lambda events, kept in test/fixtures/aws-events (its SOURCES.md says where each comes from). */
export const AWS_EVENTS_DIR = join(import.meta.dirname, "..", "fixtures", "aws-events");

export function awsEvent<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(AWS_EVENTS_DIR, name), "utf8")) as T;
}
