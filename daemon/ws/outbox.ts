import { appendFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { STREAM_REFUSALS, type DaemonMessage, type RefusedMessage, type ReportAck } from "../../core/protocol.js";
import { newId } from "../../core/ids.js";
import { assertTaskId } from "../worktree/validate.js";

/**
 * The daemon's reports about its tasks (messages, checkpoints, status), kept
 * on disk until the server acknowledges them. Each task's reports are
 * numbered 1, 2, 3, … under a stream id of its own, in the order they
 * happened; the server applies report n only after n − 1 and at most once,
 * so the outbox can send several at a time and send any of them again —
 * after a reconnect, a restart, a lost acknowledgement or an `early` answer —
 * without anything being stored twice or out of order.
 *
 * One file per task, `<dir>/<taskId>.jsonl`: a `{"stream"}` line, then
 * `{"seq", "report"}` lines and `{"acked"}` lines. Rewritten short once
 * everything in it is acknowledged.
 */

export type Report = Extract<DaemonMessage, { type: "taskMessages" | "checkpointCreated" | "taskStatus" }>;
type Unnumbered = Report extends infer R ? (R extends Report ? Omit<R, "report"> : never) : never;

export interface OutboxOptions {
  dir: string;
  /** Writes a message to the server (resolves once written, not acknowledged). */
  send: (message: DaemonMessage) => Promise<void>;
  /** Whether a connection is open now (reports wait for one). */
  connected: () => boolean;
  log: (line: string) => void;
  /** Turns a report into what goes on the wire (large messages uploaded first); once per report and run. */
  prepare?: (report: Report) => Promise<Report>;
  /**
   * Reports of one task on the wire without an answer; default 2: one being
   * applied, the next one waiting right behind it (the server applies a
   * task's reports one at a time; more in flight only wait longer).
   */
  window?: number;
  /** An unanswered report is sent again after this long; default 5 s. */
  resendMs?: number;
  /** The time new stream ids are made at: the daemon's clock, held back to the server's (welcome). Default: the daemon's clock. */
  clock?: () => Date;
  /** Messages of an applied report that the server did not store, and why. */
  onRefused?: (taskId: string, seq: number, refused: RefusedMessage[]) => void;
}

/** Refusals of a whole stream: its reports go again, renumbered under a new one. */
const RESTREAM_CODES = new Set<string>(STREAM_REFUSALS);

interface Entry {
  seq: number;
  report: Report;
  sentAt?: number;
  wire?: Promise<Report>;
}

interface TaskOutbox {
  taskId: string;
  file: string;
  stream: string;
  nextSeq: number;
  acked: number;
  entries: Entry[];
  lines: number;
  /** Disk writes of this task, in order. */
  writing: Promise<void>;
}

export class Outbox {
  private readonly tasks = new Map<string, TaskOutbox>();
  private readonly idleWaiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OutboxOptions) {}

  /** Reads what a previous run left unacknowledged; call once before the first connection. */
  async load(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    for (const name of await readdir(this.options.dir)) {
      const match = /^([0-9a-f-]{36})\.jsonl$/.exec(name);
      if (!match) continue;
      const box = this.emptyBox(match[1]!, "");
      const text = await readFile(box.file, "utf8");
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        let json: { stream?: string; seq?: number; report?: Report; acked?: number };
        try {
          json = JSON.parse(line) as typeof json;
        } catch {
          continue; // a line cut short by a crash while it was written
        }
        box.lines++;
        if (typeof json.stream === "string") box.stream = json.stream;
        if (typeof json.acked === "number") box.acked = Math.max(box.acked, json.acked);
        if (typeof json.seq === "number" && json.report) {
          box.entries.push({ seq: json.seq, report: json.report });
          box.nextSeq = Math.max(box.nextSeq, json.seq + 1);
        }
      }
      if (!box.stream) continue;
      box.nextSeq = Math.max(box.nextSeq, box.acked + 1);
      box.entries = box.entries.filter((e) => e.seq > box.acked);
      this.tasks.set(box.taskId, box);
      if (box.entries.length) this.options.log(`outbox: task ${box.taskId}: ${box.entries.length} reports from before to send`);
    }
  }

  /** Numbers a report, writes it to disk, and sends it when it can; resolves once it is on disk. */
  async add(report: Unnumbered): Promise<void> {
    const box = this.box(report.taskId);
    const seq = box.nextSeq++;
    const numbered = { ...report, report: { stream: box.stream, seq } } as Report;
    box.entries.push({ seq, report: numbered });
    await this.write(box, [{ seq, report: numbered }]);
    this.pump(box);
  }

  /** The server's answer to a report. */
  onAck(ack: ReportAck): void {
    const box = this.tasks.get(ack.taskId);
    if (!box || box.stream !== ack.stream) return;
    switch (ack.status) {
      case "applied":
      case "duplicate":
        if (ack.refused?.length) this.options.onRefused?.(box.taskId, ack.seq, ack.refused);
        this.acknowledge(box, ack.applied);
        break;
      case "rejected":
        if (RESTREAM_CODES.has(ack.error?.code ?? "")) {
          this.restream(box, ack.error!.code);
          break;
        }
        this.options.log(`outbox: task ${box.taskId}: report ${ack.seq} refused: ${ack.error?.message ?? ack.error?.code ?? "?"}`);
        this.acknowledge(box, Math.max(ack.applied, ack.seq === box.acked + 1 ? ack.seq : 0));
        box.entries = box.entries.filter((e) => e.seq !== ack.seq);
        break;
      case "superseded":
        this.options.log(`outbox: task ${box.taskId}: the server takes reports from another stream now; ${box.entries.length} dropped`);
        box.entries = [];
        this.acknowledge(box, box.nextSeq - 1);
        break;
      case "early": {
        // The server gave up waiting for what comes before it: this one goes again, and so does the
        // first unapplied one if it has been out a while (it was lost); those in between are still held.
        this.acknowledge(box, ack.applied);
        const self = box.entries.find((e) => e.seq === ack.seq);
        if (self) self.sentAt = undefined;
        const first = box.entries[0];
        if (first?.sentAt !== undefined && Date.now() - first.sentAt > 1000) first.sentAt = undefined;
        break;
      }
    }
    this.pump(box);
  }

  /** A connection opened: whatever was sent on an earlier one may be lost, so it all goes again, in order. */
  onConnected(): void {
    for (const box of this.tasks.values()) {
      for (const e of box.entries) e.sentAt = undefined;
      this.pump(box);
    }
  }

  /** Reports not yet acknowledged. */
  get pending(): number {
    let n = 0;
    for (const box of this.tasks.values()) n += box.entries.length;
    return n;
  }

  /** Resolves when every report is acknowledged (or at once if none waits). */
  whenEmpty(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once everything added so far is on disk. */
  async persisted(): Promise<void> {
    await Promise.all([...this.tasks.values()].map((b) => b.writing));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  // ------------------------------------------------------------ internals

  private newStream(): string {
    return newId(this.options.clock?.());
  }

  /**
   * The server refused the task's stream (its id from a clock ahead of the
   * server's, or not a UUIDv7): nothing of it was applied, so every report
   * still held goes again, in the same order, numbered from 1 under a new
   * stream. The file is rewritten whole before anything is sent.
   */
  private restream(box: TaskOutbox, why: string): void {
    const stream = this.newStream();
    this.options.log(`outbox: task ${box.taskId}: the server refused stream ${box.stream} (${why}); ${box.entries.length} reports go again under ${stream}`);
    box.stream = stream;
    box.acked = 0;
    box.entries = box.entries.map((e, i) => ({ seq: i + 1, report: { ...e.report, report: { stream, seq: i + 1 } } as Report }));
    box.nextSeq = box.entries.length + 1;
    const lines = [{ stream }, ...box.entries.map((e) => ({ seq: e.seq, report: e.report }))];
    box.lines = lines.length;
    const tmp = `${box.file}.tmp`;
    box.writing = box.writing
      .then(() => writeFile(tmp, lines.map((l) => `${JSON.stringify(l)}\n`).join("")))
      .then(() => rename(tmp, box.file))
      .catch((error) => this.options.log(`outbox: task ${box.taskId}: not rewritten: ${(error as Error).message}`));
    void box.writing.then(() => this.pump(box));
  }

  private emptyBox(taskId: string, stream: string): TaskOutbox {
    assertTaskId(taskId);
    return { taskId, file: path.join(this.options.dir, `${taskId}.jsonl`), stream, nextSeq: 1, acked: 0, entries: [], lines: 0, writing: Promise.resolve() };
  }

  private box(taskId: string): TaskOutbox {
    let box = this.tasks.get(taskId);
    if (!box) {
      box = this.emptyBox(taskId, this.newStream());
      this.tasks.set(taskId, box);
      void this.write(box, [{ stream: box.stream }]);
    }
    return box;
  }

  private write(box: TaskOutbox, lines: unknown[]): Promise<void> {
    const text = lines.map((l) => `${JSON.stringify(l)}\n`).join("");
    box.lines += lines.length;
    box.writing = box.writing
      .then(() => mkdir(this.options.dir, { recursive: true }))
      .then(() => appendFile(box.file, text))
      .catch((error) => this.options.log(`outbox: task ${box.taskId}: not written to disk: ${(error as Error).message}`));
    return box.writing;
  }

  private acknowledge(box: TaskOutbox, through: number): void {
    if (through <= box.acked) return;
    box.acked = through;
    box.entries = box.entries.filter((e) => e.seq > through);
    if (box.entries.length === 0 && box.lines > 200) {
      // Everything is acknowledged: the file shrinks to where the numbering stands.
      box.lines = 2;
      const text = `${JSON.stringify({ stream: box.stream })}\n${JSON.stringify({ acked: box.acked })}\n`;
      const tmp = `${box.file}.tmp`;
      box.writing = box.writing
        .then(() => writeFile(tmp, text))
        .then(() => rename(tmp, box.file))
        .catch((error) => this.options.log(`outbox: task ${box.taskId}: not compacted: ${(error as Error).message}`));
    } else {
      void this.write(box, [{ acked: through }]);
    }
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Sends the task's next reports, in order, while the window has room. */
  private pump(box: TaskOutbox): void {
    this.timer ??= setInterval(() => this.resendStale(), Math.max(100, (this.options.resendMs ?? 5000) / 4));
    this.timer.unref();
    if (!this.options.connected()) return;
    const window = this.options.window ?? 2;
    let inFlight = box.entries.filter((e) => e.sentAt !== undefined).length;
    for (const entry of box.entries) {
      if (inFlight >= window) break;
      if (entry.sentAt !== undefined) continue;
      entry.sentAt = Date.now();
      inFlight++;
      // A send that fails leaves the report for the next connection (onConnected) or the resend timer.
      const prepare = this.options.prepare;
      entry.wire ??= prepare ? prepare(entry.report) : Promise.resolve(entry.report);
      entry.wire
        .catch((error) => {
          entry.wire = undefined;
          this.options.log(`outbox: task ${box.taskId}: report ${entry.seq} not ready: ${(error as Error).message}`);
          throw error;
        })
        .then((wire) => this.options.send(wire))
        .catch(() => (entry.sentAt = undefined));
    }
  }

  /** Reports without an answer for resendMs go again (a lost frame or acknowledgement). */
  private resendStale(): void {
    const limit = Date.now() - (this.options.resendMs ?? 5000);
    for (const box of this.tasks.values()) {
      const oldest = box.entries[0];
      if (oldest?.sentAt !== undefined && oldest.sentAt < limit) {
        for (const e of box.entries) e.sentAt = undefined;
        this.pump(box);
      } else if (oldest && oldest.sentAt === undefined) {
        this.pump(box);
      }
    }
  }
}
