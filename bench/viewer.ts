/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import puppeteer from "puppeteer-core";
import { existsSync } from "node:fs";
import { startLocalStack } from "../stacks/local/stack.js";
import { ensureViewerBuilt, viewerSignInUrl, viewerSizes } from "../stacks/viewer.js";
import { createApiKey, createOwner } from "../core/store/owners.js";
import { formatNumber, invokedDirectly, printTable, writeBenchResult } from "./support.js";

/**
 * bench/viewer: the browser viewer's weight and speed. `js gzip bytes` is
 * the JavaScript it loads (goal ≤ 150 KB); `first render ms` is the time from
 * opening a task's page (a fresh load: sign-in link, scripts, API calls) to
 * its first messages on screen, for a conversation of 2,000 messages on the
 * local stack (goal ≤ 1,000 ms), then to all of them. Headless Chromium
 * (Debian's `chromium`, or CHROMIUM_PATH).
 */
const MESSAGES = 2_000;
const RUNS = 5;
const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p): p is string => !!p && existsSync(p));

function message(i: number) {
  if (i % 10 === 3) return { role: "assistant", content: `Running the tests (${i}).`, toolCalls: [{ id: `c${i}`, name: "bash", input: { command: "npm test -- --run", cwd: "/work" } }] };
  if (i % 10 === 4) return { role: "tool", content: "", toolName: "bash", toolResult: JSON.stringify({ exitCode: 0, stdout: "✓ 42 tests passed\n".repeat(5) }) };
  return {
    role: i % 2 ? "assistant" : "user",
    content: `Message ${i}: **changing** \`router.ts\` so that the login form is reachable.\n\n- one step\n- another step\n\n\`\`\`ts\nexport const routes = [login, signup];\n\`\`\``,
  };
}

export async function runViewerBench(): Promise<void> {
  await ensureViewerBuilt();
  const sizes = viewerSizes();
  console.log(`js bytes: ${formatNumber(sizes.jsBytes)}`);
  console.log(`js gzip bytes: ${formatNumber(sizes.jsGzipBytes)} (goal ≤ 150,000)`);
  console.log(`css gzip bytes: ${formatNumber(sizes.cssGzipBytes)}`);
  if (!CHROMIUM) {
    console.log("(first render skipped: no Chromium; install Debian's chromium or set CHROMIUM_PATH)");
    return;
  }
  const stack = await startLocalStack({});
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"] });
  try {
    const owner = await createOwner(stack.runtime.db, "bench");
    const key = (await createApiKey(stack.runtime.db, owner.id, { kind: "api", name: "bench" })).key;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(stack.apiUrl + path, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      return res.json() as Promise<{ id: string }>;
    };
    const task = await call("POST", "/api/v1/mesh/tasks", { name: "bench", plan: "a long conversation" });
    for (let i = 0; i < MESSAGES; i += 100) {
      await call("POST", `/api/v1/mesh/tasks/${task.id}/messages`, { messages: Array.from({ length: 100 }, (_, j) => message(i + j)) });
    }
    const rows: string[][] = [];
    for (let run = 1; run <= RUNS; run++) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(`${viewerSignInUrl(stack.apiUrl, key)}&next=${encodeURIComponent(`#/task/${task.id}`)}`);
      await page.waitForSelector("main .msg", { timeout: 60_000 });
      // From the document's own start (the browser's navigation), not the driver's.
      const first = await page.evaluate(() => performance.now());
      await page.waitForFunction((n) => document.querySelectorAll("main .msg").length >= n, { timeout: 120_000, polling: 50 }, MESSAGES);
      const all = await page.evaluate(() => performance.now());
      rows.push([String(run), formatNumber(first), formatNumber(all)]);
      await page.close();
    }
    printTable(["run", "first render ms", `all ${formatNumber(MESSAGES)} messages ms`], rows);
    const median = (i: number) => rows.map((r) => Number(r[i]!.replace(/,/g, ""))).sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;
    console.log(`\nfirst render ms: ${formatNumber(median(1))} (median of ${RUNS}; goal ≤ 1,000), all ${formatNumber(MESSAGES)} messages ms: ${formatNumber(median(2))}`);
    writeBenchResult("viewer", { "js gzip bytes": sizes.jsGzipBytes, "first render ms": median(1), [`all ${MESSAGES} messages ms`]: median(2) });
  } finally {
    await browser.close();
    await stack.stop();
  }
}

if (invokedDirectly(import.meta.url)) await runViewerBench();
