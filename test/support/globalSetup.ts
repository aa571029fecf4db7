import "vitest";
import type { TestProject } from "vitest/node";
import { startEmulators, type Emulators } from "../../stacks/local/emulators.js";
// @ts-expect-error a plain .mjs build script, no types
import { buildCli } from "../../stacks/buildCli.mjs";
import { ensureViewerBuilt } from "../../stacks/viewer.js";

let emulators: Emulators | undefined;

export async function setup(project: TestProject) {
  // The CLI the tests run is the prebuilt one users run (daemon/cli/bin.js falls back to tsx when it is stale);
  // the viewer is built once here (when missing or older than its source), not by test files racing each other.
  const [started] = await Promise.all([startEmulators(), buildCli(), ensureViewerBuilt()]);
  emulators = started;
  project.provide("dynamoEndpoint", started.dynamoEndpoint);
  project.provide("s3Endpoint", started.s3Endpoint);
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
