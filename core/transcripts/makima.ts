import * as z from "zod";
import { TaskCheckpoint } from "../models.js";
import { emptyStats, jsonLines, lineOf, messageOf, skip, type Transcript, type TranscriptBranch, type TranscriptMessage } from "./transcript.js";
import type { ExportWriter } from "./writer.js";

/**
 * This service's own transcript format (`export --format jsonl`), which
 * imports back to the same conversation: a `transcript` header line (source,
 * name, metadata), then one `message` line per message, each exactly as the
 * conversation holds it; `checkpoint` and `fork` lines say what the task
 * had beside its messages. A message line with `branch` belongs to a fork.
 */

export const TRANSCRIPT_VERSION = 1;

const Header = z.looseObject({
  type: z.literal("transcript"),
  version: z.literal(TRANSCRIPT_VERSION),
  sourceId: z.string().min(1).max(300),
  name: z.string().max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  parentSourceId: z.string().min(1).max(300).optional(),
  forkedFromSourceId: z.string().min(1).max(300).optional(),
});
const Branch = z.object({ id: z.string().min(1).max(200), forkAfterMessageId: z.string().min(1).max(200).nullable(), name: z.string().max(200).optional() });
const MessageLine = z.looseObject({ type: z.literal("message"), message: z.unknown(), branch: Branch.optional() });
const Typed = z.looseObject({ type: z.string() });

export function parseMakima(text: string, file: string): Transcript {
  const stats = emptyStats();
  let header: z.infer<typeof Header> | undefined;
  const messages: TranscriptMessage[] = [];
  const branches = new Map<string, TranscriptBranch>();
  for (const { n, value } of jsonLines(text, file)) {
    stats.lines++;
    const { type } = lineOf(Typed, value, file, n);
    if (type === "transcript") {
      header ??= lineOf(Header, value, file, n);
      continue;
    }
    if (type !== "message") {
      skip(stats, type);
      continue;
    }
    const line = lineOf(MessageLine, value, file, n);
    const message = messageOf(line.message, file, n);
    stats.toolCalls += message.toolCalls?.length ?? 0;
    if (!line.branch) {
      messages.push(message);
      continue;
    }
    const branch = branches.get(line.branch.id) ?? { ...line.branch, messages: [] };
    branch.messages.push(message);
    branches.set(branch.id, branch);
  }
  return {
    format: "makima",
    sourceId: header?.sourceId ?? `makima:${file}`,
    name: header?.name,
    metadata: header?.metadata ?? {},
    parentSourceId: header?.parentSourceId,
    forkedFromSourceId: header?.forkedFromSourceId,
    messages,
    branches: [...branches.values()],
    stats,
  };
}

/** Lines of this format for a parsed transcript (how the CLI sends one in pages). */
export function makimaLines(t: Transcript): string[] {
  const header = { type: "transcript", version: TRANSCRIPT_VERSION, sourceId: t.sourceId, name: t.name, metadata: t.metadata, parentSourceId: t.parentSourceId, forkedFromSourceId: t.forkedFromSourceId };
  return [
    JSON.stringify(header),
    ...t.messages.map((message) => JSON.stringify({ type: "message", message })),
    ...t.branches.flatMap((b) => b.messages.map((message) => JSON.stringify({ type: "message", branch: { id: b.id, forkAfterMessageId: b.forkAfterMessageId, name: b.name }, message }))),
  ];
}

export const makimaWriter: ExportWriter = {
  contentType: "application/x-ndjson; charset=utf-8",
  extension: "jsonl",
  start: ({ task, exportedAt }) =>
    `${JSON.stringify({ type: "transcript", version: TRANSCRIPT_VERSION, sourceId: `makima:${task.id}`, name: task.name, metadata: { taskId: task.id, contractId: task.contractId, plan: task.plan, status: task.status, branchName: task.branchName, baseSha: task.baseSha, createdAt: task.createdAt, exportedAt } })}\n`,
  message: (m) => {
    const { truncated: _t, receivedAt: _r, ...message } = m;
    return `${JSON.stringify({ type: "message", message })}\n`;
  },
  checkpoint: (c: TaskCheckpoint) => `${JSON.stringify({ type: "checkpoint", checkpoint: c })}\n`,
  end: ({ forks }) => forks.map((f) => `${JSON.stringify({ type: "fork", taskId: f.id, name: f.name, forkedAtMessageId: f.forkedAtMessageId, forkedAtCheckpointId: f.forkedAtCheckpointId })}\n`).join(""),
};
