/**
 * Captures what the process writes to stdout and stderr (Powertools' logs and
 * EMF metrics go there through their own Console: warnings and errors to
 * stderr), line by line, while `fn` runs.
 */
export async function captureStdout<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((stream) => stream.write);
  const partials = ["", ""];
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      partials[i] += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      const parts = partials[i]!.split("\n");
      partials[i] = parts.pop() ?? "";
      lines.push(...parts.filter((line) => line.length > 0));
      const callback = rest.find((arg): arg is () => void => typeof arg === "function");
      callback?.();
      return true;
    }) as typeof stream.write;
  });
  try {
    const result = await fn();
    return { result, lines };
  } finally {
    streams.forEach((stream, i) => {
      stream.write = originals[i]!;
      if (partials[i]) lines.push(partials[i]!);
    });
  }
}
/** The lines that are JSON objects, parsed. */
export function jsonLines(lines: string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of lines) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) out.push(value as Record<string, unknown>);
    } catch {
      // not JSON: not ours
    }
  }
  return out;
}
