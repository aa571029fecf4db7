import { Command } from "commander";
import { createInterface } from "node:readline/promises";
import { readFileSync } from "node:fs";
import { Api, ApiError } from "../api.js";
import { CliError, usage } from "../errors.js";
import { createOut } from "../output.js";
import { readUserConfig, updateProfile, userConfigPath } from "../userConfig.js";

/**
 * `makima login`: saves a stage's API URL and key (and, for a daemon, its
 * WebSocket URL and daemon key) as a profile, after checking the key works.
 * The key comes from --api-key, else a prompt on a terminal, else stdin.
 */

async function askKey(): Promise<string> {
  if (!process.stdin.isTTY) return readFileSync(0, "utf8").split(/\r?\n/)[0]?.trim() ?? "";
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question("API key (mk_…): ")).trim();
  } finally {
    rl.close();
  }
}

export function loginCommand(): Command {
  return new Command("login")
    .description("save a stage's API URL and key as a profile (--profile, else \"default\") and make it the default")
    .requiredOption("--api-url <url>", "the stage's API URL (https://…)")
    .option("--api-key <key>", "your key mk_… (else asked on a terminal, else read from stdin)")
    .option("--ws-url <url>", "the stage's WebSocket URL, for `makima daemon` (wss://…)")
    .option("--daemon-key <key>", "a daemon key mkd_…, for `makima daemon`")
    .option("--no-default", "keep the current default profile")
    .action(async function (this: Command, opts: { apiUrl: string; apiKey?: string; wsUrl?: string; daemonKey?: string; default: boolean }) {
      if (!/^https?:\/\//.test(opts.apiUrl)) throw usage(`the API URL must start with http:// or https://, got "${opts.apiUrl}"`);
      if (opts.wsUrl && !/^wss?:\/\//.test(opts.wsUrl)) throw usage(`the WebSocket URL must start with ws:// or wss://, got "${opts.wsUrl}"`);
      if (opts.daemonKey && !opts.daemonKey.startsWith("mkd_")) throw usage("--daemon-key must be a daemon key (mkd_…)");
      const apiKey = opts.apiKey ?? (await askKey());
      if (!apiKey) throw usage("no API key: pass --api-key, or type it when asked");
      const apiUrl = opts.apiUrl.replace(/\/+$/, "");
      try {
        await new Api({ apiUrl, apiKey }).get("/api/v1/keys");
      } catch (error) {
        // A tool key may not list keys (403), yet it is a key the API knows.
        if (!(error instanceof ApiError && error.status === 403)) throw new CliError(`not saved: ${(error as Error).message}`);
      }
      const profile = (this.optsWithGlobals().profile as string | undefined) ?? process.env.MAKIMA_PROFILE ?? "default";
      try {
        updateProfile(profile, { apiUrl, apiKey, ...(opts.wsUrl ? { wsUrl: opts.wsUrl } : {}), ...(opts.daemonKey ? { daemonKey: opts.daemonKey } : {}) }, { makeDefault: opts.default });
      } catch (error) {
        throw usage((error as Error).message);
      }
      const isDefault = readUserConfig().profile === profile;
      createOut().line(`Logged in to ${apiUrl}: profile "${profile}"${isDefault ? " (the default)" : ""} saved in ${userConfigPath()}.`);
    });
}
