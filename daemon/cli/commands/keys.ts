import { Command, Option } from "commander";
import { uuidArg } from "../config.js";
import { usage } from "../errors.js";
import { absoluteTime, now, relativeTime, table } from "../output.js";
import { commonOptions, session, type ApiOpts } from "./common.js";

interface ApiKey {
  id: string;
  kind: "api" | "tool" | "daemon";
  contractId?: string;
  name?: string;
  createdAt: string;
}

/** `makima keys create|list|revoke`: the keys of the owner whose API key this is. */
export function keysCommand(): Command {
  const keys = new Command("keys").description("your API, tool and daemon keys");

  commonOptions(
    keys
      .command("create")
      .description("create a key (its secret is shown once)")
      .addOption(new Option("--kind <kind>", "api: everything you own; tool: one contract's supervisor and history; daemon: connect a daemon").choices(["api", "tool", "daemon"]).default("api"))
      .option("--contract <id>", "the contract a tool key is scoped to")
      .option("--name <name>", "a name to recognise it by"),
    ["text", "json"],
    "text",
  ).action(async (opts: ApiOpts & { kind: string; contract?: string; name?: string }) => {
    if (opts.kind === "tool" && !opts.contract) throw usage("a tool key needs --contract <id>");
    const contractId = opts.contract ? uuidArg(opts.contract, "contract") : undefined;
    const { out, api } = session(opts);
    const key = await api.post<ApiKey & { key: string }>("/api/v1/keys", { kind: opts.kind, contractId, name: opts.name });
    if (opts.format === "json") return out.json(key);
    // The secret alone on stdout (`KEY=$(makima keys create …)`), the rest on stderr.
    out.note(`Created ${key.kind} key ${key.id}${key.name ? ` "${key.name}"` : ""}. Its secret is shown only now:`);
    out.line(key.key);
  });

  commonOptions(keys.command("list").description("your keys (no secrets)"), ["table", "json"], "table").action(async (opts: ApiOpts) => {
    const { out, api } = session(opts);
    const { items } = await api.all<ApiKey>("/api/v1/keys", "items");
    if (opts.format === "json") return out.json({ items });
    if (!items.length) return out.line("no keys");
    const at = now();
    out.lines(
      table(
        out.c,
        ["ID", "KIND", "NAME", "CONTRACT", "CREATED"],
        items.map((k) => [k.id, k.kind, k.name ?? "", k.contractId ?? "", `${absoluteTime(k.createdAt)} ${out.c.dim(`(${relativeTime(k.createdAt, at)})`)}`]),
      ),
    );
  });

  commonOptions(
    keys.command("revoke").description("revoke a key: it stops working at once").argument("<id>", "the key's id (see keys list)"),
    ["text", "json"],
    "text",
  ).action(async (id: string, opts: ApiOpts) => {
    const keyId = uuidArg(id, "key");
    const { out, api } = session(opts);
    await api.delete(`/api/v1/keys/${keyId}`);
    if (opts.format === "json") return out.json({ id: keyId, revoked: true });
    out.line(`Revoked key ${keyId}.`);
  });

  return keys;
}
