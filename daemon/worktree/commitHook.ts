import { mkdir, open, rmdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { git } from "./git.js";

/**
 * The ordering point between an agent's output and its commits. The agent's
 * git runs with `core.hooksPath` set (through `GIT_CONFIG_*` in the agent's
 * environment) to hooks the daemon owns. Its `reference-transaction` hook,
 * when a transaction is committed, appends one line to the task's commit
 * journal: HEAD, the size of the agent's stdout file at that moment, and the
 * worktree. The agent writes its stdout into that file, so the size is
 * exactly what the agent had printed when its git moved a ref: commits,
 * amends, merges, cherry-picks and rebases alike, with no cooperation from
 * the agent. Every hook chains the repository's own hook of the same name.
 *
 * The hook measures and writes under a lock (a folder beside the journal:
 * mkdir is atomic everywhere), and the daemon reads the journal and the
 * stdout file's size under the same lock, so a commit the daemon has not
 * read yet was measured after every byte it has read.
 */

/** The hooks git runs that a repository may have its own of; each is chained. */
const CHAINED_HOOKS = [
  "applypatch-msg",
  "pre-applypatch",
  "post-applypatch",
  "pre-commit",
  "pre-merge-commit",
  "prepare-commit-msg",
  "commit-msg",
  "post-commit",
  "pre-rebase",
  "post-checkout",
  "post-merge",
  "pre-push",
  "post-rewrite",
  "pre-auto-gc",
  "post-index-change",
];

const CHAIN = `own="$MAKIMA_REPO_HOOKS/$(basename "$0")"`;

const chainedHook = `#!/bin/sh
${CHAIN}
if [ -n "$MAKIMA_REPO_HOOKS" ] && [ -x "$own" ]; then exec "$own" "$@"; fi
exit 0
`;

const referenceTransaction = `#!/bin/sh
${CHAIN}
input=$(cat)
if [ "$1" = committed ] && [ -n "$MAKIMA_COMMIT_JOURNAL" ]; then
  head=$(git rev-parse --quiet --verify 'HEAD^{commit}' 2>/dev/null)
  here=$(pwd -P)
  lock="$MAKIMA_COMMIT_JOURNAL.lock"
  tries=0
  while ! mkdir "$lock" 2>/dev/null && [ $tries -lt 500 ]; do tries=$((tries + 1)); sleep 0.01; done
  size=$(wc -c < "$MAKIMA_AGENT_STDOUT" 2>/dev/null || echo 0)
  if [ -n "$head" ]; then printf '%s %s %s\\n' "$head" $size "$here" >> "$MAKIMA_COMMIT_JOURNAL"; fi
  rmdir "$lock" 2>/dev/null
fi
if [ -n "$MAKIMA_REPO_HOOKS" ] && [ -x "$own" ]; then printf '%s\\n' "$input" | "$own" "$@"; exit $?; fi
exit 0
`;

/** Writes the daemon's hooks under `dir` (idempotent) and returns the hooks folder. */
export async function installCommitHooks(dir: string): Promise<string> {
  const hooks = path.join(dir, "hooks");
  await mkdir(hooks, { recursive: true });
  await Promise.all([
    writeFile(path.join(hooks, "reference-transaction"), referenceTransaction, { mode: 0o755 }),
    ...CHAINED_HOOKS.map((name) => writeFile(path.join(hooks, name), chainedHook, { mode: 0o755 })),
  ]);
  return hooks;
}

export interface CommitHookFiles {
  /** The daemon's hooks folder (installCommitHooks). */
  hooksDir: string;
  /** Where the agent's stdout goes. */
  stdoutFile: string;
  /** Where the hook records each ref transaction. */
  journalFile: string;
  /** The worktree whose repository's own hooks are chained. */
  cwd: string;
}

/**
 * The variables that give the agent's git the daemon's hooks: appended to
 * any `GIT_CONFIG_*` entries the environment already holds.
 */
export async function commitHookEnv(env: NodeJS.ProcessEnv, files: CommitHookFiles): Promise<NodeJS.ProcessEnv> {
  const own = await git(["rev-parse", "--git-path", "hooks"], { cwd: files.cwd, okExitCodes: [0, 128] });
  const count = Number.parseInt(env.GIT_CONFIG_COUNT ?? "0", 10);
  const n = Number.isSafeInteger(count) && count >= 0 ? count : 0;
  return {
    ...env,
    GIT_CONFIG_COUNT: String(n + 1),
    [`GIT_CONFIG_KEY_${n}`]: "core.hooksPath",
    [`GIT_CONFIG_VALUE_${n}`]: files.hooksDir,
    MAKIMA_REPO_HOOKS: own.exitCode === 0 ? path.resolve(files.cwd, own.stdout.trim()) : "",
    MAKIMA_AGENT_STDOUT: files.stdoutFile,
    MAKIMA_COMMIT_JOURNAL: files.journalFile,
  };
}

/** One ref transaction the agent's git committed: HEAD then, and how much the agent had printed. */
export interface JournalEntry {
  head: string;
  stdoutBytes: number;
  toplevel: string;
}

const ENTRY = /^([0-9a-f]{40,64}) (\d+) (.+)$/;

/** Reads the journal's complete lines from byte `from`; returns them and where the next read starts. */
export async function readJournal(file: string, from: number): Promise<{ entries: JournalEntry[]; next: number }> {
  let bytes: Buffer;
  try {
    const handle = await open(file, "r");
    try {
      const size = (await handle.stat()).size;
      bytes = Buffer.alloc(Math.max(0, size - from));
      if (bytes.length > 0) await handle.read(bytes, 0, bytes.length, from);
    } finally {
      await handle.close();
    }
  } catch {
    return { entries: [], next: from };
  }
  const end = bytes.lastIndexOf(0x0a) + 1;
  const entries: JournalEntry[] = [];
  for (const line of bytes.subarray(0, end).toString("utf8").split("\n")) {
    const m = ENTRY.exec(line);
    if (m) entries.push({ head: m[1]!, stdoutBytes: Number(m[2]), toplevel: m[3]! });
  }
  return { entries, next: from + end };
}

/** A hook that died holding the lock frees it after this long. */
const STALE_LOCK_MS = 10_000;

/** Runs `read` holding the journal's lock (see above). */
export async function underJournalLock<T>(journalFile: string, read: () => Promise<T>): Promise<T> {
  const lock = `${journalFile}.lock`;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (held > STALE_LOCK_MS) await rmdir(lock).catch(() => undefined);
      else await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  try {
    return await read();
  } finally {
    await rmdir(lock).catch(() => undefined);
  }
}
