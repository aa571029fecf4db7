/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync } from "node:fs";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ensureViewerBuilt, viewerSignInUrl } from "../../stacks/viewer.js";

/**
 * A real headless Chromium (Debian's `chromium`, or CHROMIUM_PATH) driving
 * the built viewer, with axe-core for accessibility.
 */
export const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p): p is string => !!p && existsSync(p));

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export async function launch(): Promise<Browser> {
  if (!CHROMIUM) throw new Error("no Chromium: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH");
  await ensureViewerBuilt();
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

export interface ViewerPage {
  page: Page;
  /** Console errors and CSP violations the page reported. */
  problems: string[];
}

/** A page signed in through the viewer's link (the key in the fragment), at 1280×900 unless told. */
export async function openViewer(browser: Browser, apiUrl: string, apiKey: string, width = 1280): Promise<ViewerPage> {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 900 });
  page.setDefaultTimeout(20_000);
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  // Each violation of the Content-Security-Policy, with what tried and where from.
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
  });
  await page.goto(viewerSignInUrl(apiUrl, apiKey), { waitUntil: "domcontentloaded" });
  return { page, problems };
}

/** Waits until `text` shows in the page's main region. */
export async function seeText(page: Page, text: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction((t) => document.querySelector("main")?.textContent?.includes(t) ?? false, { timeout, polling: 100 }, text);
}

/** Clicks the first button or link whose text (or aria-label) contains `label`. */
export async function click(page: Page, label: string, within = "main"): Promise<void> {
  const handle = await page.waitForFunction(
    (l, w) =>
      [...document.querySelectorAll(`${w} a, ${w} button`)].find((e) => (e.getAttribute("aria-label") ?? e.textContent ?? "").includes(l) && !(e as HTMLButtonElement).disabled) ?? null,
    { polling: 100 },
    label,
    within,
  );
  await (handle as unknown as { click(): Promise<void> }).click();
}

/** axe-core on the page as it is: its serious and critical violations, one line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(c: Document, o: object): Promise<{ violations: Array<{ id: string; impact: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id}: ${v.targets.join(", ")}`);
}

/** How far the page scrolls sideways (0: it fits). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}
