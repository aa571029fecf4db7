import "vitest";
import type { TestProject } from "vitest/node";
import { startEmulators, type Emulators } from "../../stacks/local/emulators.js";
import { ensureViewerBuilt } from "../../stacks/viewer.js";

let emulators: Emulators | undefined;

export async function setup(project: TestProject) {
  // Built once here (when missing or older than its source), not by test files racing each other.
  await ensureViewerBuilt();
  emulators = await startEmulators();
  project.provide("dynamoEndpoint", emulators.dynamoEndpoint);
  project.provide("s3Endpoint", emulators.s3Endpoint);
}

export async function teardown() {
  await emulators?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    s3Endpoint: string;
  }
}
