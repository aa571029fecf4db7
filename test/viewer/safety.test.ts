/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The viewer with agent-written, hostile content, in a real headless
 * Chromium against the local stack (no daemon): nothing runs, links are
 * inert, the sign-in secret leaves the address, new messages appear without
 * a reload, every page passes axe-core and fits 375 px.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "puppeteer-core";
import { startCliStack, type CliStack } from "../support/cli.js";
import { axeViolations, CHROMIUM, horizontalOverflow, launch, openViewer, seeText } from "./browser.js";
import { viewerSignInUrl } from "../../stacks/viewer.js";

const PAYLOAD = [
  "<script>window.__pwned = 'script'</script>",
  `<img src="x" onerror="window.__pwned = 'img'">`,
  "[click me](javascript:window.__pwned='link')",
  `<a href="javascript:window.__pwned='a'">raw link</a>`,
  `<iframe src="javascript:window.__pwned='frame'"></iframe>`,
  `<div style="position:fixed;inset:0" onclick="window.__pwned='div'">cover</div>`,
  "**bold survives**",
].join("\n\n");

let s: CliStack;
let browser: Browser;
let taskId: string;
let contractId: string;
let checkpointId: string;

const pwned = (page: Page) => page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned);

/** Nothing in the page can run: no script, no handler attribute, no javascript: URL, no frame. */
async function inert(page: Page): Promise<void> {
  const found = await page.evaluate(() => {
    const all = [...document.querySelectorAll("main *")];
    return {
      scripts: document.querySelectorAll("main script, main iframe, main object, main embed").length,
      handlers: all.filter((e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
      jsUrls: all.filter((e) => [...e.attributes].some((a) => /^\s*javascript:/i.test(a.value))).length,
      styled: all.filter((e) => e.hasAttribute("style") && e.closest(".md")).length,
    };
  });
  expect(found).toEqual({ scripts: 0, handlers: 0, jsUrls: 0, styled: 0 });
  expect(await pwned(page)).toBeUndefined();
}

beforeAll(async () => {
  s = await startCliStack();
  contractId = (await s.api("POST", "/api/v1/contracts", { name: "<img src=x onerror=window.__pwned='contract'>" })).body.id;
  taskId = (await s.api("POST", "/api/v1/mesh/tasks", { name: "<script>window.__pwned='task'</script>", plan: PAYLOAD, contractId })).body.id;
  await s.api("POST", `/api/v1/mesh/tasks/${taskId}/messages`, {
    messages: [
      { role: "user", content: PAYLOAD },
      {
        role: "assistant",
        content: "<thinking>\nfirst <img src=x onerror=window.__pwned='thinking'> the **plan**\n</thinking>\n\ncalling a tool",
        toolCalls: [{ id: "c1", name: "<b>bash</b>", input: { command: "<script>window.__pwned='input'</script>" } }],
      },
      { role: "tool", content: "", toolName: "bash", toolResult: `{"html":"<img src=x onerror=\\"window.__pwned='result'\\">"}`, isError: true },
      { role: "assistant", content: "x".repeat(5_000) + " END-OF-LONG" },
    ],
  });
  const cp = await s.api("POST", `/api/v1/mesh/tasks/${taskId}/checkpoints`, {
    commitSha: "a".repeat(40),
    branchName: "main",
    message: "<img src=x onerror=window.__pwned='commit'>",
  });
  checkpointId = cp.body.checkpoint.id;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

describe.skipIf(!CHROMIUM)("the viewer, with hostile content", () => {
  it("is served with a strict Content-Security-Policy and no inline script", async () => {
    const res = await fetch(`${s.stack.apiUrl}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    // Only plain file names under assets/ are read from disk; the rest is the API's.
    const traversal = await fetch(`${s.stack.apiUrl}/assets/..%2F..%2Fpackage.json`);
    expect(traversal.status).toBe(404);
    expect((await traversal.json()).error.code).toBe("route_not_found");
  });

  it("signs in by link, then takes the key out of the address and the history", async () => {
    const { page } = await openViewer(browser, s.stack.apiUrl, s.apiKey);
    await seeText(page, "Timeline");
    expect(page.url()).not.toContain(s.apiKey);
    expect(page.url()).not.toContain("key=");
    expect(await page.evaluate(() => sessionStorage.getItem("makima.key"))).toBe(s.apiKey);
    // The entry that held the key was replaced: going back leaves the viewer, it does not find the key.
    await page.goBack();
    expect(page.url()).not.toContain(s.apiKey);
    await page.close();
  });

  it("renders messages, tool calls and results, names and commit messages as inert text; long messages cut with show all", async () => {
    const { page, problems } = await openViewer(browser, s.stack.apiUrl, s.apiKey);
    await page.evaluate((id) => (location.hash = `#/task/${id}`), taskId);
    await seeText(page, "bold survives");
    await seeText(page, "<script>window.__pwned='task'</script>");
    await seeText(page, "<img src=x onerror=window.__pwned='commit'>");
    // Folded, each under what it is and its gist: the thinking, the call and its command, the result's first line.
    await seeText(page, "Tool call: <b>bash</b> — <script>window.__pwned='input'</script>");
    await seeText(page, `Tool result (error) — {"html":"<img src=x onerror=\\"window.__pwned='result'\\">"}`);
    expect(await page.$eval("main details.thinking", (d) => [(d as HTMLDetailsElement).open, d.querySelector("summary")!.textContent])).toEqual([false, "Thinking"]);
    await page.$$eval("main details", (els) => els.forEach((d) => ((d as HTMLDetailsElement).open = true)));
    expect(await page.$eval("main details.thinking .md strong", (e) => e.textContent)).toBe("plan");
    await seeText(page, `"command": "<script>window.__pwned='input'</script>"`);
    await seeText(page, `"html": "<img src=x onerror=\\"window.__pwned='result'\\">"`);
    expect(await page.$eval("main .md strong", (e) => e.textContent)).toBe("bold survives");
    expect(await page.$$eval("main .md a", (as) => as.map((a) => a.getAttribute("href")))).toEqual([null, null]);
    await inert(page);
    // Clicking what looks like links does nothing either.
    for (const a of await page.$$("main .md a")) await a.click();
    expect(await pwned(page)).toBeUndefined();

    expect(await page.evaluate(() => document.querySelector("main")!.textContent!.includes("END-OF-LONG"))).toBe(false);
    await page.click("main .msg button.link");
    await seeText(page, "END-OF-LONG");
    // No script error either (the policy's reports of what the sanitizer's inert parse met are not errors of the page).
    expect(problems.filter((p) => !p.startsWith("CSP violation:") && !/Content Security Policy/.test(p))).toEqual([]);
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });

  it("follows an address changed while the page is still starting", async () => {
    const page = await browser.newPage();
    // After the first render, before the page's effects have run: a link followed, a bookmark's hash set by a script.
    await page.evaluateOnNewDocument((id) => document.addEventListener("DOMContentLoaded", () => (location.hash = `#/task/${id}`)), taskId);
    await page.goto(viewerSignInUrl(s.stack.apiUrl, s.apiKey), { waitUntil: "domcontentloaded" });
    await seeText(page, "bold survives");
    await page.close();
  });

  it("says in words that no daemon is online when a diff needs one", async () => {
    const { page } = await openViewer(browser, s.stack.apiUrl, s.apiKey);
    await page.evaluate((path) => (location.hash = path), `#/task/${taskId}/checkpoint/${checkpointId}`);
    await seeText(page, "No daemon is online");
    expect(await axeViolations(page)).toEqual([]);
    await page.close();
  });

  it("shows a new message without a reload, within 2 s of it being stored (polling the task)", async () => {
    const { page } = await openViewer(browser, s.stack.apiUrl, s.apiKey);
    await page.evaluate((id) => (location.hash = `#/task/${id}`), taskId);
    await seeText(page, "bold survives");
    await page.evaluate(() => ((window as unknown as { __stay?: boolean }).__stay = true));
    await s.api("POST", `/api/v1/mesh/tasks/${taskId}/messages`, { messages: [{ role: "assistant", content: "a live message" }] });
    await seeText(page, "a live message", 10_000);
    expect(await page.evaluate(() => (window as unknown as { __stay?: boolean }).__stay)).toBe(true);
    // The timeline takes new events on top the same way.
    await page.evaluate(() => (location.hash = "#/"));
    await seeText(page, "Timeline");
    const name = "a contract made while watching";
    await s.api("POST", "/api/v1/contracts", { name });
    await seeText(page, name, 10_000);
    await page.close();
  });

  it("fits 375 px without scrolling sideways and passes axe-core, page by page", async () => {
    const { page } = await openViewer(browser, s.stack.apiUrl, s.apiKey, 375);
    const pages: Array<[string, string]> = [
      ["#/", "Timeline"],
      [`#/contract/${contractId}`, "Supervisor conversation"],
      [`#/task/${taskId}`, "bold survives"],
      [`#/task/${taskId}/checkpoint/${checkpointId}`, "No daemon is online"],
      [`#/compare/${taskId}/${taskId}`, "messages in common"],
    ];
    for (const [hash, text] of pages) {
      await page.evaluate((h) => (location.hash = h), hash);
      await seeText(page, text);
      expect(await horizontalOverflow(page), hash).toBe(0);
      expect(await axeViolations(page), hash).toEqual([]);
    }
    await inert(page);
    await page.close();
  });
});
