import { createHmac, timingSafeEqual } from "node:crypto";
import type * as z from "zod";
import { badRequest } from "./errors.js";

/**
 * Opaque, signed list cursors. A cursor names the list it belongs to (its
 * scope, e.g. `contractHistory:<id>`), so one list refuses another's cursor,
 * and an edited cursor fails its signature. A cursor that decodes is then
 * held to its list's schema: a signed position the list cannot hold (a
 * negative or fractional one, a start key of another kind or partition) is
 * refused like a forged one.
 */
export class CursorCodec {
  constructor(private readonly secret: string) {}

  private mac(payload: string): Buffer {
    return createHmac("sha256", this.secret).update(payload).digest().subarray(0, 16);
  }

  encode(scope: string, position: unknown): string {
    const payload = Buffer.from(JSON.stringify({ s: scope, p: position })).toString("base64url");
    return `${payload}.${this.mac(payload).toString("base64url")}`;
  }

  decode<S extends z.ZodType>(scope: string, cursor: string | undefined, schema: S): z.infer<S> | undefined {
    if (cursor === undefined || cursor === "") return undefined;
    const [payload, signature, extra] = cursor.split(".");
    const invalid = badRequest("cursor is not valid for this list", "cursor");
    if (!payload || !signature || extra !== undefined) throw invalid;
    const given = Buffer.from(signature, "base64url");
    const expected = this.mac(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid;
    let decoded: { s?: unknown; p?: unknown };
    try {
      decoded = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    } catch {
      throw invalid;
    }
    if (decoded.s !== scope) throw invalid;
    const position = schema.safeParse(decoded.p);
    if (!position.success) throw invalid;
    return position.data;
  }
}
