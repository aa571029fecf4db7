/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The README's story, in a real headless Chromium, against the local stack
 * with the reference daemon (`makima daemon` as its own process, real git):
 * the timeline, a task, a checkpoint diff, a code rewind previewed then
 * done, undone, a fork, and the fork compared side by side.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "puppeteer-core";
import { startCliDaemon, startCliStack, type CliDaemon, type CliStack } from "../support/cli.js";
import { waitFor } from "../support/relay.js";
import { g } from "../support/git.js";
import { axeViolations, CHROMIUM, click, launch, openViewer, seeText } from "./browser.js";

const DOCS = fileURLToPath(new URL("../../docs", import.meta.url));
const HOSTILE_FILE = "<script>window.__pwned=1<.ts";

let s: CliStack;
let browser: Browser;
let page: Page;
let daemon: CliDaemon | undefined;
let root: string;
let taskId: string;
let worktree: string;
const shas: string[] = [];

/** waitFor, with the daemon's output when it times out. */
const until = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) =>
  waitFor(check, timeoutMs, what).catch((error: Error) => {
    throw new Error(`${error.message}; daemon output:\n${daemon?.output() ?? ""}`);
  });

const append = (id: string, ...contents: Array<[string, string]>) =>
  s.api("POST", `/api/v1/mesh/tasks/${id}/messages`, { messages: contents.map(([role, content]) => ({ role, content })) });

beforeAll(async () => {
  s = await startCliStack();
  root = mkdtempSync(join(tmpdir(), "makima-viewer-"));
  const contractId = (await s.api("POST", "/api/v1/contracts", { name: "login page" })).body.id;
  taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "login form", plan: "add a login form", contractId })).body.id;
  worktree = join(root, taskId);
  mkdirSync(worktree, { recursive: true });
  g(worktree, "init", "--quiet", "--initial-branch=main");
  g(worktree, "config", "user.name", "Test");
  g(worktree, "config", "user.email", "test@example.com");
  await append(taskId, ["user", "Add a login form to the app."], ["assistant", "Starting with the **router**."]);
  writeFileSync(join(worktree, "router.ts"), "export const routes = [];\n");
  g(worktree, "add", ".");
  g(worktree, "commit", "--quiet", "-m", "router");
  shas.push(g(worktree, "rev-parse", "HEAD"));
  await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: shas[0], branchName: "main", message: "router" });
  await append(taskId, ["assistant", "Now the form itself."]);
  writeFileSync(join(worktree, "router.ts"), "import { login } from './login';\nexport const routes = [login];\n");
  writeFileSync(join(worktree, "login.ts"), "export const login = () => {};\n");
  writeFileSync(join(worktree, HOSTILE_FILE), "export {};\n");
  g(worktree, "add", ".");
  g(worktree, "commit", "--quiet", "-m", "login page");
  shas.push(g(worktree, "rev-parse", "HEAD"));
  await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, { commitSha: shas[1], branchName: "main", message: "login page" });
  await append(taskId, ["assistant", "The form is done."]);

  daemon = startCliDaemon(s, root);
  await until("the daemon to connect", async () => (await s.api("GET", "/api/v1/daemons")).body.items.length > 0);
  browser = await launch();
  page = (await openViewer(browser, s.stack.apiUrl, s.apiKey)).page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await s?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!CHROMIUM)("the story, in the browser", () => {
  it("opens the timeline, then the task: its conversation with its checkpoints in place", async () => {
    await seeText(page, "Timeline");
    await seeText(page, "login page");
    expect(await axeViolations(page)).toEqual([]);
    await click(page, `task ${taskId.slice(0, 8)}`);
    await seeText(page, "The form is done.");
    await seeText(page, "Checkpoint 2");
    // The markdown is rendered (as markup the sanitizer allows).
    expect(await page.$eval("main .md strong", (e) => e.textContent)).toBe("router");
    const order = await page.$$eval("main .conversation article, main .conversation aside.checkpoint", (els) => els.map((e) => e.getAttribute("aria-label")?.replace(/ message .*/, "")));
    expect(order).toEqual(["user", "assistant", "Checkpoint 1", "assistant", "Checkpoint 2", "assistant"]);
    expect(await axeViolations(page)).toEqual([]);
    // The picture the documentation shows: made when it is missing, or anew with UPDATE_SCREENSHOT=1.
    const picture = join(DOCS, "viewer.png");
    if (!existsSync(picture) || process.env.UPDATE_SCREENSHOT === "1") {
      mkdirSync(DOCS, { recursive: true });
      await page.screenshot({ path: picture });
    }
  });

  it("shows a checkpoint's diff from the daemon, unified and side by side, file names as text", async () => {
    await click(page, "Diff of checkpoint 2");
    await seeText(page, "login.ts");
    await page.waitForSelector("main .d2h .d2h-file-diff, main .d2h .d2h-diff-table");
    await seeText(page, "export const login = () => {};");
    await seeText(page, HOSTILE_FILE);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.$$eval("main script", (els) => els.length)).toBe(0);
    expect(await axeViolations(page)).toEqual([]);
    await page.click("main input[name=layout]:not(:checked)");
    await page.waitForSelector("main .d2h .d2h-file-side-diff");
    await page.evaluate((id) => (location.hash = `#/task/${id}`), taskId);
    await seeText(page, "The form is done.");
  });

  it("previews a code rewind (files that change, work set aside), does it, then undoes it; hides messages and restores them", async () => {
    writeFileSync(join(worktree, "scratch.md"), "notes\n");
    await click(page, "Rewind code to checkpoint 1");
    await seeText(page, "Files that would change");
    await seeText(page, "login.ts (deleted)");
    await seeText(page, "router.ts (modified)");
    await seeText(page, "Changes the task did not make");
    expect(await page.$eval("main .confirm .preview", (e) => e.textContent)).toMatch(/Uncommitted work set aside \(kept on a new branch\) \(1\):\s*scratch\.md/);
    expect(await axeViolations(page)).toEqual([]);
    // The preview changed nothing.
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[1]);
    expect(existsSync(join(worktree, "scratch.md"))).toBe(true);
    await page.click("main .confirm input[type=checkbox]");
    await click(page, "Rewind the code");
    await seeText(page, "Rewound. The previous state is saved as refs/makima/safety/");
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[0]);
    expect(existsSync(join(worktree, "login.ts"))).toBe(false);

    await click(page, "Undo code rewind");
    await seeText(page, "The worktree goes back to how it was just before the rewind");
    await click(page, "Undo the rewind");
    await seeText(page, "Rewind undone");
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[1]);
    expect(existsSync(join(worktree, "scratch.md"))).toBe(true);

    // The conversation goes back to checkpoint 2: the message after it is hidden, then restored.
    await click(page, "Rewind conversation to checkpoint 2");
    await seeText(page, "1 message after “Now the form itself.” will be hidden");
    await click(page, "Rewind the conversation");
    await seeText(page, "Conversation rewound: 3 messages kept, 1 hidden.");
    await seeText(page, "1 message hidden by a rewind");
    await page.waitForFunction(() => !document.querySelector("main .conversation")!.textContent!.includes("The form is done."), { polling: 100 });
    await click(page, "Restore…");
    await seeText(page, "1 hidden message becomes visible again.");
    await click(page, "Restore", "main .hidden-mark .confirm");
    await page.waitForFunction(() => document.querySelector("main .conversation")!.textContent!.includes("The form is done.") && !document.querySelector("main .hidden-mark"), { polling: 100 });

    // The same dry run from the CLI.
    const dry = await s.run(["supervisor", "task-rewind", taskId, "--checkpoint", "1", "--dry-run"]);
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
    expect(dry.stdout.split("\n")).toEqual([
      `Dry run: rewinding task ${taskId} to checkpoint 1 (${shas[0]!.slice(0, 7)}) would change 4 files:`,
      `  deleted   ${HOSTILE_FILE}`,
      "  deleted   login.ts",
      "  modified  router.ts",
      "  deleted   scratch.md  (uncommitted work, set aside: kept on a branch)  (a change the task did not make: refused without --force)",
      "Nothing was changed.",
      "",
    ]);
    expect(g(worktree, "rev-parse", "HEAD")).toBe(shas[1]);
    expect(existsSync(join(worktree, "scratch.md"))).toBe(true);
  });

  it("forks from a checkpoint and compares the fork side by side: the conversation from the common point, the code between their latest checkpoints", async () => {
    await click(page, "Fork from checkpoint 1");
    await seeText(page, "A new task");
    await click(page, "Fork", "main .confirm");
    await seeText(page, "Forked as");
    const forkId = await page.$eval("main .confirm a[href^='#/task/']", (a) => a.getAttribute("href")!.split("/").pop()!);
    // The fork's agent works: a message and a commit on its branch, reported as a checkpoint.
    const dir = join(root, forkId);
    await until("the fork's worktree", async () => existsSync(join(dir, "router.ts")));
    await append(forkId, ["assistant", "Trying passkeys instead."]);
    writeFileSync(join(dir, "passkey.ts"), "export const passkey = true;\n");
    g(dir, "add", ".");
    g(dir, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "passkeys");
    const branch = g(dir, "symbolic-ref", "--short", "HEAD");
    await s.api("POST", `/api/v1/mesh/tasks/${forkId}/checkpoints`, { commitSha: g(dir, "rev-parse", "HEAD"), branchName: branch, message: "passkeys" });

    await click(page, "compare side by side");
    await seeText(page, "Side by side");
    await seeText(page, "2 messages in common");
    await seeText(page, "Trying passkeys instead.");
    await seeText(page, "The form is done.");
    await seeText(page, "passkey.ts");
    await page.waitForSelector("main .d2h");
    expect(await axeViolations(page)).toEqual([]);
  });
});
