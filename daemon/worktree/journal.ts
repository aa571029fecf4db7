import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PreservedState } from "../../core/protocol.js";
import { assertMakimaRef, assertSha, assertTaskId } from "./validate.js";

/**
 * The rewind journal: one file per rewind under way, so that a daemon killed
 * mid-rewind completes or rolls it back when it starts again.
 */

/**
 * The steps of a rewind, as its journal records them: the safety ref is
 * saved, the work preserved (branch or stash), the worktree reset, done. A
 * rewind found at `saved` or `preserved` is completed; one `rolling_back`
 * (a failure after the safety ref) is put back from its safety ref.
 */
export type RewindStep = "saved" | "preserved" | "done" | "rolling_back";

export interface RewindJournal {
  requestId: string;
  taskId: string;
  target: string;
  safetyRef: string;
  step: RewindStep;
  preservedAs?: PreservedState;
  message?: string;
  error?: string;
}

/** What a rewind found in the journal came to, for the daemon to report under its request id. */
export interface RecoveredRewind {
  journal: RewindJournal;
  outcome: { success: true; message: string; safetyRef: string; preservedAs?: PreservedState } | { success: false; error: string };
}

/** A directory of rewind journal entries; without a directory, nothing is journaled. */
export class RewindJournalDir {
  constructor(
    private readonly journalDir: string | undefined,
    private readonly onRewindStep?: (taskId: string, step: RewindStep) => void | Promise<void>,
  ) {}

  /** Writes a rewind's journal entry (replacing the previous one in one rename), then tells `onRewindStep`. */
  async record(journal: RewindJournal | undefined): Promise<void> {
    if (!journal || !this.journalDir) return;
    await mkdir(this.journalDir, { recursive: true });
    const file = this.journalFile(journal);
    await writeFile(`${file}.tmp`, JSON.stringify(journal), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    await this.onRewindStep?.(journal.taskId, journal.step);
  }

  private journalFile(journal: Pick<RewindJournal, "taskId" | "requestId">): string {
    return path.join(this.journalDir!, `rewind-${journal.taskId}-${journal.requestId}.json`);
  }

  /** The rewind has been reported: its journal entry goes. */
  async forget(journal: Pick<RewindJournal, "taskId" | "requestId"> | undefined): Promise<void> {
    if (!journal || !this.journalDir) return;
    await rm(this.journalFile(journal), { force: true });
  }

  /** The entries a previous run left, one at a time; unreadable or invalid ones are skipped. */
  async *entries(): AsyncGenerator<RewindJournal> {
    if (!this.journalDir) return;
    const names = await readdir(this.journalDir).catch(() => [] as string[]);
    for (const name of names.filter((n) => /^rewind-.*\.json$/.test(n))) {
      let journal: RewindJournal;
      try {
        journal = JSON.parse(await readFile(path.join(this.journalDir, name), "utf8")) as RewindJournal;
        assertTaskId(journal.taskId);
        assertSha(journal.target, "rewind target");
        assertMakimaRef(journal.safetyRef, "safety", journal.taskId);
      } catch {
        continue;
      }
      yield journal;
    }
  }
}
