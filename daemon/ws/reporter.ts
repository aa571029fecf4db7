import type { DaemonMessage } from "../../core/protocol.js";

type TaskMessage = Extract<DaemonMessage, { type: "taskMessages" }>["messages"][number];

/**
 * What the daemon reports about a task (messages, checkpoints, status) goes
 * out in the order it happened, one report at a time per task with a gap:
 * API Gateway runs each WebSocket message as its own invocation, with no
 * ordering between them, so spacing them keeps a checkpoint after the
 * messages that led to it (its snapshot counts them) and the final status
 * last. Appending a batch is the slowest report to handle, so the gap after
 * one is longer. Messages are batched (≤ 100 a batch, well under the 128 KB
 * message limit).
 */

const MAX_BATCH = 100;
const MAX_BATCH_BYTES = 90 * 1024;

export interface ReporterOptions {
  send: (message: DaemonMessage) => Promise<void>;
  log: (line: string) => void;
  /** Pause after each report of a task; default 100 ms. */
  gapMs?: number;
  /** Pause after a batch of messages; default 400 ms. */
  afterMessagesMs?: number;
  /** How long messages wait for company before going out; default 100 ms. */
  flushMs?: number;
}

interface TaskOutbox {
  buffer: TaskMessage[];
  bytes: number;
  timer?: NodeJS.Timeout;
  chain: Promise<void>;
}

export class Reporter {
  private readonly tasks = new Map<string, TaskOutbox>();

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

  /** Queues a report after every message queued before it. */
  report(taskId: string, message: DaemonMessage): Promise<void> {
    const box = this.box(taskId);
    this.flushBuffer(taskId, box);
    return this.enqueue(box, message);
  }

  /** Resolves once everything queued for the task so far is written. */
  async flush(taskId: string): Promise<void> {
    const box = this.tasks.get(taskId);
    if (!box) return;
    this.flushBuffer(taskId, box);
    await box.chain;
  }

  async drain(): Promise<void> {
    await Promise.all([...this.tasks.keys()].map((id) => this.flush(id)));
  }

  private box(taskId: string): TaskOutbox {
    let box = this.tasks.get(taskId);
    if (!box) {
      box = { buffer: [], bytes: 0, chain: Promise.resolve() };
      this.tasks.set(taskId, box);
    }
    return box;
  }

  private flushBuffer(taskId: string, box: TaskOutbox): void {
    clearTimeout(box.timer);
    box.timer = undefined;
    if (box.buffer.length === 0) return;
    const messages = box.buffer.splice(0);
    box.bytes = 0;
    void this.enqueue(box, { type: "taskMessages", taskId, messages });
  }

  private enqueue(box: TaskOutbox, message: DaemonMessage): Promise<void> {
    const gap = message.type === "taskMessages" ? (this.options.afterMessagesMs ?? 400) : (this.options.gapMs ?? 100);
    const sent = box.chain.then(() => this.options.send(message));
    box.chain = sent
      .catch((error) => this.options.log(`report ${message.type} not sent: ${(error as Error).message}`))
      .then(() => new Promise<void>((r) => setTimeout(r, gap)));
    return sent.catch(() => undefined);
  }
}
