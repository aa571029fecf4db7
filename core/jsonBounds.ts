import * as z from "zod";

/**
 * The bounds every piece of free-form client JSON is held to, on HTTP and on
 * the daemon's WebSocket alike: no empty object keys (DynamoDB refuses an
 * empty attribute name), keys at most 200 characters, only numbers DynamoDB
 * stores exactly (finite, |n| ≤ 2^53 − 1, and 0 or |n| ≥ 1e-130, its smallest
 * magnitude), nesting at most `maxDepth` levels and at most `maxBytes` of
 * JSON. The walk uses an explicit stack, so no input can exhaust the call
 * stack before its depth is checked.
 */
export interface JsonBounds {
  maxBytes: number;
  maxDepth: number;
}

const MAX_JSON_KEY_LENGTH = 200;
/** JSON stored as item attributes (snapshot metadata, checkpoint filesChanged): DynamoDB nests at most 32 levels. */
export const ATTRIBUTE_JSON: JsonBounds = { maxBytes: 16 * 1024, maxDepth: 16 };
/** JSON inside a message (tool inputs): stored compressed, bounded by the message's own size. */
export const MESSAGE_JSON: JsonBounds = { maxBytes: 512 * 1024, maxDepth: 32 };
/** State a daemon hands over (a supervisor's compacted memory), kept in S3. */
export const STATE_JSON: JsonBounds = { maxBytes: 100 * 1024 * 1024, maxDepth: 64 };

const SMALLEST_DYNAMO_MAGNITUDE = 1e-130;

/** What is wrong with `value` as bounded JSON, with the path of the part at fault; undefined if nothing. */
function jsonProblem(value: unknown, bounds: JsonBounds): { path: (string | number)[]; message: string } | undefined {
  const stack: Array<{ value: unknown; depth: number; path: (string | number)[] }> = [{ value, depth: 0, path: [] }];
  while (stack.length > 0) {
    const { value: v, depth, path } = stack.pop()!;
    if (typeof v === "number") {
      if (!Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER || (v !== 0 && Math.abs(v) < SMALLEST_DYNAMO_MAGNITUDE)) {
        return { path, message: `holds a number that cannot be stored exactly (${v})` };
      }
      continue;
    }
    if (v === null || typeof v !== "object") {
      if (v !== undefined && typeof v !== "string" && typeof v !== "boolean") return { path, message: `holds a value that is not JSON` };
      continue;
    }
    if (depth >= bounds.maxDepth) return { path, message: `nests deeper than ${bounds.maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth: depth + 1, path: [...path, i] });
      continue;
    }
    for (const [key, child] of Object.entries(v)) {
      if (key.length === 0) return { path, message: "has an empty key" };
      if (key.length > MAX_JSON_KEY_LENGTH) return { path, message: `has a key over ${MAX_JSON_KEY_LENGTH} characters` };
      stack.push({ value: child, depth: depth + 1, path: [...path, key] });
    }
  }
  // Depth and numbers are checked first, so stringifying cannot recurse past maxDepth.
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? "");
  if (bytes > bounds.maxBytes) return { path: [], message: `is over ${formatBytes(bounds.maxBytes)}` };
  return undefined;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MB` : `${n / 1024} KB`;
}

/** A zod schema held to `bounds` (by default, those of JSON stored as item attributes). */
export function boundedJson<T extends z.ZodType>(schema: T, bounds: JsonBounds = ATTRIBUTE_JSON) {
  return schema.superRefine((value, ctx) => {
    if (value === undefined) return;
    const problem = jsonProblem(value, bounds);
    if (problem) ctx.addIssue({ code: "custom", path: problem.path.map(String), message: `this JSON ${problem.message}` });
  });
}
