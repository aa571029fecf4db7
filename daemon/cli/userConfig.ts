import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/**
 * The user's own settings, kept in `$XDG_CONFIG_HOME/makima/config.json`
 * (`~/.config/makima/config.json` when XDG_CONFIG_HOME is unset): named
 * profiles, each a stage of the service (its API URL and keys), and which
 * profile is the default. Written by `makima config set`, `makima login`
 * and `npm start` (the `local` profile); readable by its owner only.
 */

export const PROFILE_KEYS = ["apiUrl", "apiKey", "wsUrl", "daemonKey", "contract", "agentCommand"] as const;
export type ProfileKey = (typeof PROFILE_KEYS)[number];
export type Profile = Partial<Record<ProfileKey, string>>;

export interface UserConfig {
  /** The profile used when none is named (--profile, MAKIMA_PROFILE). */
  profile?: string;
  profiles: Record<string, Profile>;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isProfileName(name: string): boolean {
  return PROFILE_NAME.test(name);
}

/** Where the file is, from the environment given (XDG_CONFIG_HOME, else HOME/.config). */
export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), ".config");
  return join(base, "makima", "config.json");
}

/** Checked by hand, not with zod: every command reads this file, and start-up stays quick. */
function problemsOf(value: unknown): string[] {
  if (!value || typeof value !== "object" || Array.isArray(value)) return ["not a JSON object"];
  const { profile, profiles } = value as { profile?: unknown; profiles?: unknown };
  const problems: string[] = [];
  if (profile !== undefined && (typeof profile !== "string" || !isProfileName(profile))) problems.push("profile: must be a profile name");
  if (profiles === undefined) return problems;
  if (!profiles || typeof profiles !== "object" || Array.isArray(profiles)) return [...problems, "profiles: must be an object"];
  for (const [name, p] of Object.entries(profiles)) {
    if (!isProfileName(name)) problems.push(`profiles: "${name}" is not a profile name`);
    if (!p || typeof p !== "object" || Array.isArray(p)) problems.push(`profiles.${name}: must be an object`);
    else for (const [k, v] of Object.entries(p)) {
      if (!(PROFILE_KEYS as readonly string[]).includes(k)) problems.push(`profiles.${name}.${k}: not a setting (${PROFILE_KEYS.join(", ")})`);
      else if (typeof v !== "string") problems.push(`profiles.${name}.${k}: must be a string`);
    }
  }
  return problems;
}

/** The file's settings (none if it does not exist); a broken file is an Error naming it and what is wrong. */
export function readUserConfig(path = userConfigPath()): UserConfig {
  if (!existsSync(path)) return { profiles: {} };
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${path} is not JSON (${(error as Error).message}); fix or delete it`);
  }
  const problems = problemsOf(value);
  if (problems.length) throw new Error(`${path} is not a valid settings file (${problems.join("; ")}); fix or delete it`);
  const config = value as UserConfig;
  return { ...config, profiles: config.profiles ?? {} };
}

/** Writes the whole file atomically, readable by its owner only (it holds keys). */
export function writeUserConfig(config: UserConfig, path = userConfigPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/**
 * Sets settings of one profile (an undefined value removes the setting);
 * the first profile written becomes the default, or this one with `makeDefault`.
 */
export function updateProfile(name: string, values: Profile, options: { makeDefault?: boolean; path?: string } = {}): UserConfig {
  if (!isProfileName(name)) throw new Error(`"${name}" is not a profile name (letters, digits, . _ -)`);
  const path = options.path ?? userConfigPath();
  const config = readUserConfig(path);
  const profile: Profile = { ...config.profiles[name] };
  for (const [k, v] of Object.entries(values) as Array<[ProfileKey, string | undefined]>) {
    if (v === undefined) delete profile[k];
    else profile[k] = v;
  }
  config.profiles[name] = profile;
  if (options.makeDefault || !config.profile) config.profile = name;
  writeUserConfig(config, path);
  return config;
}
