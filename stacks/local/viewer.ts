import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { VIEWER_DIST, viewerCsp } from "../viewer.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

const SECURITY_HEADERS = {
  "content-security-policy": viewerCsp(),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/**
 * The built viewer at `/` (index.html) and `/assets/<file>`, with its
 * Content-Security-Policy; every other path goes to the API. A path that is
 * not one plain file name under assets/ is never read from disk.
 */
export function withViewer(api: (request: Request) => Response | Promise<Response>, dir = VIEWER_DIST) {
  return (request: Request): Response | Promise<Response> => {
    const { pathname } = new URL(request.url);
    const isIndex = pathname === "/" || pathname === "/index.html";
    const asset = /^\/assets\/([A-Za-z0-9_-]+\.[a-z0-9]+)$/.exec(pathname)?.[1];
    if ((!isIndex && !asset) || (request.method !== "GET" && request.method !== "HEAD")) return api(request);
    const file = isIndex ? join(dir, "index.html") : join(dir, "assets", asset!);
    if (!existsSync(file)) {
      if (isIndex) return new Response("The viewer is not built: run `npm run build`.\n", { status: 503, headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS } });
      return api(request);
    }
    const type = TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream";
    const headers = {
      "content-type": type,
      // Assets are named by their content's hash; the page itself is always asked for again.
      "cache-control": isIndex ? "no-cache" : "public, max-age=31536000, immutable",
      ...SECURITY_HEADERS,
    };
    return new Response(request.method === "HEAD" ? null : readFileSync(file), { headers });
  };
}
