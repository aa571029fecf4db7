/**
 * The Lambda entry points, in one list: what `stacks/build.ts` bundles, what
 * the SST stacks wire to API Gateway and the schedule, and what
 * `test/stack.test.ts` checks the stacks against. A handler string is
 * `<entry without .ts>.handler`, the form SST's `handler` option takes.
 *
 * This file is plain data (no SST globals), so tsc, tsx and vitest can import it.
 */

/** What invokes a function: a route of one of the two APIs, or the schedule. */
export type LambdaTrigger =
  | { type: "http"; route: "$default" }
  | { type: "websocket"; route: "$connect" | "$disconnect" | "$default" }
  | { type: "schedule"; component: string };

export interface LambdaEntry {
  /** Function name; also the bundle's file name (`dist/functions/<name>.mjs`). */
  name: string;
  /** Source file, relative to the project root. */
  entry: string;
  /** SST handler string: the entry's path without extension, then the export. */
  handler: string;
  trigger: LambdaTrigger;
}

export const LAMBDA_ENTRIES: readonly LambdaEntry[] = [
  {
    name: "api",
    entry: "functions/api.ts",
    handler: "functions/api.handler",
    trigger: { type: "http", route: "$default" },
  },
  {
    name: "ws-connect",
    entry: "functions/ws-connect.ts",
    handler: "functions/ws-connect.handler",
    trigger: { type: "websocket", route: "$connect" },
  },
  {
    name: "ws-disconnect",
    entry: "functions/ws-disconnect.ts",
    handler: "functions/ws-disconnect.handler",
    trigger: { type: "websocket", route: "$disconnect" },
  },
  {
    name: "ws-message",
    entry: "functions/ws-message.ts",
    handler: "functions/ws-message.handler",
    trigger: { type: "websocket", route: "$default" },
  },
  {
    name: "cleanup",
    entry: "functions/cleanup.ts",
    handler: "functions/cleanup.handler",
    trigger: { type: "schedule", component: "Cleanup" },
  },
];

/**
 * The infrastructure files sst.config.ts imports (the rest of stacks/ is
 * tooling: this list, the build, the type check, the local stack).
 */
export const INFRA_STACK_FILES = ["stacks/api.ts", "stacks/cleanup.ts", "stacks/realtime.ts", "stacks/storage.ts"] as const;
