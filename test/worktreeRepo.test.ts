/**
 * The worktree manager on the user's repository (`makima daemon --repo`):
 * worktrees are `git worktree add`s of it, so its commits are every task's.
 */
import { afterAll, describe, expect, it } from "vitest";
import { realpathSync } from "node:fs";
import path from "node:path";
import { WorktreeManager } from "../daemon/worktree/manager.js";
import { UnknownTaskError } from "../daemon/worktree/errors.js";
import { commitAll, g, initRepo, removeTempDirs, tempDir, write } from "./support/git.js";

afterAll(removeTempDirs);

const A = "01a24c90-3bac-75cb-a12f-2c300b412a51";
const B = "01a24c90-3bad-7000-8000-000000000002";

function setup() {
  const repo = tempDir("makima-repo-");
  initRepo(repo);
  write(repo, "router.ts", "export const routes = [];\n");
  const first = commitAll(repo, "router");
  write(repo, "login.ts", "export const login = () => {};\n");
  const second = commitAll(repo, "login");
  const root = tempDir("makima-root-");
  return { repo, root, first, second, manager: new WorktreeManager({ root, repo }) };
}

describe("WorktreeManager with a repository", () => {
  it("gives a task it does not know a worktree of the repository at HEAD, on a branch named by the whole task id", async () => {
    const { repo, root, first, second, manager } = setup();
    const diff = await manager.getDiff(A, first, second);
    expect(diff.files.map((f) => f.path)).toEqual(["login.ts"]);
    const dir = await manager.worktreePath(A);
    expect(dir).toBe(realpathSync(path.join(root, A)));
    expect(g(dir, "rev-parse", "HEAD")).toBe(second);
    expect(g(dir, "symbolic-ref", "--short", "HEAD")).toBe(`makima/task/${A}`);
    expect(g(repo, "worktree", "list")).toContain(A);
    // The task's own commits are the repository's.
    write(dir, "more.ts", "x\n");
    const third = commitAll(dir, "more");
    expect(g(repo, "cat-file", "-t", third)).toBe("commit");
  });

  it("makes a new task's worktree at a commit of the repository, and never adopts one when asked not to", async () => {
    const { repo, first, manager } = setup();
    await expect(manager.worktreePath(B, { adopt: false })).rejects.toBeInstanceOf(UnknownTaskError);
    const created = await manager.createWorktree(B, { sourceRepo: repo, commitSha: first });
    expect(created).toMatchObject({ branchName: `makima/task/${B}`, commitSha: first });
    // Two tasks made the same minute share their first 8 characters; their branches do not collide.
    const other = await manager.worktreePath(A);
    expect(g(other, "symbolic-ref", "--short", "HEAD")).toBe(`makima/task/${A}`);
  });

  it("rewinds a task to a commit of the repository, and undoes it", async () => {
    const { first, second, manager } = setup();
    const out = await manager.rewind(A, { checkpointSha: first, preserveMode: "create_branch" });
    const dir = await manager.worktreePath(A);
    expect(g(dir, "rev-parse", "HEAD")).toBe(first);
    await manager.undoRewind(A, out.safetyRef);
    expect(g(dir, "rev-parse", "HEAD")).toBe(second);
  });
});
