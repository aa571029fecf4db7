import { gunzipSync, gzipSync } from "node:zlib";
import type { z } from "zod";
import { WorktreeError } from "../worktree/errors.js";

/**
 * Payloads too large for a WebSocket message travel through S3: the server
 * puts a presigned URL in the command and the daemon PUTs or GETs the JSON
 * there. Uploads are gzip (the server recognises it by its magic bytes).
 *
 * The daemon does not take the server's word for where to go: a URL must be
 * on one of the origins it was configured with, or, failing that, the ones
 * the server named in its `welcome` after hello (the bucket's host). A
 * download is read as a stream and cut off past its size cap, and what it
 * holds is checked against the shape the command says it has.
 */

const TIMEOUT_MS = 5 * 60 * 1000;
/** The largest transfer a daemon reads (a long conversation); past it the download is refused. */
const DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024;

export class TransferPolicy {
  private origins: Set<string> | undefined;
  private readonly configured: boolean;

  constructor(
    origins: string[] | undefined,
    readonly maxBytes: number = DEFAULT_MAX_DOWNLOAD_BYTES,
  ) {
    this.configured = Boolean(origins?.length);
    this.origins = origins?.length ? new Set(origins.map((o) => new URL(o).origin)) : undefined;
  }

  /** The server's `welcome`: taken only when no origins were configured, and only the first time. */
  learn(origins: string[]): boolean {
    if (this.configured || this.origins) return false;
    this.origins = new Set(origins.map((o) => new URL(o).origin));
    return true;
  }

  /** The URL, if this daemon may fetch it; else a clear refusal. */
  check(url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WorktreeError("transfer_refused", "the transfer URL is not a URL");
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
      throw new WorktreeError("transfer_refused", `transfers use http(s), not ${parsed.protocol}`);
    }
    if (!this.origins) {
      throw new WorktreeError("transfer_refused", "no transfer origin is known yet (configure one, or wait for the server's welcome)");
    }
    if (!this.origins.has(parsed.origin)) {
      throw new WorktreeError("transfer_refused", `transfers come only from ${[...this.origins].join(", ")}, not ${parsed.origin}`);
    }
    return parsed;
  }
}

export async function uploadJson(policy: TransferPolicy, url: string, value: unknown): Promise<number> {
  const target = policy.check(url);
  const body = gzipSync(Buffer.from(JSON.stringify(value)));
  const res = await fetch(target, { method: "PUT", body, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "error" });
  if (!res.ok) throw new Error(`upload to the presigned URL failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return body.length;
}

/** Downloads JSON of the given shape from an allowed origin, at most `policy.maxBytes` (before and after gunzip). */
export async function downloadJson<T extends z.ZodType>(policy: TransferPolicy, url: string, schema: T): Promise<z.infer<T>> {
  const source = policy.check(url);
  const res = await fetch(source, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "error" });
  if (!res.ok) throw new WorktreeError("transfer_failed", `download from the presigned URL failed: HTTP ${res.status}`);
  const tooLarge = () => new WorktreeError("transfer_too_large", `the download is over ${policy.maxBytes} bytes; refused`);
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > policy.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > policy.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(Buffer.from(value));
    }
  }
  const bytes = Buffer.concat(chunks);
  let text: string;
  try {
    // fetch undoes a gzip Content-Encoding itself; an object stored gzip without it is still gzip here.
    text = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes, { maxOutputLength: policy.maxBytes }).toString("utf8") : bytes.toString("utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge();
    throw new WorktreeError("transfer_invalid", "the download is not valid gzip");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WorktreeError("transfer_invalid", "the download is not JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new WorktreeError("transfer_invalid", `the download is not what the command said it is: ${detail}`);
  }
  return parsed.data;
}
