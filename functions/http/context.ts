import type { Runtime } from "../../core/runtime.js";
import type { Principal } from "../../core/auth.js";
import type { ServiceContext } from "../../core/services/context.js";

export interface AppEnv {
  Variables: {
    runtime: Runtime;
    principal: Principal;
    service: ServiceContext;
    /** What an idempotent replay of this answer returns, when the answer itself must not be kept (a secret). */
    replayAnswer?: unknown;
  };
}
