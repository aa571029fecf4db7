/**
 * The browser viewer (source in web/, Preact + Vite): built into
 * dist/viewer, served at `/` by the local stack and as a static site on AWS.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const VIEWER_SOURCE = join(ROOT, "web");
export const VIEWER_DIST = join(ROOT, "dist", "viewer");

/**
 * The Content-Security-Policy the viewer is served with (index.html carries
 * the same as a meta tag for hosts that cannot set headers): no inline
 * script or style, nothing from elsewhere, no frames.
 */
export function viewerCsp(apiOrigin = ""): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${apiOrigin ? ` ${apiOrigin}` : ""}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** Builds the viewer into dist/viewer (Vite, with web/vite.config.ts). */
export async function buildViewer(): Promise<void> {
  const { build } = await import("vite");
  // A production build whoever asks (a test runner sets NODE_ENV=test, which Vite would follow).
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ configFile: join(VIEWER_SOURCE, "vite.config.ts"), mode: "production", logLevel: "warn" });
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previous;
  }
}

/** Builds the viewer when dist/viewer is missing or older than its source. */
export async function ensureViewerBuilt(): Promise<void> {
  const index = join(VIEWER_DIST, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newest(VIEWER_SOURCE)) return;
  await buildViewer();
}

/** The built viewer's JavaScript and CSS, raw and gzip-compressed (level 9). */
export function viewerSizes(): { jsBytes: number; jsGzipBytes: number; cssGzipBytes: number } {
  const assets = join(VIEWER_DIST, "assets");
  const files = readdirSync(assets).map((f) => join(assets, f));
  const sum = (ext: string, gzip: boolean) =>
    files.filter((f) => f.endsWith(ext)).reduce((n, f) => n + (gzip ? gzipSync(readFileSync(f), { level: 9 }).length : statSync(f).size), 0);
  return { jsBytes: sum(".js", false), jsGzipBytes: sum(".js", true), cssGzipBytes: sum(".css", true) };
}

/**
 * A link that opens the viewer signed in with `key`: the key rides in the
 * fragment (never sent to a server); the page moves it to sessionStorage
 * and takes it out of the address and the history at once.
 */
export function viewerSignInUrl(baseUrl: string, key: string): string {
  return `${baseUrl.replace(/\/$/, "")}/#key=${encodeURIComponent(key)}`;
}
