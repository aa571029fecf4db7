import { Command } from "commander";
import { existsSync } from "node:fs";
import { usage } from "../errors.js";
import { createOut } from "../output.js";
import { PROFILE_KEYS, readUserConfig, updateProfile, userConfigPath, writeUserConfig, type ProfileKey } from "../userConfig.js";

/**
 * `makima config …`: the user's settings file and its profiles. Keys are
 * written as flags are (api-url, api-key, ws-url, daemon-key, contract,
 * agent-command); secrets are shown masked.
 */

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const SECRET: ProfileKey[] = ["apiKey", "daemonKey"];

function keyArg(name: string): ProfileKey {
  const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const key = PROFILE_KEYS.find((k) => k === camel);
  if (!key) throw usage(`"${name}" is not a setting (one of ${PROFILE_KEYS.map(kebab).join(", ")})`);
  return key;
}

function shown(key: ProfileKey, value: string): string {
  return SECRET.includes(key) && value.length > 10 ? `${value.slice(0, 6)}…${value.slice(-4)}` : value;
}

/** The profile a config command changes: --profile, MAKIMA_PROFILE, the default, else "default". */
function targetProfile(cmd: Command): string {
  const named = (cmd.optsWithGlobals().profile as string | undefined) ?? process.env.MAKIMA_PROFILE;
  return named || readUserConfig().profile || "default";
}

function failing<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw usage((error as Error).message);
  }
}

export function configCommand(): Command {
  const config = new Command("config").description(`your settings and profiles, in ${userConfigPath()}`);

  config
    .command("set")
    .description("set a setting of a profile (--profile, else the default profile)")
    .argument("<key>", PROFILE_KEYS.map(kebab).join(", "))
    .argument("<value>", "its value")
    .action(function (this: Command, key: string, value: string) {
      const profile = targetProfile(this);
      const k = keyArg(key);
      if (k === "apiUrl" && !/^https?:\/\//.test(value)) throw usage(`the API URL must start with http:// or https://, got "${value}"`);
      if (k === "wsUrl" && !/^wss?:\/\//.test(value)) throw usage(`the WebSocket URL must start with ws:// or wss://, got "${value}"`);
      failing(() => updateProfile(profile, { [k]: value }));
      createOut().line(`Set ${kebab(k)} of profile "${profile}" in ${userConfigPath()}.`);
    });

  config
    .command("unset")
    .description("remove a setting from a profile")
    .argument("<key>", PROFILE_KEYS.map(kebab).join(", "))
    .action(function (this: Command, key: string) {
      const profile = targetProfile(this);
      const k = keyArg(key);
      failing(() => updateProfile(profile, { [k]: undefined }));
      createOut().line(`Removed ${kebab(k)} from profile "${profile}".`);
    });

  config
    .command("get")
    .description("print one setting of a profile (secrets in full: for scripts)")
    .argument("<key>", PROFILE_KEYS.map(kebab).join(", "))
    .action(function (this: Command, key: string) {
      const profile = targetProfile(this);
      const value = failing(() => readUserConfig()).profiles[profile]?.[keyArg(key)];
      if (value === undefined) throw usage(`profile "${profile}" has no ${key} (in ${userConfigPath()})`);
      createOut().line(value);
    });

  config
    .command("list")
    .alias("show")
    .description("every profile and its settings (secrets masked)")
    .action(() => {
      const out = createOut();
      const path = userConfigPath();
      const file = failing(() => readUserConfig(path));
      if (!existsSync(path) || !Object.keys(file.profiles).length) return out.line(`no profiles yet in ${path}: \`makima login\` or \`makima config set api-url <url>\``);
      out.line(`${path}`);
      for (const [name, profile] of Object.entries(file.profiles)) {
        out.line(`${name}${name === file.profile ? " (default)" : ""}`);
        for (const [k, v] of Object.entries(profile) as Array<[ProfileKey, string]>) out.line(`  ${kebab(k).padEnd(14)} ${shown(k, v)}`);
      }
    });

  config
    .command("use")
    .description("make a profile the default")
    .argument("<profile>", "the profile's name")
    .action((name: string) => {
      const file = failing(() => readUserConfig());
      if (!file.profiles[name]) throw usage(`no profile "${name}" (${Object.keys(file.profiles).join(", ") || "none yet"})`);
      writeUserConfig({ ...file, profile: name });
      createOut().line(`Profile "${name}" is the default.`);
    });

  config
    .command("path")
    .description("where the settings file is (XDG_CONFIG_HOME, else ~/.config)")
    .action(() => createOut().line(userConfigPath()));

  return config;
}
