import { describe, expect, it } from "vitest";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { isWriteConflict, retryOnConflict } from "../core/store/conflicts.js";

const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({ message: "cancelled", $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })) });
const conflict = () => cancelled("None", "TransactionConflict");

/** An attempt that fails with `errors` in turn, then returns its number. */
function failing(errors: Error[]) {
  const seen: number[] = [];
  const attempt = async (n: number) => {
    seen.push(n);
    const error = errors[n];
    if (error) throw error;
    return n;
  };
  return { attempt, seen };
}

describe("retrying on a write conflict", () => {
  it("knows a conflict: a cancelled transaction's condition or conflict, a failed condition, an item held by a transaction", () => {
    expect(isWriteConflict(cancelled("ConditionalCheckFailed", "None"))).toBe(true);
    expect(isWriteConflict(conflict())).toBe(true);
    expect(isWriteConflict(cancelled("None", "ValidationError"))).toBe(false);
    expect(isWriteConflict(Object.assign(new Error("held"), { name: "TransactionConflictException" }))).toBe(true);
    expect(isWriteConflict(Object.assign(new Error("no"), { name: "ConditionalCheckFailedException" }))).toBe(true);
    expect(isWriteConflict(new Error("network"))).toBe(false);
  });

  it("retries conflicts until an attempt goes through, each attempt told its number", async () => {
    const { attempt, seen } = failing([conflict(), conflict()]);
    expect(await retryOnConflict(attempt, isWriteConflict, { attempts: 5, baseMs: 1, capMs: 2 })).toBe(2);
    expect(seen).toEqual([0, 1, 2]);
  });

  it("stops at the attempts allowed, and at once on anything that is not a conflict", async () => {
    const last = conflict();
    const limited = failing([conflict(), conflict(), last, conflict()]);
    await expect(retryOnConflict(limited.attempt, isWriteConflict, { attempts: 3, baseMs: 1, capMs: 2 })).rejects.toBe(last);
    expect(limited.seen).toEqual([0, 1, 2]);

    const broken = new Error("network");
    const other = failing([conflict(), broken]);
    await expect(retryOnConflict(other.attempt, isWriteConflict, { attempts: 10, baseMs: 1, capMs: 2 })).rejects.toBe(broken);
    expect(other.seen).toEqual([0, 1]);
  });

  it("stops once past a deadline, which may move while it runs", async () => {
    const first = conflict();
    const past = failing([first, conflict()]);
    await expect(retryOnConflict(past.attempt, isWriteConflict, { until: Date.now() - 1 })).rejects.toBe(first);
    expect(past.seen).toEqual([0]);

    // Pushed back after each conflict (others making progress): it keeps going.
    let deadline = Date.now() - 1;
    const moving = failing([conflict(), conflict()]);
    const result = retryOnConflict(
      async (n) => {
        deadline = Date.now() + 60_000;
        return moving.attempt(n);
      },
      isWriteConflict,
      { until: () => deadline, baseMs: 1, capMs: 2 },
    );
    expect(await result).toBe(2);
  });
});
