/** Domain errors; the HTTP layer maps `status` and `code` to the API's error body. */
export class DomainError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 429 | 502 | 503 | 504,
    readonly code: string,
    message: string,
    readonly details?: Array<{ path: string; message: string }>,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

export const notFound = (what: string) => new DomainError(404, "not_found", `${what} not found`);
export const conflict = (code: string, message: string) => new DomainError(409, code, message);
export const badRequest = (message: string, path?: string) =>
  new DomainError(400, "validation_failed", message, path ? [{ path, message }] : undefined);
export const noDaemon = (message = "No daemon of yours is online; start one with `makima daemon`") =>
  new DomainError(503, "no_daemon", message);

/** AWS error names that mean "the service is busy or down for now", not "your request is wrong". */
const UNAVAILABLE_NAMES = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "InternalServerError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "SlowDown",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]);

/**
 * Whether an error from the DynamoDB or S3 client means the store is
 * unavailable or throttling (what is left after the SDK's own retries):
 * a throttle, a 5xx, a timeout or a connection that could not be made.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as Error & { code?: string; $fault?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; cause?: unknown };
  if (UNAVAILABLE_NAMES.has(e.name)) return true;
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.$fault === "server") return true;
  // A network failure can come wrapped (AggregateError, fetch's cause).
  if (e instanceof AggregateError) return e.errors.some(isUnavailable);
  return e.cause !== undefined && e.cause !== error && isUnavailable(e.cause);
}

/** Seconds a client should wait before retrying after a 503 `unavailable`. */
export const RETRY_AFTER_SECONDS = 2;

export const unavailable = () =>
  new DomainError(503, "unavailable", "the service's storage is unavailable or busy right now; retry shortly (see Retry-After)");
