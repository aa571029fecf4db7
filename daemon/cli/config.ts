import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { readLocalFile, type LocalFile } from "../../core/localFile.js";
import { CliError, usage } from "./errors.js";

/**
 * Where each setting comes from, first found wins: the command's flag, the
 * environment, then `.makima/local.json` (written by `npm start`, looked for
 * in the working directory and its parents). Nothing found: a usage error
 * that says what to set.
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

const LOCAL_HINT = "or start the local stack with `npm start` (it writes .makima/local.json)";

export interface ApiSettings {
  apiUrl: string;
  apiKey: string;
}

export function resolveApi(opts: { apiUrl?: string; apiKey?: string }): ApiSettings {
  const local = localFile()?.file;
  const apiUrl = opts.apiUrl ?? env("MAKIMA_API_URL") ?? local?.apiUrl;
  const apiKey = opts.apiKey ?? env("MAKIMA_API_KEY") ?? local?.apiKey;
  if (!apiUrl) throw usage(`no API URL: pass --api-url, set MAKIMA_API_URL, ${LOCAL_HINT}`);
  if (!/^https?:\/\//.test(apiUrl)) throw usage(`the API URL must start with http:// or https://, got "${apiUrl}"`);
  if (!apiKey) throw usage(`no API key: pass --api-key, set MAKIMA_API_KEY (a key mk_…), ${LOCAL_HINT}`);
  return { apiUrl: apiUrl.replace(/\/+$/, ""), apiKey };
}

export function resolveContract(flag: string | undefined): string {
  const id = flag ?? env("MAKIMA_CONTRACT_ID");
  if (!id) throw usage("no contract: pass --contract <id> or set MAKIMA_CONTRACT_ID");
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
  const local = localFile()?.file;
  const wsUrl = opts.wsUrl ?? env("MAKIMA_WS_URL") ?? local?.wsUrl;
  const daemonKey = opts.daemonKey ?? env("MAKIMA_DAEMON_KEY") ?? local?.daemonKey;
  if (!wsUrl) throw usage(`no WebSocket URL: pass --ws-url, set MAKIMA_WS_URL, ${LOCAL_HINT}`);
  if (!/^wss?:\/\//.test(wsUrl)) throw usage(`the WebSocket URL must start with ws:// or wss://, got "${wsUrl}"`);
  if (!daemonKey) throw usage(`no daemon key: pass --daemon-key, set MAKIMA_DAEMON_KEY (a key mkd_…), ${LOCAL_HINT}`);
  if (!daemonKey.startsWith("mkd_")) throw usage("the daemon key must be a daemon key (mkd_…); create one with `makima keys create --kind daemon`");
  return { wsUrl, daemonKey };
}

/** MAKIMA_AGENT_COMMAND unless the flag is given. */
export function resolveAgentCommand(flag: string | undefined): string | undefined {
  return flag ?? env("MAKIMA_AGENT_COMMAND");
}
