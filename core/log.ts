/**
 * Structured logs: one JSON object per line (Powertools for AWS Lambda's
 * Logger), each carrying the ids of what it is about. A request's or an
 * invocation's ids are kept in an AsyncLocalStorage scope, so concurrent
 * requests on one process (the local server) never mix their ids:
 * `withLogContext` opens a scope (the HTTP app per request, functions/lambda.ts
 * per invocation), `addLogContext` adds what is learnt on the way (the owner
 * after authentication, the operation once the relay makes one).
 *
 * Level: POWERTOOLS_LOG_LEVEL (default INFO).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Logger } from "@aws-lambda-powertools/logger";

/** The ids a line is about; absent when not known (yet) in this scope. */
export interface LogContext {
  requestId?: string;
  ownerId?: string;
  contractId?: string;
  taskId?: string;
  operationId?: string;
  connectionId?: string;
  daemonId?: string;
  route?: string;
}

export type LogFields = Record<string, unknown>;

/** The Powertools Logger every line goes through; functions/lambda.ts adds the Lambda context to it. */
export const logger = new Logger({ serviceName: "makima-history" });

const scope = new AsyncLocalStorage<LogContext>();

const defined = (context: LogContext): LogContext =>
  Object.fromEntries(Object.entries(context).filter(([, value]) => value !== undefined && value !== ""));

/** Runs `fn` in a scope whose lines carry `context` (on top of the enclosing scope's). */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...defined(context) }, fn);
}

/** Adds ids to the current scope: every later line in it carries them. Outside a scope, does nothing. */
export function addLogContext(context: LogContext): void {
  const store = scope.getStore();
  if (store) Object.assign(store, defined(context));
}

/** The current scope's ids. */
export function logContext(): LogContext {
  return { ...scope.getStore() };
}

function errorFields(error: unknown): LogFields {
  if (error instanceof Error) return { error: error.message, errorName: error.name, stack: error.stack };
  return error === undefined ? {} : { error: String(error) };
}

export const log = {
  debug(message: string, fields: LogFields = {}): void {
    logger.debug(message, { ...scope.getStore(), ...fields });
  },
  info(message: string, fields: LogFields = {}): void {
    logger.info(message, { ...scope.getStore(), ...fields });
  },
  /** `error`, when given, is logged as its message (and name and stack if an Error). */
  warn(message: string, fields: LogFields = {}, error?: unknown): void {
    logger.warn(message, { ...scope.getStore(), ...fields, ...errorFields(error) });
  },
  error(message: string, fields: LogFields = {}, error?: unknown): void {
    logger.error(message, { ...scope.getStore(), ...fields, ...errorFields(error) });
  },
};
