/**
 * Metrics in CloudWatch's embedded metric format (EMF), through Powertools
 * for AWS Lambda's Metrics: each data point is one JSON line on stdout that
 * CloudWatch Logs turns into a metric in the `Makima` namespace, with the
 * `service` dimension and the ones given here. Each point is published at
 * once (its own dimensions, nothing buffered), so concurrent requests on one
 * process cannot mix dimensions, and nothing is lost when an invocation ends
 * early.
 *
 * On by default only on Lambda (AWS_LAMBDA_FUNCTION_NAME set);
 * POWERTOOLS_METRICS_DISABLED=false turns it on anywhere, =true off.
 * docs/operations.md "Metrics" says which metric answers which question.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";

export const METRICS_NAMESPACE = "Makima";

/** Every metric the service emits, with its unit and dimensions. */
export const METRICS = {
  /** One per HTTP answer; `statusClass` is 2xx, 3xx, 4xx or 5xx; `route` as the OpenAPI document names it. */
  HttpResponses: { unit: MetricUnit.Count, dimensions: ["route", "statusClass"] },
  /** Time to answer an HTTP request, by route. */
  HttpLatency: { unit: MetricUnit.Milliseconds, dimensions: ["route"] },
  /** One per command relayed to a daemon; `outcome` is the operation's status, or the error code when none was sent. */
  RelayOutcome: { unit: MetricUnit.Count, dimensions: ["command", "outcome"] },
  /** From dispatch to the daemon's reply (or to the 202 when the wait ended first). */
  RelayLatency: { unit: MetricUnit.Milliseconds, dimensions: ["command", "outcome"] },
  /** Time to append one batch of messages to a task's conversation (take and commit). */
  AppendLatency: { unit: MetricUnit.Milliseconds, dimensions: ["source"] },
  /** Messages in one append; `source` is api or daemon. */
  AppendBatchSize: { unit: MetricUnit.Count, dimensions: ["source"] },
  /** Messages moved into one sealed S3 chunk of a task's log. */
  LogSealed: { unit: MetricUnit.Count, dimensions: [] },
  /** Appends that committed a batch another append had taken and left (its writer died). */
  LogAbandonedCommitted: { unit: MetricUnit.Count, dimensions: [] },
  /** Snapshots one cleanup run deleted. */
  CleanupDeleted: { unit: MetricUnit.Count, dimensions: [] },
  /** Orphaned S3 objects one cleanup run deleted. */
  CleanupOrphansDeleted: { unit: MetricUnit.Count, dimensions: [] },
  /** 1 when a cleanup run stopped with expired snapshots left (time or entry limit), else 0. */
  CleanupBacklog: { unit: MetricUnit.Count, dimensions: [] },
  /** Errors one cleanup run met (each retried by the next run). */
  CleanupErrors: { unit: MetricUnit.Count, dimensions: [] },
  /** How long one cleanup run took. */
  CleanupDuration: { unit: MetricUnit.Milliseconds, dimensions: [] },
} as const;

export type MetricName = keyof typeof METRICS;
type DimensionsOf<N extends MetricName> = Record<(typeof METRICS)[N]["dimensions"][number], string>;

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: "makima-history" });

function enabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env.POWERTOOLS_METRICS_DISABLED;
  if (flag !== undefined && flag !== "") return flag.toLowerCase() !== "true" && flag !== "1";
  return Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
}

/** Emits one data point at once. Never throws: a metric that cannot be written is not the request's failure. */
export function recordMetric<N extends MetricName>(name: N, value: number, dimensions: DimensionsOf<N>): void {
  if (!enabled() || !Number.isFinite(value)) return;
  try {
    const point = metrics.singleMetric();
    for (const [key, dimension] of Object.entries(dimensions) as [string, string][]) point.addDimension(key, dimension);
    point.addMetric(name, METRICS[name].unit, value);
  } catch {
    // Powertools refuses a bad dimension value (empty, too many); the request goes on.
  }
}

/** `2xx` … `5xx` for an HTTP status. */
export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;
