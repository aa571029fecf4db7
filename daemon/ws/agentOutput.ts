import { open, type FileHandle } from "node:fs/promises";
import { readJournal, underJournalLock, type JournalEntry } from "../worktree/commitHook.js";

/** What the agent did, in the order it did it: a line it printed, or a ref transaction of its git. */
export type AgentEvent = { line: string } | { commit: JournalEntry };

/**
 * Reads an agent's stdout file and its commit journal together and puts
 * them in one order: a commit comes after exactly the lines that had been
 * written, newline included, when its hook measured the stdout file. The
 * journal and the stdout file's size are read under the hook's lock, and
 * only that much of the file is read: a commit not read yet was measured
 * after all of it.
 */
export class AgentOutput {
  private stdout?: FileHandle;
  private stdoutOffset = 0;
  private journalOffset = 0;
  /** The start of a line not yet ended by a newline. */
  private partial: Buffer = Buffer.alloc(0);

  constructor(
    private readonly stdoutFile: string,
    private readonly journalFile: string,
  ) {}

  /** Everything that happened since the last call, in order. */
  async next(): Promise<AgentEvent[]> {
    this.stdout ??= await open(this.stdoutFile, "r");
    const stdout = this.stdout;
    const [{ entries, next }, size] = await underJournalLock(this.journalFile, async () => [
      await readJournal(this.journalFile, this.journalOffset),
      (await stdout.stat()).size,
    ] as const);
    this.journalOffset = next;
    const events: AgentEvent[] = [];
    let commit = 0;
    const base = this.stdoutOffset - this.partial.length;
    const data = Buffer.concat([this.partial, await this.readStdout(size)]);
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
      const lineEnd = base + nl + 1;
      while (commit < entries.length && entries[commit]!.stdoutBytes < lineEnd) events.push({ commit: entries[commit++]! });
      events.push({ line: data.subarray(start, nl).toString("utf8") });
      start = nl + 1;
    }
    this.partial = data.subarray(start);
    while (commit < entries.length) events.push({ commit: entries[commit++]! });
    return events;
  }

  /** After the agent exited: a last line it left without a newline. */
  takeUnfinishedLine(): string | undefined {
    const line = this.partial.length > 0 ? this.partial.toString("utf8") : undefined;
    this.partial = Buffer.alloc(0);
    return line;
  }

  async close(): Promise<void> {
    await this.stdout?.close().catch(() => undefined);
    this.stdout = undefined;
  }

  /** The stdout file from where the last read stopped up to `size`. */
  private async readStdout(size: number): Promise<Buffer> {
    const buffer = Buffer.alloc(Math.max(0, size - this.stdoutOffset));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await this.stdout!.read(buffer, filled, buffer.length - filled, this.stdoutOffset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.stdoutOffset += filled;
    return buffer.subarray(0, filled);
  }
}
