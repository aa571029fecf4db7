import parseDiff from "parse-diff";
import type { FileDiffInfo, GitDiffInfo } from "../../core/protocol.js";
import { WorktreeError } from "./errors.js";
import { git } from "./git.js";

/**
 * The diff between two commits (or a commit and the empty tree) as
 * `GitDiffInfo`. File list, actions, paths and counts come from git's
 * machine-readable `--raw --numstat -z` output (exact paths, binary
 * detection); `parse-diff` only supplies each file's hunks from the patch.
 */

// Options that keep the user's git config (colors, external diff drivers,
// textconv, prefixes, diff.relative) from changing what we parse.
const BASE = [
  "diff",
  "--no-color",
  "--no-ext-diff",
  "--no-textconv",
  "--find-renames",
  "--no-relative",
  "--src-prefix=a/",
  "--dst-prefix=b/",
];

interface RawEntry {
  oldMode: string;
  newMode: string;
  status: string;
  path: string;
  oldPath?: string;
}

interface NumEntry {
  additions: number;
  deletions: number;
  binary: boolean;
}

const S_IFMT = 0o170000;

/** git prints a change between file kinds (file ↔ symlink ↔ submodule) as a deletion plus a creation. */
function patchSections(entry: RawEntry): number {
  if (entry.oldMode === "000000" || entry.newMode === "000000") return 1;
  return (parseInt(entry.oldMode, 8) & S_IFMT) !== (parseInt(entry.newMode, 8) & S_IFMT) ? 2 : 1;
}

function parseMeta(out: string): { raw: RawEntry[]; nums: NumEntry[] } {
  const tokens = out.split("\0");
  const raw: RawEntry[] = [];
  const nums: NumEntry[] = [];
  const next = (): string => {
    const t = tokens.shift();
    if (t === undefined) throw new WorktreeError("diff_parse", "Truncated git diff --raw --numstat output");
    return t;
  };
  while (tokens.length > 0 && tokens[0] !== "") {
    const head = next();
    if (head.startsWith(":")) {
      // ":<old mode> <new mode> <old sha> <new sha> <status>" then the path(s)
      const [oldMode = "", newMode = "", , , status = ""] = head.slice(1).split(" ");
      const twoPaths = status.startsWith("R") || status.startsWith("C");
      const first = next();
      raw.push(twoPaths ? { oldMode, newMode, status, oldPath: first, path: next() } : { oldMode, newMode, status, path: first });
    } else {
      // "<added>\t<deleted>\t<path>", or "<added>\t<deleted>\t" then both paths of a rename
      const t1 = head.indexOf("\t");
      const t2 = head.indexOf("\t", t1 + 1);
      if (t1 < 0 || t2 < 0) throw new WorktreeError("diff_parse", `Unexpected git numstat record ${JSON.stringify(head)}`);
      const added = head.slice(0, t1);
      const deleted = head.slice(t1 + 1, t2);
      if (head.slice(t2 + 1) === "") {
        next();
        next();
      }
      const binary = added === "-" && deleted === "-";
      nums.push({ additions: binary ? 0 : Number(added), deletions: binary ? 0 : Number(deleted), binary });
    }
  }
  if (raw.length !== nums.length) {
    throw new WorktreeError("diff_parse", `git listed ${raw.length} changed files but counted ${nums.length}`);
  }
  return { raw, nums };
}

/** The patch cut at each `diff --git` header (hunk lines never start with "d"). */
function splitPatch(patch: string): string[] {
  const out: string[] = [];
  let buf: string[] | undefined;
  for (const line of patch.split("\n")) {
    if (line.startsWith("diff --git ")) {
      if (buf) out.push(buf.join("\n"));
      buf = [line];
    } else buf?.push(line);
  }
  if (buf) out.push(buf.join("\n"));
  return out;
}

const ACTIONS: Record<string, FileDiffInfo["action"]> = {
  A: "added",
  M: "modified",
  T: "modified",
  D: "deleted",
  R: "renamed",
  C: "added", // a copy is a new file; oldPath names its source
};

export async function diffCommits(cwd: string, from: string, to: string): Promise<GitDiffInfo> {
  const [meta, patch] = await Promise.all([
    git([...BASE, "--raw", "--numstat", "-z", from, to], { cwd }),
    git([...BASE, "--patch", from, to], { cwd }),
  ]);
  const { raw, nums } = parseMeta(meta.stdout);
  const sections = splitPatch(patch.stdout);
  const expected = raw.reduce((n, e) => n + patchSections(e), 0);
  if (sections.length !== expected) {
    throw new WorktreeError("diff_parse", `git diff printed ${sections.length} file patches, expected ${expected}`);
  }

  const files: FileDiffInfo[] = [];
  let s = 0;
  raw.forEach((entry, i) => {
    const num = nums[i]!;
    const own = sections.slice(s, s + patchSections(entry));
    s += own.length;
    const action = ACTIONS[entry.status.charAt(0)];
    if (!action) throw new WorktreeError("diff_parse", `Unexpected git diff status ${entry.status} for ${entry.path}`);
    const file: FileDiffInfo = {
      path: entry.path,
      action,
      additions: num.additions,
      deletions: num.deletions,
    };
    if (entry.oldPath !== undefined) file.oldPath = entry.oldPath;
    if (num.binary) file.binary = true;
    else {
      file.hunks = own.flatMap((text) =>
        parseDiff(text).flatMap((f) =>
          f.chunks.map((c) => ({ header: c.content, lines: c.changes.map((ch) => ch.content) })),
        ),
      );
    }
    files.push(file);
  });

  return {
    files,
    stats: {
      filesChanged: files.length,
      insertions: files.reduce((n, f) => n + f.additions, 0),
      deletions: files.reduce((n, f) => n + f.deletions, 0),
    },
  };
}
