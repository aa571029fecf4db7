import { Authenticator } from "./auth.js";
import type { Config } from "./config.js";
import { ApiGatewayPoster, Relay, type ConnectionPoster } from "./relay.js";
import * as db from "./store/db.js";
import type { Db } from "./store/db.js";

/** The service's parts, wired from configuration: one per Lambda container, or per local server. */
export interface Runtime {
  config: Config;
  db: Db;
  relay: Relay;
  auth: Authenticator;
}

export function createRuntime(config: Config, overrides: { db?: Db; poster?: ConnectionPoster } = {}): Runtime {
  const database = overrides.db ?? db.createDb(config);
  const poster =
    overrides.poster ??
    (config.wsManagementEndpoint
      ? new ApiGatewayPoster(
          config.wsManagementEndpoint,
          config.region,
          // The local gateway accepts any signature; on AWS the Lambda role signs.
          config.dynamoEndpoint ? { accessKeyId: "local", secretAccessKey: "local" } : undefined,
        )
      : undefined);
  return {
    config,
    db: database,
    relay: new Relay(database, poster, { waitMs: config.relayWaitMs, timeoutMs: config.relayTimeoutMs }),
    auth: new Authenticator(database, config.jwt),
  };
}
