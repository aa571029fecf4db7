import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { commitHookEnv, installCommitHooks, readJournal } from "../daemon/worktree/commitHook.js";
import { initRepo, removeTempDirs, tempDir, write } from "./support/git.js";

afterAll(() => removeTempDirs());

async function hookedRepo() {
  const root = tempDir("makima-hook-");
  const cwd = initRepo(path.join(root, "repo"));
  const files = { stdoutFile: path.join(root, "stdout.log"), journalFile: path.join(root, "commits.log"), cwd };
  writeFileSync(files.stdoutFile, "");
  const env = await commitHookEnv({ ...process.env, GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "user.name", GIT_CONFIG_VALUE_0: "Agent" }, { ...files, hooksDir: await installCommitHooks(root) });
  const git = (...args: string[]) => execFileSync("git", args, { cwd, env, encoding: "utf8" });
  return { cwd, files, git };
}

describe("the daemon's commit hooks", () => {
  it("note each commit, amend and merge with how much the agent had printed, and keep the environment's own git config", async () => {
    const { cwd, files, git } = await hookedRepo();
    writeFileSync(files.stdoutFile, "one\ntwo\n");
    write(cwd, "a.txt", "a");
    git("add", "-A");
    git("commit", "-q", "-m", "first");
    const first = git("rev-parse", "HEAD").trim();
    writeFileSync(files.stdoutFile, "one\ntwo\nthree\n");
    git("commit", "-q", "--amend", "-m", "amended");
    const amended = git("rev-parse", "HEAD").trim();
    git("checkout", "-q", "-b", "side");
    write(cwd, "b.txt", "b");
    git("add", "-A");
    git("commit", "-q", "-m", "side");
    git("checkout", "-q", "main");
    git("merge", "-q", "--no-ff", "-m", "merge", "side");
    const merged = git("rev-parse", "HEAD").trim();

    const { entries } = await readJournal(files.journalFile, 0);
    const heads = entries.map((e) => e.head);
    expect(heads).toContain(first);
    expect(heads).toContain(amended);
    expect(heads.at(-1)).toBe(merged);
    expect(entries.find((e) => e.head === first)!.stdoutBytes).toBe(8);
    expect(entries.find((e) => e.head === amended)!.stdoutBytes).toBe(14);
    expect(git("log", "-1", "--format=%an", first).trim()).toBe("Agent");
  });

  it("run the repository's own hooks, which can still refuse a commit", async () => {
    const { cwd, files, git } = await hookedRepo();
    const own = path.join(cwd, ".git", "hooks");
    writeFileSync(path.join(own, "post-commit"), `#!/bin/sh\necho ran > "${path.join(cwd, "..", "post-commit-ran")}"\n`);
    writeFileSync(path.join(own, "reference-transaction"), `#!/bin/sh\ncat >> "${path.join(cwd, "..", "own-transactions")}"\n`);
    chmodSync(path.join(own, "post-commit"), 0o755);
    chmodSync(path.join(own, "reference-transaction"), 0o755);
    write(cwd, "a.txt", "a");
    git("add", "-A");
    git("commit", "-q", "-m", "first");
    expect(existsSync(path.join(cwd, "..", "post-commit-ran"))).toBe(true);
    expect(readFileSync(path.join(cwd, "..", "own-transactions"), "utf8")).toMatch(/refs\/heads\/main/);

    writeFileSync(path.join(own, "pre-commit"), "#!/bin/sh\nexit 1\n");
    chmodSync(path.join(own, "pre-commit"), 0o755);
    write(cwd, "b.txt", "b");
    git("add", "-A");
    expect(() => git("commit", "-q", "-m", "refused")).toThrow();
    expect((await readJournal(files.journalFile, 0)).entries).toHaveLength(1);
  });
});
