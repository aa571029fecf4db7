/**
 * A fault-injection wrapper around an AWS SDK client (the DynamoDB document
 * client or the S3 client): it lets every call through except those a rule
 * names — the n-th call of a command kind, or every call from now on — which
 * fail with the error the rule gives, as if the service had answered it
 * (after the SDK's own retries), or wait for the rule's `before` (another
 * actor's work, interleaved just ahead of the call) and then go through.
 * Undo with `restore()`.
 *
 * A rule with `appliedLater` is "error now, applied later": the caller gets
 * the error at once, but the call is kept and goes through when the test
 * says (`applyLater()`), as a request whose answer was lost and which the
 * service carries out late.
 */

export interface FaultRule {
  /** The command's class name, e.g. "TransactWriteCommand", "PutObjectCommand"; "*" for any. */
  command: string;
  /** Fail the n-th matching call (1-based) only; without it, every matching call fails. */
  nth?: number;
  /** The error the call fails with. */
  error?: () => Error;
  /** Instead of failing, run this first, then let the call through. */
  before?: () => Promise<void>;
  /** Keep the call and send it on `applyLater()`, after the caller has seen the error. */
  appliedLater?: boolean;
}

interface Sendable {
  send: (...args: any[]) => Promise<any>;
}

export function injectFaults(client: Sendable) {
  const original = client.send.bind(client);
  const rules: Array<FaultRule & { seen: number }> = [];
  const calls: string[] = [];
  const held: Array<() => Promise<unknown>> = [];
  client.send = async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    const name = command.constructor.name;
    calls.push(name);
    for (const rule of rules) {
      if (rule.command !== "*" && rule.command !== name) continue;
      rule.seen++;
      if (rule.nth !== undefined && rule.nth !== rule.seen) continue;
      if (rule.before) await rule.before();
      if (!rule.error) continue;
      if (rule.appliedLater) held.push(() => original(command, ...rest));
      throw rule.error();
    }
    return original(command, ...rest);
  };
  return {
    calls,
    /** Sends the calls kept by `appliedLater` rules, in order: each one's answer, or the error it met. */
    async applyLater(): Promise<Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>> {
      const out: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
      for (const send of held.splice(0)) {
        try {
          out.push({ ok: true, value: await send() });
        } catch (error) {
          out.push({ ok: false, error });
        }
      }
      return out;
    },
    fail(rule: FaultRule) {
      rules.push({ ...rule, seen: 0 });
    },
    clear() {
      rules.length = 0;
    },
    restore() {
      client.send = original;
    },
  };
}

/** What DynamoDB answers when a table's partition is over its throughput (after the SDK gave up retrying). */
export function throttled(): Error {
  return Object.assign(new Error("Rate of requests exceeds the allowed throughput."), {
    name: "ProvisionedThroughputExceededException",
    $fault: "client",
    $metadata: { httpStatusCode: 400, attempts: 3 },
  });
}

/** A service that cannot be reached at all. */
export function unreachable(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { name: "Error", code: "ECONNREFUSED" });
}

/** S3 or DynamoDB answering 503. */
export function serviceUnavailable(): Error {
  return Object.assign(new Error("Service Unavailable"), { name: "ServiceUnavailable", $fault: "server", $metadata: { httpStatusCode: 503 } });
}
