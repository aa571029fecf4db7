import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { readLocalFile, type LocalFile } from "../../core/localFile.js";
import { CliError, usage } from "./errors.js";
import { readUserConfig, userConfigPath, type Profile, type ProfileKey, type UserConfig } from "./userConfig.js";

/**
 * Where each setting comes from, first found wins: the command's flag, the
 * environment, a profile named with --profile or MAKIMA_PROFILE,
 * `.makima/local.json` (written by `npm start`, looked for in the working
 * directory and its parents), then the default profile of the user's
 * config (userConfig.ts). Nothing found: a usage error that names every
 * place looked in.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** An empty variable counts as unset (`MAKIMA_API_KEY= makima …`). */
function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === "" ? undefined : value;
}

let cached: { path: string; file: LocalFile } | null | undefined;

/** The nearest `.makima/local.json` from the working directory up, if any. */
function localFile(): { path: string; file: LocalFile } | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const path = join(dir, ".makima", "local.json");
    if (existsSync(path)) {
      try {
        const file = readLocalFile(path);
        if (file) cached = { path, file };
      } catch (error) {
        throw new CliError(`${path} is not a valid settings file (${error instanceof Error ? error.message : String(error)}); fix or delete it`);
      }
      break;
    }
    if (dirname(dir) === dir) break;
  }
  return cached ?? undefined;
}

let chosenProfile: string | undefined;

/** The profile named by --profile (set before any command runs). */
export function useProfile(name: string | undefined): void {
  chosenProfile = name;
}

let userCached: { path: string; config: UserConfig } | undefined;

function userConfig(): { path: string; config: UserConfig } {
  if (userCached) return userCached;
  const path = userConfigPath();
  try {
    userCached = { path, config: readUserConfig(path) };
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return userCached;
}

/** The profile settings come from: --profile, MAKIMA_PROFILE, else the file's default. */
export function activeProfile(): { name?: string; explicit: boolean; profile?: Profile; path: string } {
  const { path, config } = userConfig();
  const named = chosenProfile ?? env("MAKIMA_PROFILE");
  const name = named ?? config.profile;
  if (named && !config.profiles[named]) {
    const known = Object.keys(config.profiles);
    throw usage(`no profile "${named}" in ${path} (${known.length ? `it has ${known.join(", ")}` : "it has none"}): create it with \`makima login --profile ${named}\``);
  }
  return { name, explicit: named !== undefined, profile: name ? config.profiles[name] : undefined, path };
}

/**
 * One setting, from the first place that has it: the flag, the variable,
 * a profile named with --profile or MAKIMA_PROFILE, `.makima/local.json`
 * (a clone running `npm start`), then the default profile. Missing
 * everywhere: a usage error listing each place looked in.
 */
function setting(what: string, flag: string, variable: string, key: ProfileKey & keyof LocalFile, given: string | undefined, example: string): string {
  const profile = activeProfile();
  const fromProfile = profile.profile?.[key];
  const local = localFile();
  const value = given ?? env(variable) ?? (profile.explicit ? fromProfile : undefined) ?? local?.file[key] ?? fromProfile;
  if (value) return value;
  const looked = [
    flag,
    variable,
    local ? `${local.path} (no ${key})` : `.makima/local.json in ${process.cwd()} and its parents (none)`,
    existsSync(profile.path) ? `${profile.path} (${profile.name ? `profile "${profile.name}" has no ${key}` : "no profile"})` : `${profile.path} (none)`,
  ];
  throw usage(`no ${what}: looked in ${looked.join(", ")}. ${example}`);
}

const LOGIN_HINT = "Run `makima login` for a deployed stage, or `npm start` in the makima-history clone for the local stack";

export interface ApiSettings {
  apiUrl: string;
  apiKey: string;
}

export function resolveApi(opts: { apiUrl?: string; apiKey?: string }): ApiSettings {
  const apiUrl = setting("API URL", "--api-url", "MAKIMA_API_URL", "apiUrl", opts.apiUrl, `${LOGIN_HINT}.`);
  if (!/^https?:\/\//.test(apiUrl)) throw usage(`the API URL must start with http:// or https://, got "${apiUrl}"`);
  const apiKey = setting("API key", "--api-key", "MAKIMA_API_KEY", "apiKey", opts.apiKey, `${LOGIN_HINT} (a key mk_…).`);
  return { apiUrl: apiUrl.replace(/\/+$/, ""), apiKey };
}

export function resolveContract(flag: string | undefined): string {
  const id = flag ?? env("MAKIMA_CONTRACT_ID") ?? activeProfile().profile?.contract;
  if (!id) throw usage("no contract: pass --contract <id>, set MAKIMA_CONTRACT_ID, or `makima config set contract <id>`");
  return uuidArg(id, "contract");
}

export function resolveTask(arg: string | undefined): string {
  const id = arg ?? env("MAKIMA_TASK_ID");
  if (!id) throw usage("no task: give the task id or set MAKIMA_TASK_ID");
  return uuidArg(id, "task");
}

/** A UUID the user typed, checked before anything is sent. */
export function uuidArg(value: string, what: string): string {
  if (!isUuid(value)) throw usage(`"${value}" is not a ${what} id (a UUID)`);
  return value.toLowerCase();
}

export interface DaemonSettings {
  wsUrl: string;
  daemonKey: string;
}

export function resolveDaemon(opts: { wsUrl?: string; daemonKey?: string }): DaemonSettings {
  const wsUrl = setting("WebSocket URL", "--ws-url", "MAKIMA_WS_URL", "wsUrl", opts.wsUrl, `${LOGIN_HINT}.`);
  if (!/^wss?:\/\//.test(wsUrl)) throw usage(`the WebSocket URL must start with ws:// or wss://, got "${wsUrl}"`);
  const daemonKey = setting("daemon key", "--daemon-key", "MAKIMA_DAEMON_KEY", "daemonKey", opts.daemonKey, `${LOGIN_HINT} (a key mkd_…: \`makima keys create --kind daemon\`).`);
  if (!daemonKey.startsWith("mkd_")) throw usage("the daemon key must be a daemon key (mkd_…); create one with `makima keys create --kind daemon`");
  return { wsUrl, daemonKey };
}

/** MAKIMA_AGENT_COMMAND unless the flag is given. */
export function resolveAgentCommand(flag: string | undefined): string | undefined {
  return flag ?? env("MAKIMA_AGENT_COMMAND") ?? activeProfile().profile?.agentCommand;
}
