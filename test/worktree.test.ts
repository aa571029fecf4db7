import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { captureState, commitAll, g, initRepo, listFiles, removeTempDirs, tempDir, write } from "./support/git.js";
import {
  AgentRunningError,
  BranchExistsError,
  ForeignChangesError,
  GitError,
  NotACommitError,
  UnknownTaskError,
  ValidationError,
  WorktreeExistsError,
} from "../daemon/worktree/errors.js";
import { git } from "../daemon/worktree/git.js";
import { WorktreeManager } from "../daemon/worktree/manager.js";
import { assertBranchName, assertSha, resolveInside } from "../daemon/worktree/validate.js";

afterAll(() => removeTempDirs());

let root: string;
let manager: WorktreeManager;
let running: Set<string>;

beforeEach(() => {
  root = path.join(tempDir(), "worktrees");
  running = new Set();
  manager = new WorktreeManager({ root, isAgentRunning: (id) => running.has(id) });
});

/** A task whose repository sits at <root>/<taskId> (found without registering). */
function newTaskRepo(): { taskId: string; dir: string } {
  const taskId = randomUUID();
  return { taskId, dir: initRepo(path.join(root, taskId)) };
}

// ------------------------------------------------------------------- diffs

describe("getDiff", () => {
  const binA = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
  const binB = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256));
  const twentyLines = Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`).join("");

  function checkpointRepo() {
    const { taskId, dir } = newTaskRepo();
    write(dir, "keep.txt", "keep\n");
    write(dir, "modify.txt", "one\ntwo\nthree\n");
    write(dir, "delete.txt", "gone 1\ngone 2\n");
    write(dir, "rename-src.txt", twentyLines);
    write(dir, "image.bin", binA);
    const c1 = commitAll(dir, "c1");
    write(dir, "modify.txt", "one\nTWO\nthree\nfour\n");
    rmSync(path.join(dir, "delete.txt"));
    mkdirSync(path.join(dir, "dir"));
    g(dir, "mv", "rename-src.txt", "dir/renamed.txt");
    write(dir, "dir/renamed.txt", twentyLines.replace("line 20\n", "line twenty\n"));
    write(dir, "added.txt", "a\nb\nc\n");
    write(dir, "image.bin", binB);
    write(dir, "new.bin", Buffer.from([0, 1, 2, 3, 0, 255]));
    const c2 = commitAll(dir, "c2");
    return { taskId, dir, c1, c2 };
  }

  it("describes added, modified, deleted, renamed and binary files", async () => {
    const { taskId, c1, c2 } = checkpointRepo();
    const diff = await manager.getDiff(taskId, c1, c2);
    expect(diff.files).toEqual([
      { path: "added.txt", action: "added", additions: 3, deletions: 0, hunks: [{ header: "@@ -0,0 +1,3 @@", lines: ["+a", "+b", "+c"] }] },
      { path: "delete.txt", action: "deleted", additions: 0, deletions: 2, hunks: [{ header: "@@ -1,2 +0,0 @@", lines: ["-gone 1", "-gone 2"] }] },
      {
        path: "dir/renamed.txt",
        oldPath: "rename-src.txt",
        action: "renamed",
        additions: 1,
        deletions: 1,
        hunks: [{ header: "@@ -17,4 +17,4 @@ line 16", lines: [" line 17", " line 18", " line 19", "-line 20", "+line twenty"] }],
      },
      { path: "image.bin", action: "modified", binary: true, additions: 0, deletions: 0 },
      {
        path: "modify.txt",
        action: "modified",
        additions: 2,
        deletions: 1,
        hunks: [{ header: "@@ -1,3 +1,4 @@", lines: [" one", "-two", "+TWO", " three", "+four"] }],
      },
      { path: "new.bin", action: "added", binary: true, additions: 0, deletions: 0 },
    ]);
    expect(diff.stats).toEqual({ filesChanged: 6, insertions: 6, deletions: 4 });
  });

  it("defaults to the parent commit, and to the empty tree for a root commit", async () => {
    const { taskId, c1, c2 } = checkpointRepo();
    expect(await manager.getDiff(taskId, undefined, c2)).toEqual(await manager.getDiff(taskId, c1, c2));
    const root = await manager.getDiff(taskId, undefined, c1.slice(0, 7));
    expect(root.files.map((f) => [f.path, f.action, f.binary ?? false, f.additions, f.deletions])).toEqual([
      ["delete.txt", "added", false, 2, 0],
      ["image.bin", "added", true, 0, 0],
      ["keep.txt", "added", false, 1, 0],
      ["modify.txt", "added", false, 3, 0],
      ["rename-src.txt", "added", false, 20, 0],
    ]);
    expect(root.stats).toEqual({ filesChanged: 5, insertions: 26, deletions: 0 });
  });

  it("handles a file turned into a symlink, odd file names and a pure rename", async () => {
    const { taskId, dir } = newTaskRepo();
    write(dir, "t.txt", "target\n");
    write(dir, "moved.txt", twentyLines);
    const c1 = commitAll(dir, "c1");
    rmSync(path.join(dir, "t.txt"));
    symlinkSync("moved-again.txt", path.join(dir, "t.txt"));
    g(dir, "mv", "moved.txt", "moved-again.txt");
    write(dir, "sp ace\tü.txt", "x\n");
    const c2 = commitAll(dir, "c2");
    const diff = await manager.getDiff(taskId, c1, c2);
    expect(diff.files).toEqual([
      { path: "moved-again.txt", oldPath: "moved.txt", action: "renamed", additions: 0, deletions: 0, hunks: [] },
      { path: "sp ace\tü.txt", action: "added", additions: 1, deletions: 0, hunks: [{ header: "@@ -0,0 +1 @@", lines: ["+x"] }] },
      {
        path: "t.txt",
        action: "modified",
        additions: 1,
        deletions: 1,
        hunks: [
          { header: "@@ -1 +0,0 @@", lines: ["-target"] },
          { header: "@@ -0,0 +1 @@", lines: ["+moved-again.txt", "\\ No newline at end of file"] },
        ],
      },
    ]);
  });

  it("handles a diff of more than 2 MB", async () => {
    const { taskId, dir } = newTaskRepo();
    write(dir, "README", "x\n");
    commitAll(dir, "c1");
    const lines = Array.from({ length: 60_000 }, (_, i) => `line ${String(i).padStart(6, "0")} ${"x".repeat(30)}`);
    write(dir, "big.txt", lines.join("\n") + "\n");
    const c2 = commitAll(dir, "big");
    expect(readFileSync(path.join(dir, "big.txt")).length).toBeGreaterThan(2 * 1024 * 1024);
    const diff = await manager.getDiff(taskId, undefined, c2);
    expect(diff.stats).toEqual({ filesChanged: 1, insertions: 60_000, deletions: 0 });
    const file = diff.files[0]!;
    expect(file.hunks).toHaveLength(1);
    expect(file.hunks![0]!.lines).toHaveLength(60_000);
    expect(file.hunks![0]!.lines[59_999]).toBe(`+${lines[59_999]}`);
  });
});

// ------------------------------------------------------------------- rewinds

/**
 * C1 → C2 on main, then a dirty worktree: a.txt staged ("a3") and modified
 * again ("a4"), b.txt modified unstaged, c.txt deleted, s.txt new and staged,
 * u/deep.txt untracked, debug.log ignored.
 */
function dirtyTask() {
  const { taskId, dir } = newTaskRepo();
  write(dir, ".gitignore", "*.log\n");
  write(dir, "a.txt", "a1\n");
  write(dir, "b.txt", "b1\n");
  write(dir, "old.txt", "old\n");
  const c1 = commitAll(dir, "c1");
  write(dir, "a.txt", "a2\n");
  write(dir, "b.txt", "b2\n");
  write(dir, "c.txt", "c2\n");
  rmSync(path.join(dir, "old.txt"));
  const c2 = commitAll(dir, "c2");
  write(dir, "a.txt", "a3 staged\n");
  g(dir, "add", "a.txt");
  write(dir, "a.txt", "a4 worktree\n");
  write(dir, "b.txt", "b3 unstaged\n");
  rmSync(path.join(dir, "c.txt"));
  write(dir, "s.txt", "staged new\n");
  g(dir, "add", "s.txt");
  write(dir, "u/deep.txt", "untracked\n");
  write(dir, "debug.log", "ignored\n");
  return { taskId, dir, c1, c2 };
}

const atC1 = { ".gitignore": "*.log\n", "a.txt": "a1\n", "b.txt": "b1\n", "old.txt": "old\n", "debug.log": "ignored\n" };

describe("rewind and undo", () => {
  it("discard: resets to the checkpoint, keeps ignored files, and undo restores everything", async () => {
    const { taskId, dir, c1, c2 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    expect(before.status).toEqual([
      " D c.txt",
      " M b.txt",
      "!! debug.log",
      "?? u/deep.txt",
      "A  s.txt",
      "MM a.txt",
    ]);

    const result = await manager.rewind(taskId, { checkpointSha: c1.slice(0, 10), preserveMode: "discard" });
    expect(result.preservedAs).toBeUndefined();
    expect(result.safetyRef).toMatch(new RegExp(`^refs/makima/safety/${taskId}/[0-9TZ-]+-[0-9a-f]{8}$`));
    expect(result.headSha).toBe(c1);
    expect(result.overwrittenForeignChanges).toEqual([]);
    expect(result.message).toContain(result.safetyRef);
    expect(captureState(dir)).toMatchObject({ head: c1, branch: "refs/heads/main", files: atC1, status: ["!! debug.log"] });
    // The safety ref holds the worktree files and HEAD as parent.
    expect(g(dir, "show", `${result.safetyRef}:a.txt`)).toBe("a4 worktree");
    expect(g(dir, "show", `${result.safetyRef}:u/deep.txt`)).toBe("untracked");
    expect(g(dir, "rev-parse", `${result.safetyRef}^1`)).toBe(c2);
    expect(await manager.listSafetyRefs(taskId)).toEqual([result.safetyRef]);

    const undo = await manager.undoRewind(taskId, result.safetyRef);
    expect(undo).toMatchObject({ restoredFrom: result.safetyRef, headSha: c2, branch: "main", indexRestored: true });
    expect(captureState(dir)).toEqual(before);
    // The undo saved the state it replaced.
    expect(undo.safetyRef).not.toBe(result.safetyRef);
    expect(g(dir, "rev-parse", `${undo.safetyRef}^1`)).toBe(c1);
  });

  it("create_branch: commits the uncommitted work onto the named branch; undo restores", async () => {
    const { taskId, dir, c1, c2 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    const result = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "create_branch", branchName: "saved/work" });
    expect(result.preservedAs).toEqual({ type: "branch", reference: "saved/work" });
    expect(captureState(dir)).toMatchObject({ head: c1, branch: "refs/heads/main", files: atC1 });
    expect(g(dir, "rev-parse", "saved/work^")).toBe(c2);
    expect(g(dir, "ls-tree", "-r", "--name-only", "saved/work").split("\n")).toEqual([".gitignore", "a.txt", "b.txt", "s.txt", "u/deep.txt"]);
    expect(g(dir, "show", "saved/work:a.txt")).toBe("a4 worktree");
    expect(g(dir, "show", "saved/work:b.txt")).toBe("b3 unstaged");
    expect(g(dir, "show", "saved/work:u/deep.txt")).toBe("untracked");
    expect(g(dir, "log", "-1", "--format=%an <%ae>", "saved/work")).toBe("Test User <test@example.com>");

    await manager.undoRewind(taskId, result.safetyRef);
    expect(captureState(dir)).toEqual(before);
    expect(g(dir, "rev-parse", "saved/work^")).toBe(c2); // the preserved branch stays
  });

  it("create_branch without a name numbers makima/preserved/<whole task id>-<n>", async () => {
    const { taskId, dir, c1, c2 } = dirtyTask();
    await manager.markTaskState(taskId);
    const short = taskId;
    const first = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "create_branch" });
    expect(first.preservedAs).toEqual({ type: "branch", reference: `makima/preserved/${short}-1` });
    // Clean worktree: the branch is simply the current HEAD.
    g(dir, "reset", "-q", "--hard", c2);
    await manager.markTaskState(taskId);
    const second = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "create_branch" });
    expect(second.preservedAs).toEqual({ type: "branch", reference: `makima/preserved/${short}-2` });
    expect(g(dir, "rev-parse", `makima/preserved/${short}-2`)).toBe(c2);
  });

  it("stash: stashes staged, unstaged and untracked files under a stable ref; undo restores", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    const result = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "stash" });
    const ref = result.preservedAs?.reference ?? "";
    expect(result.preservedAs?.type).toBe("stash");
    expect(ref).toMatch(new RegExp(`^refs/makima/stash/${taskId}/`));
    expect(g(dir, "rev-parse", ref)).toBe(g(dir, "rev-parse", "stash@{0}"));
    expect(g(dir, "stash", "list").split("\n")).toHaveLength(1);
    expect(g(dir, "show", `${ref}:a.txt`)).toBe("a4 worktree"); // worktree
    expect(g(dir, "show", `${ref}^2:a.txt`)).toBe("a3 staged"); // index
    expect(g(dir, "show", `${ref}^3:u/deep.txt`)).toBe("untracked"); // untracked
    expect(captureState(dir)).toMatchObject({ head: c1, branch: "refs/heads/main", files: atC1, status: ["!! debug.log"] });

    await manager.undoRewind(taskId, result.safetyRef);
    expect(captureState(dir)).toEqual(before);
  });

  it("stash with nothing to stash preserves nothing", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    g(dir, "reset", "-q", "--hard");
    g(dir, "clean", "-fdq");
    const result = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "stash" });
    expect(result.preservedAs).toBeUndefined();
    expect(result.message).toContain("no uncommitted changes to stash");
    expect(g(dir, "stash", "list")).toBe("");
  });

  it("undo brings back a detached HEAD", async () => {
    const { taskId, dir, c1, c2 } = dirtyTask();
    g(dir, "checkout", "-q", "--detach");
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    expect(before.branch).toBeNull();
    const result = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" });
    expect(g(dir, "rev-parse", "HEAD")).toBe(c1);
    expect(g(dir, "rev-parse", "main")).toBe(c2); // a detached rewind does not move main
    const undo = await manager.undoRewind(taskId, result.safetyRef);
    expect(undo.branch).toBeNull();
    expect(captureState(dir)).toEqual(before);
  });

  it("undo of an undo returns to the rewound state", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    const rewound = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" });
    write(dir, "after.txt", "made after the rewind\n");
    const afterRewind = captureState(dir);
    const undo = await manager.undoRewind(taskId, rewound.safetyRef);
    await manager.undoRewind(taskId, undo.safetyRef);
    expect(captureState(dir)).toEqual(afterRewind);
  });

  it("saveSafetyRef changes neither the worktree nor the index, and records HEAD and branch", async () => {
    const { taskId, dir, c2 } = dirtyTask();
    const indexFile = path.join(dir, ".git", "index");
    const before = captureState(dir);
    const indexBytes = readFileSync(indexFile);
    const ref = await manager.saveSafetyRef(taskId);
    expect(captureState(dir)).toEqual(before);
    expect(readFileSync(indexFile).equals(indexBytes)).toBe(true);
    expect(g(dir, "rev-parse", `${ref}^1`)).toBe(c2);
    expect(g(dir, "log", "-1", "--format=%B", ref)).toContain("Makima-Branch: refs/heads/main");
    expect(g(dir, "ls-tree", "-r", "--name-only", ref).split("\n")).toEqual([".gitignore", "a.txt", "b.txt", "s.txt", "u/deep.txt"]);
    // The second parent is the index: staged a.txt and s.txt, no untracked file.
    expect(g(dir, "show", `${ref}^2:a.txt`)).toBe("a3 staged");
    expect(g(dir, "ls-tree", "-r", "--name-only", `${ref}^2`).split("\n")).toEqual([".gitignore", "a.txt", "b.txt", "c.txt", "s.txt"]);
  });

  it("undo after a rewind during a merge conflict brings the files back, all unstaged", async () => {
    const { taskId, dir } = newTaskRepo();
    write(dir, "f.txt", "base\n");
    const base = commitAll(dir, "base");
    g(dir, "checkout", "-q", "-b", "other");
    write(dir, "f.txt", "theirs\n");
    commitAll(dir, "theirs");
    g(dir, "checkout", "-q", "main");
    write(dir, "f.txt", "ours\n");
    const ours = commitAll(dir, "ours");
    expect(() => execFileSync("git", ["merge", "-q", "other"], { cwd: dir, stdio: "ignore" })).toThrow();
    write(dir, "untracked.txt", "u\n");
    const conflicted = readFileSync(path.join(dir, "f.txt"), "utf8");
    expect(conflicted).toContain("<<<<<<<");

    const result = await manager.rewind(taskId, { checkpointSha: base, preserveMode: "discard", force: true });
    expect(listFiles(dir)).toEqual({ "f.txt": "base\n" });
    const undo = await manager.undoRewind(taskId, result.safetyRef);
    expect(undo.indexRestored).toBe(false);
    expect(captureState(dir)).toMatchObject({
      head: ours,
      branch: "refs/heads/main",
      files: { "f.txt": conflicted, "untracked.txt": "u\n" },
      status: [" M f.txt", "?? untracked.txt"],
    });
  });

  it("refuses a SHA that is not a commit of the repository", async () => {
    const { taskId, dir } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    await expect(manager.rewind(taskId, { checkpointSha: "deadbeefdeadbeef", preserveMode: "discard" })).rejects.toThrow(NotACommitError);
    const blob = g(dir, "rev-parse", "HEAD:b.txt");
    await expect(manager.rewind(taskId, { checkpointSha: blob, preserveMode: "discard" })).rejects.toThrow(
      new NotACommitError(blob, dir).message,
    );
    expect(captureState(dir)).toEqual(before);
    expect(await manager.listSafetyRefs(taskId)).toEqual([]);
  });

  it("refuses while the task's agent runs", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    running.add(taskId);
    await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" })).rejects.toThrow(AgentRunningError);
    await expect(manager.undoRewind(taskId, `refs/makima/safety/${taskId}/x`)).rejects.toThrow(AgentRunningError);
    await expect(manager.stashChanges(taskId)).rejects.toThrow(AgentRunningError);
    expect(captureState(dir)).toEqual(before);
    running.delete(taskId);
    await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" })).resolves.toMatchObject({ headSha: c1 });
  });
});

describe("changes the task did not make", () => {
  it("are refused without force, listed, and nothing changes", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    const fingerprint = await manager.markTaskState(taskId);
    expect(fingerprint.files).toEqual({
      "a.txt": g(dir, "hash-object", "a.txt"),
      "b.txt": g(dir, "hash-object", "b.txt"),
      "c.txt": null,
      "s.txt": g(dir, "hash-object", "s.txt"),
      "u/deep.txt": g(dir, "hash-object", "u/deep.txt"),
    });
    write(dir, "b.txt", "someone else\n");
    write(dir, "x/foreign.txt", "not the task's\n");
    rmSync(path.join(dir, ".gitignore"));
    const before = captureState(dir);

    const refused = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ForeignChangesError);
    // Without .gitignore, debug.log is no longer ignored: `git clean` would delete it, so it counts too.
    expect((refused as ForeignChangesError).paths).toEqual([".gitignore", "b.txt", "debug.log", "x/foreign.txt"]);
    expect((refused as ForeignChangesError).message).toContain("x/foreign.txt");
    expect(captureState(dir)).toEqual(before);
    expect(await manager.listSafetyRefs(taskId)).toEqual([]);

    // Paths the agent reports as its own are not foreign.
    const partly = await manager
      .rewind(taskId, { checkpointSha: c1, preserveMode: "discard", taskPaths: ["b.txt", "x", "debug.log"] })
      .catch((e: unknown) => e);
    expect((partly as ForeignChangesError).paths).toEqual([".gitignore"]);
    expect(captureState(dir)).toEqual(before);
  });

  it("are overwritten with force, kept in the safety ref, and come back with undo", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    write(dir, "b.txt", "someone else\n");
    write(dir, "x/foreign.txt", "not the task's\n");
    const before = captureState(dir);
    const result = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard", force: true });
    expect(result.overwrittenForeignChanges).toEqual(["b.txt", "x/foreign.txt"]);
    expect(result.message).toContain("overwrote changes the task did not make: b.txt, x/foreign.txt");
    expect(captureState(dir).files).toEqual(atC1);
    expect(g(dir, "show", `${result.safetyRef}:x/foreign.txt`)).toBe("not the task's");
    expect(g(dir, "show", `${result.safetyRef}:b.txt`)).toBe("someone else");

    await manager.undoRewind(taskId, result.safetyRef);
    expect(captureState(dir)).toEqual(before);
    // After the undo the same changes are foreign again.
    await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard" })).rejects.toThrow(ForeignChangesError);
  });

  it("with no record of the task's state, every dirty file is foreign", async () => {
    const { taskId, c1 } = dirtyTask();
    const e = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "stash" }).catch((x: unknown) => x);
    expect((e as ForeignChangesError).paths).toEqual(["a.txt", "b.txt", "c.txt", "s.txt", "u/deep.txt"]);
  });
});

// ------------------------------------------------------------------- hostile input

describe("hostile input", () => {
  it.each([";rm -rf /", "--upload-pack=x", "ABCDEF12", "abc123", "a".repeat(65), "HEAD", "deadbeef ", ""])(
    "assertSha refuses %j",
    (sha) => {
      expect(() => assertSha(sha)).toThrow(ValidationError);
      expect(() => assertSha(sha)).toThrow(`Invalid commit SHA ${JSON.stringify(sha)}: expected 7 to 64 lowercase hex digits`);
    },
  );

  it("assertSha accepts abbreviated, SHA-1 and SHA-256 hex", () => {
    for (const sha of ["abcdef1", "a".repeat(40), "0".repeat(64)]) expect(() => assertSha(sha)).not.toThrow();
  });

  it.each(["../../x", "-delete", "a..b", "refs/heads/x.lock", "@{-1}", "@", "has space", "x~1", "", "a/.hidden"])(
    "assertBranchName refuses %j",
    async (name) => {
      const dir = initRepo(tempDir());
      const e = await assertBranchName(name, dir).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as Error).message).toMatch(new RegExp(`^Invalid branch name ${JSON.stringify(name).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    },
  );

  it("assertBranchName accepts a plain name", async () => {
    expect(await assertBranchName("feature/ok-1", initRepo(tempDir()))).toBe("feature/ok-1");
  });

  it("refuses hostile SHAs and branch names on every operation, changing nothing", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    const branches = g(dir, "branch", "--list");
    for (const sha of [";rm -rf /", "--upload-pack=x"]) {
      await expect(manager.rewind(taskId, { checkpointSha: sha, preserveMode: "discard" })).rejects.toThrow(ValidationError);
      await expect(manager.getDiff(taskId, undefined, sha)).rejects.toThrow(ValidationError);
      await expect(manager.getDiff(taskId, sha, c1)).rejects.toThrow(ValidationError);
      await expect(manager.createBranch(taskId, "ok", sha)).rejects.toThrow(ValidationError);
    }
    for (const name of ["../../x", "-delete", "a..b", "refs/heads/x.lock"]) {
      await expect(manager.createBranch(taskId, name, c1)).rejects.toThrow(`Invalid branch name ${JSON.stringify(name)}`);
      await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "create_branch", branchName: name })).rejects.toThrow(
        ValidationError,
      );
    }
    await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "oops" as "discard" })).rejects.toThrow(ValidationError);
    expect(g(dir, "branch", "--list")).toBe(branches);
    expect(captureState(dir)).toEqual(before);
    expect(await manager.listSafetyRefs(taskId)).toEqual([]);
  });

  it("refuses an existing branch name", async () => {
    const { taskId, c1 } = dirtyTask();
    await expect(manager.createBranch(taskId, "main", c1)).rejects.toThrow(BranchExistsError);
    await expect(manager.createBranch(taskId, "made", c1.slice(0, 8))).resolves.toEqual({ branchName: "made", commitSha: c1 });
  });

  it("saves the safety ref under the name it is given, refusing one outside the task's safety refs or already taken before anything changes", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    const before = captureState(dir);
    for (const ref of [`refs/makima/safety/${randomUUID()}/x`, "refs/heads/main", `refs/makima/safety/${taskId}/../x`]) {
      await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard", force: true, safetyRef: ref })).rejects.toThrow(ValidationError);
    }
    expect(captureState(dir)).toEqual(before);
    const name = `refs/makima/safety/${taskId}/${randomUUID()}`;
    const out = await manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard", force: true, safetyRef: name });
    expect(out.safetyRef).toBe(name);
    expect(g(dir, "rev-parse", "HEAD")).toBe(c1);
    await expect(manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard", force: true, safetyRef: name })).rejects.toThrow("already exists");
    await manager.undoRewind(taskId, name);
    expect(captureState(dir)).toEqual(before);
  });

  it("refuses bad task ids and safety refs", async () => {
    const { taskId, dir } = dirtyTask();
    const other = randomUUID();
    await expect(manager.getDiff("../etc", undefined, "abcdef1")).rejects.toThrow(ValidationError);
    for (const ref of ["refs/heads/main", `refs/makima/safety/${other}/x`, `refs/makima/safety/${taskId}/../../heads/main`, "--output=x"]) {
      await expect(manager.undoRewind(taskId, ref)).rejects.toThrow(ValidationError);
    }
    await expect(manager.undoRewind(taskId, `refs/makima/safety/${taskId}/missing`)).rejects.toThrow("does not exist");
    // A ref in the safety namespace that is not a safety snapshot.
    g(dir, "update-ref", `refs/makima/safety/${taskId}/fake`, "HEAD");
    await expect(manager.undoRewind(taskId, `refs/makima/safety/${taskId}/fake`)).rejects.toThrow("is not a safety snapshot");
    await expect(manager.getDiff(other, undefined, "abcdef1")).rejects.toThrow(UnknownTaskError);
  });

  it("resolveInside keeps paths inside the worktree", async () => {
    const base = tempDir();
    const inside = path.join(base, "wt");
    const outside = path.join(base, "outside");
    mkdirSync(path.join(inside, "sub"), { recursive: true });
    mkdirSync(outside);
    symlinkSync(outside, path.join(inside, "out"));
    symlinkSync(path.join(inside, "sub"), path.join(inside, "in"));
    symlinkSync(path.join(base, "nowhere"), path.join(inside, "dangling"));

    expect(await resolveInside(inside, "sub/new.txt")).toBe(path.join(inside, "sub/new.txt"));
    expect(await resolveInside(inside, path.join(inside, "a.txt"))).toBe(path.join(inside, "a.txt"));
    expect(await resolveInside(inside, "in/file.txt")).toBe(path.join(inside, "in/file.txt"));
    const refused: Array<[string, string]> = [
      ["../x", "must not contain '..'"],
      ["sub/../../x", "must not contain '..'"],
      ["..", "must not contain '..'"],
      ["sub\\..\\..\\x", "must not contain '..'"],
      ["/etc/passwd", "is outside the worktree"],
      [path.join(outside, "f"), "is outside the worktree"],
      [".git/config", "must not point into .git"],
      ["out/file.txt", "out is a symlink leading out of the worktree"],
      ["out", "out is a symlink leading out of the worktree"],
      ["dangling", "dangling is a dangling symlink"],
      ["", "expected a non-empty string"],
    ];
    for (const [p, reason] of refused) {
      const e = await resolveInside(inside, p).catch((x: unknown) => x);
      expect(e, p).toBeInstanceOf(ValidationError);
      expect((e as Error).message, p).toContain(`Invalid path ${JSON.stringify(p)}: ${reason}`);
    }
  });

  it("refuses task paths outside the worktree at rewind", async () => {
    const { taskId, dir, c1 } = dirtyTask();
    await manager.markTaskState(taskId);
    const before = captureState(dir);
    await expect(
      manager.rewind(taskId, { checkpointSha: c1, preserveMode: "discard", taskPaths: ["../../etc/passwd"] }),
    ).rejects.toThrow(`Invalid path "../../etc/passwd": must not contain '..'`);
    expect(captureState(dir)).toEqual(before);
  });

  it("git runs an argument vector, never a shell, and reports stderr", async () => {
    const dir = initRepo(tempDir());
    const e = await git(["check-ref-format", "--branch", "$(touch pwned); touch pwned2"], { cwd: dir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GitError);
    expect((e as GitError).exitCode).toBe(128);
    expect((e as GitError).stderr).toContain("is not a valid branch name");
    expect((e as GitError).args).toEqual(["check-ref-format", "--branch", "$(touch pwned); touch pwned2"]);
    expect(existsSync(path.join(dir, "pwned"))).toBe(false);
    expect(existsSync(path.join(dir, "pwned2"))).toBe(false);
  });
});

// ------------------------------------------------------------------- worktrees

describe("createWorktree", () => {
  it("creates a worktree at a checkpoint of a source task, on a new branch", async () => {
    const { taskId: source, dir, c1, c2 } = dirtyTask();
    const fork = randomUUID();
    const created = await manager.createWorktree(fork, { sourceTaskId: source, commitSha: c1.slice(0, 7), branchName: "fork/one" });
    const wt = path.join(root, fork);
    expect(created).toEqual({ taskId: fork, path: wt, branchName: "fork/one", commitSha: c1 });
    expect(captureState(wt)).toMatchObject({
      head: c1,
      branch: "refs/heads/fork/one",
      files: { ".gitignore": "*.log\n", "a.txt": "a1\n", "b.txt": "b1\n", "old.txt": "old\n" },
      status: [],
    });
    expect(lstatSync(path.join(wt, ".git")).isFile()).toBe(true); // a linked worktree
    // Same repository: the branch and the fork's commits are visible from the source.
    expect(g(dir, "rev-parse", "fork/one")).toBe(c1);
    write(wt, "forked.txt", "fork work\n");
    const forkCommit = commitAll(wt, "fork work");
    expect(g(dir, "cat-file", "-t", forkCommit)).toBe("commit");
    // The source worktree is untouched.
    expect(g(dir, "rev-parse", "HEAD")).toBe(c2);
    // The new task is usable at once, and starts with no foreign changes.
    expect((await manager.getDiff(fork, undefined, forkCommit)).files.map((f) => f.path)).toEqual(["forked.txt"]);
    write(wt, "a.txt", "edited after\n");
    await expect(manager.rewind(fork, { checkpointSha: c1, preserveMode: "discard" })).rejects.toThrow(ForeignChangesError);
  });

  it("creates from a repository path with the default branch name", async () => {
    const repo = initRepo(path.join(tempDir(), "repo"));
    write(repo, "f.txt", "1\n");
    const c1 = commitAll(repo, "c1");
    const id = randomUUID();
    const created = await manager.createWorktree(id, { sourceRepo: repo, commitSha: c1 });
    expect(created.branchName).toBe(`makima/task/${id.slice(0, 8)}`);
    expect(g(created.path, "symbolic-ref", "HEAD")).toBe(`refs/heads/makima/task/${id.slice(0, 8)}`);
    expect(await manager.worktreePath(id)).toBe(created.path);
  });

  it("refuses an existing worktree, a hostile branch, an unknown source or commit", async () => {
    const { taskId: source, c1 } = dirtyTask();
    const id = randomUUID();
    await expect(manager.createWorktree(id, { sourceTaskId: source, commitSha: c1, branchName: "-delete" })).rejects.toThrow(
      ValidationError,
    );
    await expect(manager.createWorktree(id, { sourceTaskId: source, commitSha: c1, branchName: "main" })).rejects.toThrow(
      BranchExistsError,
    );
    await expect(manager.createWorktree(id, { sourceTaskId: source, commitSha: "deadbeef" })).rejects.toThrow(NotACommitError);
    await expect(manager.createWorktree(id, { sourceTaskId: randomUUID(), commitSha: c1 })).rejects.toThrow(UnknownTaskError);
    await expect(manager.createWorktree(id, { commitSha: c1 })).rejects.toThrow(ValidationError);
    expect(existsSync(path.join(root, id))).toBe(false);
    await expect(manager.createWorktree(source, { sourceTaskId: source, commitSha: c1 })).rejects.toThrow(WorktreeExistsError);
  });

  it("registerExisting adopts a worktree elsewhere and refuses what is not one", async () => {
    const repo = initRepo(path.join(tempDir(), "elsewhere"));
    write(repo, "f.txt", "1\n");
    const c1 = commitAll(repo, "c1");
    const id = randomUUID();
    mkdirSync(path.join(repo, "sub"));
    await expect(manager.registerExisting(id, path.join(repo, "sub"))).rejects.toThrow("is not the top of a git worktree");
    await expect(manager.registerExisting(id, tempDir())).rejects.toThrow("is not a git worktree");
    await expect(manager.registerExisting(id, path.join(repo, "missing"))).rejects.toThrow("does not exist");
    await manager.registerExisting(id, repo);
    expect((await manager.getDiff(id, undefined, c1)).files.map((f) => f.path)).toEqual(["f.txt"]);
  });
});
