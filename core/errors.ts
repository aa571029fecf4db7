/** Domain errors; the HTTP layer maps `status` and `code` to the API's error body. */
export class DomainError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 429 | 502 | 503 | 504,
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
