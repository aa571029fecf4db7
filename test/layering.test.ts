/**
 * The layers, read from the code: routes (functions/http/routes/) reach the
 * store only through services, so they import nothing from core/store/; every
 * other file outside core/store/ imports a store module's values as one
 * namespace named after the module (`import * as tasks from
 * "../store/tasks.js"`, then `tasks.getTaskRecord(…)`), never a function by
 * name or under an alias; types may be imported by name. No local name hides
 * such a namespace.
 */
import { describe, expect, it } from "vitest";
import ts from "typescript";
import { readFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { ROOT, filesUnder } from "./support/sourceFiles.js";

const rel = (path: string) => relative(ROOT, path).split("\\").join("/");
const STORE = "core/store/";
const ROUTES = "functions/http/routes/";

/** The store module a specifier names from `file` (both relative to the repository), or undefined. */
function storeModule(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const target = rel(resolve(dirname(join(ROOT, file)), specifier));
  return target.startsWith(STORE) ? target : undefined;
}

const moduleName = (target: string) => basename(target).replace(/\.(js|ts|mjs|mts)$/, "");

/** How `file` (a path relative to the repository) breaks the layering, one line each. */
function layeringProblems(file: string, text: string): string[] {
  if (file.startsWith(STORE)) return [];
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const problems: string[] = [];
  const at = (node: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;
  const isRoute = file.startsWith(ROUTES);
  const namespaces = new Map<string, ts.Node>();

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = storeModule(file, node.moduleSpecifier.text);
      if (target) {
        const clause = node.importClause;
        const bindings = clause?.namedBindings;
        if (isRoute) problems.push(`${at(node)} a route imports ${target} (go through a service)`);
        else if (!clause) problems.push(`${at(node)} imports ${target} for its side effects`);
        else if (clause.isTypeOnly) {
          // Types only: fine.
        } else if (clause.name) problems.push(`${at(node)} imports ${target}'s default`);
        else if (bindings && ts.isNamespaceImport(bindings)) {
          if (bindings.name.text !== moduleName(target)) {
            problems.push(`${at(node)} imports ${target} as ${bindings.name.text}, not ${moduleName(target)}`);
          } else namespaces.set(bindings.name.text, bindings);
        } else if (bindings && ts.isNamedImports(bindings)) {
          for (const element of bindings.elements.filter((e) => !e.isTypeOnly)) {
            problems.push(`${at(element)} imports ${element.getText(sf)} by name from ${target} (import * as ${moduleName(target)})`);
          }
        }
      }
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = storeModule(file, node.moduleSpecifier.text);
      if (target && (isRoute || !node.isTypeOnly)) problems.push(`${at(node)} re-exports ${target}`);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [specifier] = node.arguments;
      const target = specifier && ts.isStringLiteral(specifier) ? storeModule(file, specifier.text) : undefined;
      if (target && isRoute) problems.push(`${at(node)} a route imports ${target} (go through a service)`);
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const target = storeModule(file, node.argument.literal.text);
      if (target && isRoute) problems.push(`${at(node)} a route imports ${target} (go through a service)`);
    }
    node.forEachChild(visit);
  };
  visit(sf);

  // A local of the same name would hide the namespace where it is declared.
  const hide = (node: ts.Node): void => {
    if (
      (ts.isVariableDeclaration(node) ||
        ts.isParameter(node) ||
        ts.isBindingElement(node) ||
        ts.isFunctionDeclaration(node) ||
        ts.isClassDeclaration(node)) &&
      node.name &&
      ts.isIdentifier(node.name) &&
      namespaces.has(node.name.text)
    ) {
      problems.push(`${at(node)} declares ${node.name.text}, hiding the store namespace ${node.name.text}`);
    }
    node.forEachChild(hide);
  };
  if (namespaces.size > 0) hide(sf);
  return problems;
}

describe("the layering check itself", () => {
  const service = "core/services/example.ts";
  const route = "functions/http/routes/example.ts";

  it("accepts store namespaces named after their modules, and types by name", () => {
    const code = [
      `import * as tasks from "../store/tasks.js";`,
      `import * as conversationLog from "../store/conversationLog.js";`,
      `import type { Db } from "../store/db.js";`,
      `import { type Page } from "../store/paging.js";`,
      `import { ownedTask } from "./context.js";`,
      `export const read = (db: Db, id: string) => tasks.getTaskRecord(db, "o", id);`,
    ].join("\n");
    expect(layeringProblems(service, code)).toEqual([]);
    expect(layeringProblems("core/store/tasks.ts", `import { getContract } from "./contracts.js";`)).toEqual([]);
  });

  it("refuses store values imported by name or alias, misnamed namespaces and hidden ones", () => {
    const code = [
      `import { getTaskRecord, type TaskRecordPage } from "../store/tasks.js";`,
      `import { createContract as storeContract } from "../store/contracts.js";`,
      `import * as log from "../store/conversationLog.js";`,
      `import * as checkpoints from "../store/checkpoints.js";`,
      `export { toTask } from "../store/tasks.js";`,
      `export function f(checkpoints: string[]) { return checkpoints; }`,
    ].join("\n");
    expect(layeringProblems(service, code)).toEqual([
      `${service}:1 imports getTaskRecord by name from core/store/tasks.js (import * as tasks)`,
      `${service}:2 imports createContract as storeContract by name from core/store/contracts.js (import * as contracts)`,
      `${service}:3 imports core/store/conversationLog.js as log, not conversationLog`,
      `${service}:5 re-exports core/store/tasks.js`,
      `${service}:6 declares checkpoints, hiding the store namespace checkpoints`,
    ]);
  });

  it("refuses any store import in a route, types included", () => {
    const code = [
      `import * as tasks from "../../../core/store/tasks.js";`,
      `import type { Db } from "../../../core/store/db.js";`,
      `type P = import("../../../core/store/paging.js").Page<string>;`,
      `import { createTask } from "../../../core/services/tasks.js";`,
    ].join("\n");
    expect(layeringProblems(route, code)).toEqual([
      `${route}:1 a route imports core/store/tasks.js (go through a service)`,
      `${route}:2 a route imports core/store/db.js (go through a service)`,
      `${route}:3 a route imports core/store/paging.js (go through a service)`,
    ]);
  });
});

describe("layering", () => {
  const files = ["core", "functions", "daemon", "stacks"].flatMap(filesUnder).map(rel);

  it("looks at the code", () => {
    expect(files).toEqual(expect.arrayContaining(["core/services/tasks.ts", "core/relay.ts", `${ROUTES}tasks.ts`, "stacks/local/start.ts"]));
  });

  it("routes import nothing from core/store; other files import store values only as namespaces named after their modules", () => {
    const problems = files.flatMap((f) => layeringProblems(f, readFileSync(join(ROOT, f), "utf8")));
    expect(problems).toEqual([]);
  });
});
