import type { Plugin } from "esbuild";

export declare const englishOnlyZodLocales: Plugin;
export declare const zodTypeForOpenApi: Plugin;
declare const plugins: Plugin[];
export default plugins;
