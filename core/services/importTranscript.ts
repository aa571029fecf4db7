import { v7 as uuidv7 } from "uuid";
import { HistoryEvent, type TaskRecord } from "../models.js";
import { actorOf } from "../auth.js";
import { badRequest, conflict, DomainError } from "../errors.js";
import { timeOfId } from "../ids.js";
import { describeLines, digest, isEmpty, type Transcript, type TranscriptBranch, type TranscriptMessage, TranscriptLineError, type TranscriptFormat } from "../transcripts/transcript.js";
import { parseTranscript } from "../transcripts/formats.js";
import * as conversationAppend from "../store/conversationAppend.js";
import * as history from "../store/history.js";
import * as segments from "../store/segments.js";
import * as tasks from "../store/tasks.js";
import * as table from "../store/table.js";
import { ownedContract, ownedTask, type ServiceContext } from "./context.js";
import { eventWrites, phaseOf } from "./taskEvents.js";

/**
 * Bringing a transcript in. Every id is the transcript's own: a task's id is
 * derived from its owner and the transcript's source id, a message keeps its
 * id, so importing the same transcript again finds the same task and adds
 * nothing, and an import that stopped half-way is finished by running it
 * again. The whole transcript is parsed before anything is written: a bad
 * line is refused with its file and line number and nothing is stored.
 * Messages go through the conversation's append path in pages; each page's
 * `chat`/`imported` history event is dated by its first message, so a time
 * filter finds an imported session when it happened. Other branches become
 * forks of the task; a sub-agent's transcript, a child of its session's task.
 */

/** A page of an import, appended as one batch: at most this many messages… */
export const IMPORT_PAGE = 500;
/** …and about this many bytes of JSON. */
const IMPORT_PAGE_BYTES = 256 * 1024;

/** Messages cut into pages by count and size (a message larger than a page is a page of its own). */
function pagesOf(messages: TranscriptMessage[]): TranscriptMessage[][] {
  const pages: TranscriptMessage[][] = [];
  let page: TranscriptMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = JSON.stringify(m).length;
    if (page.length && (page.length === IMPORT_PAGE || bytes + size > IMPORT_PAGE_BYTES)) {
      pages.push(page);
      page = [];
      bytes = 0;
    }
    page.push(m);
    bytes += size;
  }
  if (page.length) pages.push(page);
  return pages;
}

export interface ImportOptions {
  contractId?: string;
  name?: string;
  /** The task a sub-agent's or forked session's transcript belongs under (its session's task, as an earlier import answered). */
  parentTaskId?: string;
}

export interface ImportResult {
  taskId: string;
  created: boolean;
  sourceId: string;
  format: TranscriptFormat;
  name: string;
  messages: number;
  appended: number;
  toolCalls: number;
  toolResultsJoined: number;
  skippedLines: Record<string, number>;
  forks: Array<{ taskId: string; branchId: string; forkedAtMessageId: string | null; messages: number; appended: number }>;
  metadata: Record<string, unknown>;
}

/** A UUIDv7 dated `at` whose other bits come from `seed`: the same seed gives the same id. */
export function derivedId(seed: string, at: Date): string {
  return uuidv7({ msecs: Math.max(0, at.getTime()), random: Uint8Array.from(Buffer.from(digest(seed).slice(0, 32), "hex")) });
}

/** When a transcript's messages began (the epoch for one whose times are the import's: its ids must not change with them). */
const firstTime = (messages: TranscriptMessage[], t?: Transcript) => new Date(t?.timed === false ? 0 : (messages[0]?.timestamp ?? 0));
const taskIdFor = (ownerId: string, sourceId: string, at: Date) => derivedId(`${ownerId}\n${sourceId}`, at);

/** A transcript's text parsed, its line errors as a 400 naming the file and line. */
export function parseForImport(text: string, file: string, format?: TranscriptFormat): Transcript {
  try {
    return parseTranscript(text, file, format);
  } catch (error) {
    if (error instanceof TranscriptLineError) {
      throw new DomainError(400, "transcript_line_invalid", error.message, [{ path: `${error.file}:${error.line}`, message: error.reason }]);
    }
    throw error;
  }
}

/** A new task for the transcript, or the one an earlier import of it made. */
export async function importTranscript(ctx: ServiceContext, transcript: Transcript, options: ImportOptions = {}): Promise<ImportResult> {
  const contract = options.contractId ? await ownedContract(ctx, options.contractId) : undefined;
  if (ctx.principal.contractId && !contract) throw badRequest("a tool key's tasks belong to its contract: give contractId", "contractId");
  const owner = ctx.principal.ownerId;
  const parent = options.parentTaskId ? await ownedTask(ctx, options.parentTaskId) : undefined;
  if (isEmpty(transcript)) throw new DomainError(400, "transcript_empty", `${transcript.sourceId} holds no messages (${describeLines(transcript.stats)}): nothing to import`);
  const id = taskIdFor(owner, transcript.sourceId, firstTime(transcript.messages, transcript));
  const name = (options.name ?? transcript.name ?? transcript.sourceId).slice(0, 200) || "imported";
  const { task, created } = await createOnce(ctx, id, {
    name,
    plan: "",
    contractId: contract?.id ?? parent?.contractId,
    status: "completed",
    forkedFromTaskId: parent?.id,
  }, { format: transcript.format, sourceId: transcript.sourceId, metadata: transcript.metadata });
  return { ...(await appendTranscript(ctx, task, transcript)), created };
}

/** The transcript's messages added to a task of the caller's (each id once), its branches as forks of it. */
export async function importIntoTask(ctx: ServiceContext, taskId: string, transcript: Transcript): Promise<ImportResult> {
  return { ...(await appendTranscript(ctx, await ownedTask(ctx, taskId), transcript)), created: false };
}

async function createOnce(
  ctx: ServiceContext,
  id: string,
  input: tasks.NewTask,
  imported: { format: string; sourceId: string; metadata: Record<string, unknown> },
): Promise<{ task: TaskRecord; created: boolean }> {
  const owner = ctx.principal.ownerId;
  const phase = input.contractId ? await phaseOf(ctx, { ownerId: owner, contractId: input.contractId }) : undefined;
  try {
    const task = await tasks.createTask(ctx.db, owner, { ...input, id }, (t) =>
      eventWrites(ctx.db, {
        ownerId: owner,
        contractId: t.contractId,
        taskId: t.id,
        phase,
        eventType: "task",
        eventSubtype: "imported",
        eventData: { name: t.name, format: imported.format, sourceId: imported.sourceId, metadata: imported.metadata, forkedFromTaskId: t.forkedFromTaskId, actor: actorOf(ctx.principal) },
      }),
    );
    return { task, created: true };
  } catch (error) {
    if (!table.isConditionFailure(error) && !table.cancellationReasons(error)?.includes("ConditionalCheckFailed")) throw error;
    const task = await tasks.getTaskRecord(ctx.db, owner, id);
    if (!task) throw conflict("concurrent_update", "the task changed while this import ran; try again");
    return { task, created: false };
  }
}

/** The active line's messages appended in pages, then each branch into its fork. */
async function appendTranscript(ctx: ServiceContext, task: TaskRecord, t: Transcript): Promise<Omit<ImportResult, "created">> {
  const appended = await appendPages(ctx, task, t, t.messages);
  const forks: ImportResult["forks"] = [];
  for (const branch of t.branches) {
    const fork = await forkFor(ctx, task, t, branch);
    forks.push({ taskId: fork.id, branchId: branch.id, forkedAtMessageId: branch.forkAfterMessageId, messages: branch.messages.length, appended: await appendPages(ctx, fork, t, branch.messages) });
  }
  return {
    taskId: task.id,
    sourceId: t.sourceId,
    format: t.format,
    name: task.name,
    messages: t.messages.length,
    appended,
    toolCalls: t.stats.toolCalls,
    toolResultsJoined: t.stats.toolResultsJoined,
    skippedLines: t.stats.skipped,
    forks,
    metadata: t.metadata,
  };
}

/** The fork of `parent` a branch lives in: sharing the parent's conversation up to the branch point. */
async function forkFor(ctx: ServiceContext, parent: TaskRecord, t: Transcript, branch: TranscriptBranch): Promise<TaskRecord> {
  const after = branch.forkAfterMessageId;
  const fresh = (await tasks.getTaskRecord(ctx.db, parent.ownerId, parent.id)) ?? parent;
  const closed = await segments.closeSegments(ctx.db, fresh);
  const position = after ? await segments.positionOfMessage(ctx.db, closed, after) : 0;
  // Dated as its parent, whatever page of the branch comes first: every page finds the same fork.
  const id = derivedId(`${parent.ownerId}\n${t.sourceId}\nbranch:${branch.id}`, timeOfId(parent.id));
  const { task } = await createOnce(
    ctx,
    id,
    {
      name: (branch.name ?? `${parent.name} (branch)`).slice(0, 200),
      plan: "",
      contractId: parent.contractId,
      status: "completed",
      forkedFromTaskId: parent.id,
      forkedAtMessageId: after ?? undefined,
      inheritedSegments: position ? segments.clipSegments(closed, position) : [],
    },
    { format: t.format, sourceId: `${t.sourceId}#${branch.id}`, metadata: { branchOf: t.sourceId } },
  );
  return task;
}

/** Messages appended a page at a time, each page with its history event dated by its messages; how many were new. */
async function appendPages(ctx: ServiceContext, task: TaskRecord, t: Transcript, all: TranscriptMessage[]): Promise<number> {
  const seen = new Set<string>();
  const messages = all.filter((m) => !seen.has(m.id) && seen.add(m.id));
  const phase = await phaseOf(ctx, task);
  let current = task;
  let appended = 0;
  for (const page of pagesOf(messages)) {
    const out = await conversationAppend.appendMessages(ctx.db, current, page);
    appended += out.appended;
    if (out.appended === 0) continue;
    await recordPageEvent(ctx, current, phase, t, page);
    current = (await tasks.getTaskRecord(ctx.db, task.ownerId, task.id)) ?? current;
  }
  return appended;
}

/** A page's `chat`/`imported` event, at its first message's time; its id is fixed by the page, so a page written again (after a failure) overwrites it. */
async function recordPageEvent(ctx: ServiceContext, task: TaskRecord, phase: Awaited<ReturnType<typeof phaseOf>>, t: Transcript, page: TranscriptMessage[]): Promise<void> {
  const at = firstTime(page);
  const event = HistoryEvent.parse({
    id: derivedId(`${task.id}\nimported:${page[0]!.id}`, at),
    ownerId: task.ownerId,
    contractId: task.contractId,
    taskId: task.id,
    eventType: "chat",
    eventSubtype: "imported",
    phase,
    eventData: { count: page.length, firstMessageId: page[0]!.id, lastMessageId: page.at(-1)!.id, roles: [...new Set(page.map((m) => m.role))], format: t.format, sourceId: t.sourceId },
    createdAt: at.toISOString(),
  });
  await ctx.db.table.batchWrite(history.historyEventItems(event).map((put) => ({ put })));
}
