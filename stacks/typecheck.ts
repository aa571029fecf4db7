/**
 * Type-checks the AWS deployment (sst.config.ts and the infrastructure files
 * in stacks/), which the main tsconfig leaves out because their globals
 * (`sst`, `aws`, `$config`, `$app`, …) come from the SST platform. The
 * reference `./.sst/platform/config.d.ts` is served by SST's own types when
 * `npx sst install` has written them, else by stacks/types/sst-platform.d.ts.
 *
 * `npm run typecheck` runs it; test/stack.test.ts runs checkStacks() too.
 */
import ts from "typescript";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { INFRA_STACK_FILES } from "./functions.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PLATFORM = resolve(ROOT, ".sst/platform/config.d.ts");
const STAND_IN = resolve(ROOT, "stacks/types/sst-platform.d.ts");

export interface StackTypecheck {
  /** The declarations the stacks were checked against. */
  platform: "sst" | "stand-in";
  /** tsc's diagnostics, one line each ("file:line: message"). */
  errors: string[];
}

/**
 * Checks `files` (relative to the project root, or absolute; default:
 * sst.config.ts and the infrastructure files) against the platform's types.
 */
export function checkStacks(files: readonly string[] = ["sst.config.ts", ...INFRA_STACK_FILES]): StackTypecheck {
  const real = existsSync(PLATFORM);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2023.d.ts"],
    types: ["node"],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    isolatedModules: true,
  };
  const host = ts.createCompilerHost(options);
  if (!real) {
    const serve = (name: string) => (resolve(name) === PLATFORM ? STAND_IN : name);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, ...rest) => getSourceFile.call(host, serve(name), ...rest);
    host.fileExists = (name) => fileExists.call(host, serve(name));
    host.readFile = (name) => readFile.call(host, serve(name));
  }
  const program = ts.createProgram([real ? PLATFORM : STAND_IN, ...files.map((f) => resolve(ROOT, f))], options, host);
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName.replace(ROOT, "")}:${line + 1}: ${message}`;
  });
  return { platform: real ? "sst" : "stand-in", errors };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { platform, errors } = checkStacks();
  for (const error of errors) console.error(error);
  console.log(`stacks: ${errors.length} type error(s), against ${platform === "sst" ? ".sst/platform" : "stacks/types/sst-platform.d.ts"}`);
  process.exit(errors.length === 0 ? 0 : 1);
}
