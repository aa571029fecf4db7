import { readFileSync } from "node:fs";
import { join } from "node:path";

/** AWS's own sample Lambda events, kept beside the repository in ../shared/fixtures/aws-events (see its SOURCES.md). */
export const AWS_EVENTS_DIR = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "aws-events");

export function awsEvent<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(AWS_EVENTS_DIR, name), "utf8")) as T;
}
