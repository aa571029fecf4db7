import type { Context } from "aws-lambda";
import { logger, withLogContext } from "../core/log.js";

/** The part of an API Gateway event (HTTP or WebSocket) that names the request. */
interface GatewayEvent {
  requestContext?: { requestId?: string; connectionId?: string };
}

function requestContextOf(event: unknown): GatewayEvent["requestContext"] {
  if (typeof event !== "object" || event === null || !("requestContext" in event)) return undefined;
  const context = (event as GatewayEvent).requestContext;
  return typeof context === "object" && context !== null ? context : undefined;
}

/**
 * A Lambda entry point whose log lines carry the invocation: Powertools'
 * Lambda fields (function name, request id, cold start) and, in the log
 * scope, API Gateway's request id (else the invocation's) and the WebSocket
 * connection id.
 */
export function withInvocation<E, C, R>(handler: (event: E, context: C) => Promise<R>) {
  return (event: E, context: C): Promise<R> => {
    const lambda = isLambdaContext(context) ? context : undefined;
    if (lambda) logger.addContext(lambda);
    const gateway = requestContextOf(event);
    return withLogContext({ requestId: gateway?.requestId ?? lambda?.awsRequestId, connectionId: gateway?.connectionId }, () =>
      handler(event, context),
    );
  };
}

/** A whole Lambda context (a test's or a hand-made invoke's may hold only the clock). */
function isLambdaContext(context: unknown): context is Context {
  if (typeof context !== "object" || context === null) return false;
  const { awsRequestId, functionName } = context as Partial<Context>;
  return typeof awsRequestId === "string" && typeof functionName === "string";
}
