import type { DaemonMessage } from "../../core/protocol.js";
import type { Outbox } from "./outbox.js";

type TaskMessage = Extract<DaemonMessage, { type: "taskMessages" }>["messages"][number];
type Report = Extract<DaemonMessage, { type: "checkpointCreated" | "taskStatus" }>;

/**
 * What the daemon reports about a task (messages, checkpoints, status), in
 * the order it happened: messages are batched (≤ 90 a batch, one server
 * transaction; well under the 128 KB message limit), a commit's report
 * carries the messages printed before it when they fit, and every report goes
 * into the outbox, which numbers, keeps and delivers it (see outbox.ts).
 * The order on the server comes from those numbers, not from timing.
 */

const MAX_BATCH = 90;
const MAX_BATCH_BYTES = 90 * 1024;

export interface ReporterOptions {
  outbox: Outbox;
  log: (line: string) => void;
  /** How long messages wait for company before going out; default 100 ms. */
  flushMs?: number;
}

interface TaskBuffer {
  buffer: TaskMessage[];
  bytes: number;
  timer?: NodeJS.Timeout;
  /** Reports of this task reach the outbox in order. */
  chain: Promise<void>;
}

export class Reporter {
  private readonly tasks = new Map<string, TaskBuffer>();

  constructor(private readonly options: ReporterOptions) {}

  /** Queues one of the agent's messages (it must carry its id). */
  message(taskId: string, message: TaskMessage): void {
    const box = this.box(taskId);
    const size = Buffer.byteLength(JSON.stringify(message));
    if (box.buffer.length >= MAX_BATCH || box.bytes + size > MAX_BATCH_BYTES) this.flushBuffer(taskId, box);
    box.buffer.push(message);
    box.bytes += size;
    box.timer ??= setTimeout(() => this.flushBuffer(taskId, box), this.options.flushMs ?? 100);
  }

  /**
   * Queues a report after every message queued before it; resolves once it
   * is in the outbox on disk. A checkpoint takes the messages waiting before
   * it along when they fit one report: one report to apply, not two.
   */
  report(taskId: string, message: Report): Promise<void> {
    const box = this.box(taskId);
    if (message.type === "checkpointCreated" && box.buffer.length > 0 && box.bytes + Buffer.byteLength(JSON.stringify(message)) <= MAX_BATCH_BYTES) {
      return this.enqueue(box, { ...message, messages: this.take(box) });
    }
    this.flushBuffer(taskId, box);
    return this.enqueue(box, message);
  }

  /** Resolves once everything queued for the task so far is in the outbox on disk. */
  async flush(taskId: string): Promise<void> {
    const box = this.tasks.get(taskId);
    if (!box) return;
    this.flushBuffer(taskId, box);
    await box.chain;
  }

  async drain(): Promise<void> {
    await Promise.all([...this.tasks.keys()].map((id) => this.flush(id)));
  }

  private box(taskId: string): TaskBuffer {
    let box = this.tasks.get(taskId);
    if (!box) {
      box = { buffer: [], bytes: 0, chain: Promise.resolve() };
      this.tasks.set(taskId, box);
    }
    return box;
  }

  private flushBuffer(taskId: string, box: TaskBuffer): void {
    if (box.buffer.length === 0) return;
    void this.enqueue(box, { type: "taskMessages", taskId, messages: this.take(box) });
  }

  /** The messages waiting, which leave the buffer. */
  private take(box: TaskBuffer): TaskMessage[] {
    clearTimeout(box.timer);
    box.timer = undefined;
    const messages = box.buffer.splice(0);
    box.bytes = 0;
    return messages;
  }

  private enqueue(box: TaskBuffer, message: Report | Extract<DaemonMessage, { type: "taskMessages" }>): Promise<void> {
    const { report: _r, ...unnumbered } = message;
    box.chain = box.chain
      .then(() => this.options.outbox.add(unnumbered))
      .catch((error) => this.options.log(`report ${message.type} not queued: ${(error as Error).message}`));
    return box.chain;
  }
}
