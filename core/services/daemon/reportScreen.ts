import { ReportedMessage, type RefusedMessage } from "../../protocol.js";

/**
 * One bad message never costs the good ones: before a daemon's report is
 * parsed, each of its messages is checked on its own. An invalid one is
 * taken out and named (by its place in the report, and why) for the
 * acknowledgement; a second message with an id the report already holds is
 * taken out silently, as a resend would be. `places` gives, for each message
 * kept, its place in the report as sent. Only a numbered report is screened:
 * its acknowledgement names what was refused. An unnumbered one (answered by
 * nothing but the route's status) is taken whole or refused whole.
 */
export interface ScreenedReport {
  json: unknown;
  refused: RefusedMessage[];
  places: number[];
}

const CARRIES_MESSAGES = new Set(["taskMessages", "checkpointCreated"]);
const MAX_MESSAGES = 100;

export function screenReport(json: unknown): ScreenedReport {
  const report = json as { type?: unknown; messages?: unknown; report?: unknown } | null;
  if (!report || typeof report !== "object" || !CARRIES_MESSAGES.has(String(report.type)) || report.report === undefined) return { json, refused: [], places: [] };
  const raw = report.messages;
  if (!Array.isArray(raw) || raw.length > MAX_MESSAGES) return { json, refused: [], places: [] };
  const kept: unknown[] = [];
  const places: number[] = [];
  const refused: RefusedMessage[] = [];
  const ids = new Set<string>();
  raw.forEach((message, index) => {
    const parsed = ReportedMessage.safeParse(message);
    if (!parsed.success) {
      const id = (message as { id?: unknown } | null)?.id;
      const why = parsed.error.issues.map((i) => `${i.path.join(".") || "message"}: ${i.message}`).join("; ");
      refused.push({ index, ...(typeof id === "string" ? { id: id.slice(0, 200) } : {}), code: "invalid_message", message: why.slice(0, 2000) });
      return;
    }
    if (ids.has(parsed.data.id)) return;
    ids.add(parsed.data.id);
    kept.push(message);
    places.push(index);
  });
  return { json: { ...report, messages: kept }, refused, places };
}
