import { lintSource } from "@secretlint/core";
import { creator as recommended } from "@secretlint/secretlint-rule-preset-recommend";
import { creator as pattern } from "@secretlint/secretlint-rule-pattern";
import type { ConversationMessage } from "../models.js";

/**
 * Removes secrets from a conversation before it is shared: secretlint's
 * recommended rules (cloud and SaaS API keys and tokens, private keys,
 * basic-auth URLs, database connection strings, …) plus this service's own
 * keys and `.env`-style assignments of secret-named variables. Each secret
 * becomes `[REDACTED:<rule>]`; the count says how many were removed.
 */

const OWN_RULES = [
  { name: "makima-key", pattern: "/\\bmk[td]?_[A-Za-z0-9_-]{16,}/" },
  { name: "env-secret", pattern: "/(?<=^\\s*(?:export\\s+)?[A-Za-z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|ACCESS_KEY)[A-Za-z0-9_]*\\s*=\\s*)[^\\s\"'`]{6,}/m" },
  { name: "bearer-token", pattern: "/(?<=\\bBearer\\s+)[A-Za-z0-9._~+/=-]{20,}/" },
];

const CONFIG = {
  rules: [
    { id: "@secretlint/secretlint-rule-preset-recommend", rule: recommended },
    { id: "@secretlint/secretlint-rule-pattern", rule: pattern, options: { patterns: OWN_RULES } },
  ],
};

const ruleName = (id: string) => id.replace(/^@secretlint\/secretlint-rule-/, "");

/** The text with each secret found replaced, and how many were. */
export async function redactText(text: string): Promise<{ text: string; count: number }> {
  if (text.length < 8) return { text, count: 0 };
  const result = await lintSource({ source: { content: text, filePath: "/conversation.txt", ext: ".txt", contentType: "text" }, options: { config: CONFIG } });
  const ranges = result.messages
    .map((m) => ({ start: m.range[0], end: m.range[1], rule: ruleName(m.ruleId) }))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  let out = "";
  let at = 0;
  let count = 0;
  for (const r of ranges) {
    if (r.start < at) continue;
    out += `${text.slice(at, r.start)}[REDACTED:${r.rule}]`;
    at = r.end;
    count++;
  }
  return { text: out + text.slice(at), count };
}

/** A JSON value with every string in it redacted. */
async function redactValue(value: unknown, tally: { count: number }): Promise<unknown> {
  if (typeof value === "string") {
    const r = await redactText(value);
    tally.count += r.count;
    return r.text;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) out.push(await redactValue(v, tally));
    return out;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await redactValue(v, tally);
    return out;
  }
  return value;
}

/** A message with the secrets in its content, tool calls, tool input and result removed. */
export async function redactMessage(message: ConversationMessage): Promise<{ message: ConversationMessage; count: number }> {
  const tally = { count: 0 };
  const { content, toolCalls, toolInput, toolResult } = message;
  const redacted = (await redactValue({ content, toolCalls, toolInput, toolResult }, tally)) as Pick<ConversationMessage, "content" | "toolCalls" | "toolInput" | "toolResult">;
  return { message: { ...message, ...Object.fromEntries(Object.entries(redacted).filter(([, v]) => v !== undefined)) }, count: tally.count };
}
