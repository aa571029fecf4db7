// The linter: typescript-eslint's recommended rules over every TypeScript and
// JavaScript file (`npm run lint`; `.ci/run` runs it before the tests).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".sst/", ".makima/", "bench/peers/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: globals.node },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // A variable a closure reads before it is assigned (objects that refer to each other) stays `let`.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // Control characters are matched on purpose: git's ref-name rules, terminal colour codes.
      "no-control-regex": "off",
    },
  },
  {
    // Tests and benches read JSON answers as they come.
    files: ["test/**", "bench/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // SST's generated platform types are referenced the way SST asks.
    files: ["sst.config.ts"],
    rules: { "@typescript-eslint/triple-slash-reference": "off" },
  },
);
