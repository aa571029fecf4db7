/**
 * A code rewind's dry run (`previewRewind`, `dryRun: true`, `--dry-run`):
 * real git, a worktree with committed, staged, unstaged and untracked work.
 * The preview names what a rewind would change and set aside, and changes
 * nothing at all; the rewind that follows does what it said.
 */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { captureState, commitAll, g, initRepo, removeTempDirs, tempDir, write } from "./support/git.js";
import { previewRewindWorktree, rewindWorktree } from "../daemon/worktree/rewind.js";
import { RewindJournalDir } from "../daemon/worktree/journal.js";
import { ValidationError } from "../daemon/worktree/errors.js";

afterAll(() => removeTempDirs());

function repo() {
  const dir = initRepo(join(tempDir(), "w"));
  write(dir, "router.ts", "export const routes = [];\n");
  write(dir, "keep.ts", "unchanged\n");
  const first = commitAll(dir, "router");
  write(dir, "router.ts", "import { login } from './login';\nexport const routes = [login];\n");
  write(dir, "login.ts", "export const login = () => {};\n");
  commitAll(dir, "login");
  write(dir, "notes.md", "untracked thoughts\n");
  write(dir, "login.ts", "export const login = () => 'wip';\n");
  g(dir, "add", "login.ts");
  write(dir, "keep.ts", "unchanged\nbut edited\n");
  return { dir, first };
}

describe("a code rewind's dry run", () => {
  it("lists every file the rewind would change, marks uncommitted work as set aside, and touches nothing", async () => {
    const { dir, first } = repo();
    const taskId = randomUUID();
    const before = captureState(dir);
    const refsBefore = g(dir, "for-each-ref");

    const preview = await previewRewindWorktree(dir, taskId, first);

    const byPath = Object.fromEntries(preview.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual(["keep.ts", "login.ts", "notes.md", "router.ts"]);
    expect(byPath["login.ts"]).toMatchObject({ action: "deleted", setAside: true });
    expect(byPath["notes.md"]).toMatchObject({ action: "deleted", setAside: true });
    expect(byPath["keep.ts"]).toMatchObject({ action: "modified", setAside: true });
    expect(byPath["router.ts"]).toMatchObject({ action: "modified" });
    expect(byPath["router.ts"]!.setAside).toBeUndefined();
    // No task-state record yet: every uncommitted change counts as one the task did not make.
    expect(preview.files.filter((f) => f.foreign).map((f) => f.path).sort()).toEqual(["keep.ts", "login.ts", "notes.md"]);
    expect(preview.stats.filesChanged).toBe(4);

    expect(captureState(dir)).toEqual(before);
    expect(g(dir, "for-each-ref")).toBe(refsBefore);

    // The rewind itself changes exactly the files the preview named.
    const journals = new RewindJournalDir(join(tempDir(), "journal"));
    await rewindWorktree(dir, taskId, { checkpointSha: first, preserveMode: "create_branch", force: true }, journals);
    const after = captureState(dir);
    const changed = Object.keys({ ...before.files, ...after.files }).filter((p) => before.files[p] !== after.files[p]);
    expect(changed.sort()).toEqual(Object.keys(byPath).sort());
  });

  it("refuses what is not a commit of the worktree, before reading anything", async () => {
    const { dir } = repo();
    await expect(previewRewindWorktree(dir, randomUUID(), "not-a-sha")).rejects.toBeInstanceOf(ValidationError);
    await expect(previewRewindWorktree(dir, randomUUID(), "0".repeat(40))).rejects.toThrow();
    await expect(previewRewindWorktree(dir, "../etc", "0".repeat(40))).rejects.toBeInstanceOf(ValidationError);
  });
});
