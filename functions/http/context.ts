import type { Runtime } from "../../core/runtime.js";
import type { Principal } from "../../core/auth.js";
import type { ServiceContext } from "../../core/services/context.js";

/** What the Lambda adapter hands every request (absent on the local server): the invocation's remaining time. */
interface InvocationClock {
  getRemainingTimeInMillis?: () => number;
}

export interface AppEnv {
  /** The Lambda adapter's bindings: the invocation's clock, and API Gateway's request context (its request id). */
  Bindings: { lambdaContext?: InvocationClock; requestContext?: { requestId?: string } } | undefined;
  Variables: {
    runtime: Runtime;
    principal: Principal;
    service: ServiceContext;
    /** What an idempotent replay of this answer returns, when the answer itself must not be kept (a secret). */
    replayAnswer?: unknown;
  };
}

/** Time kept back from the invocation's end to write the answer (a 202 with the operation id). */
const ANSWER_MARGIN_MS = 1_500;

/**
 * When a request must have answered, in epoch ms: its Lambda invocation's
 * remaining time less the margin to answer. Undefined off Lambda (the local
 * server), where only the relay's own wait bounds a request.
 */
export function requestDeadline(env: AppEnv["Bindings"], now = Date.now()): number | undefined {
  // A context without the clock (a hand-made one, another adapter's) leaves the request unbounded, as off Lambda.
  const clock = env?.lambdaContext;
  const remaining = typeof clock?.getRemainingTimeInMillis === "function" ? clock.getRemainingTimeInMillis() : undefined;
  return typeof remaining === "number" && Number.isFinite(remaining) ? now + Math.max(0, remaining - ANSWER_MARGIN_MS) : undefined;
}
