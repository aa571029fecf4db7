#!/usr/bin/env node
// The `makima` command: the prebuilt CLI (dist/cli, `npm run build`) while it
// is newer than every source it was built from, else the TypeScript through tsx.
import { readFileSync, statSync } from "node:fs";

const root = new URL("../../", import.meta.url);
const dist = new URL("dist/cli/", root);

function prebuiltIsFresh() {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(new URL("inputs.json", dist), "utf8"));
    return inputs.every((path) => statSync(new URL(path, root)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

let main;
if (process.env.MAKIMA_CLI_SOURCE !== "1" && prebuiltIsFresh()) {
  ({ main } = await import(new URL("main.js", dist).href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("./main.ts"));
}
process.exitCode = await main(process.argv);
