import { gunzipSync, gzipSync } from "node:zlib";

/**
 * Payloads too large for a WebSocket message travel through S3: the server
 * puts a presigned URL in the command and the daemon PUTs or GETs the JSON
 * there. Uploads are gzip (the server recognises it by its magic bytes).
 */

const TIMEOUT_MS = 5 * 60 * 1000;

export async function uploadJson(url: string, value: unknown): Promise<number> {
  const body = gzipSync(Buffer.from(JSON.stringify(value)));
  const res = await fetch(url, { method: "PUT", body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`upload to the presigned URL failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return body.length;
}

export async function downloadJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`download from the presigned URL failed: HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  // fetch undoes a gzip Content-Encoding itself; an object stored gzip without it is still gzip here.
  const text = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString("utf8") : bytes.toString("utf8");
  return JSON.parse(text);
}
