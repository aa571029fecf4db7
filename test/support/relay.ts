import { WebSocket } from "ws";
import { createTestApi, type TestOwner } from "./api.js";
import { tempDir } from "./git.js";
import { freePort } from "../../stacks/local/emulators.js";
import { startWsGateway, type WsGateway } from "../../stacks/local/gateway.js";
import { startDaemon, type Daemon, type DaemonOptions } from "../../daemon/ws/daemon.js";
import type { Config } from "../../core/config.js";

/**
 * The relay as it runs locally: the Hono app on a fresh table (createTestApi)
 * whose runtime posts to a local WebSocket gateway through the real
 * @aws-sdk/client-apigatewaymanagementapi client, the gateway calling the
 * ws-* handlers with API Gateway-shaped events, and daemons (real ones, or
 * scripted WebSocket clients) connected to it.
 */
export async function createRelayEnv(config: Partial<Config> = {}) {
  const port = await freePort();
  const api = await createTestApi({
    config: { relayWaitMs: 5000, relayTimeoutMs: 5000, ...config, wsManagementEndpoint: `http://127.0.0.1:${port}` },
  });
  const gatewayLog: string[] = [];
  const gateway: WsGateway = await startWsGateway(api.runtime, { port, log: (line) => gatewayLog.push(line) });
  const daemons: Daemon[] = [];
  const clients: WebSocket[] = [];

  /** A real daemon on a temporary root (or the one given), connected with the owner's daemon key. */
  async function startTestDaemon(owner: TestOwner, options: Partial<DaemonOptions> = {}) {
    const log: string[] = [];
    const daemon = await startDaemon({
      wsUrl: gateway.url,
      daemonKey: owner.daemonKey,
      root: options.root ?? tempDir("makima-root-"),
      log: (line) => log.push(line),
      commitPollMs: 100,
      reconnectInitialMs: 50,
      reconnectMaxMs: 500,
      ...options,
    });
    daemons.push(daemon);
    await waitFor(async () => (await api.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.some((d: { daemonId: string; hostname?: string }) => d.daemonId === daemon.daemonId && d.hostname));
    return Object.assign(daemon, { log });
  }

  /**
   * A scripted daemon: a plain WebSocket client that answers commands as the
   * test says (or not at all), for timing and failure cases a real daemon
   * would not produce on demand.
   */
  async function scriptedDaemon(owner: TestOwner, daemonId: string, answer?: (command: any, ws: WebSocket) => void | Promise<void>) {
    const ws = new WebSocket(`${gateway.url}/?daemonId=${daemonId}`, { headers: { Authorization: `Bearer ${owner.daemonKey}` } });
    clients.push(ws);
    const received: any[] = [];
    ws.on("message", (data) => {
      const command = JSON.parse(data.toString());
      // The server's welcome after hello answers nothing.
      if (command.type === "welcome") return;
      received.push(command);
      void answer?.(command, ws);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ type: "hello", hostname: `scripted-${daemonId.slice(0, 4)}`, version: "test" }));
    await waitFor(async () => (await api.call("GET", "/api/v1/daemons", { key: owner.apiKey })).body.items.some((d: { daemonId: string; hostname?: string }) => d.daemonId === daemonId && d.hostname));
    return { ws, received };
  }

  async function close() {
    for (const d of daemons.splice(0)) await d.stop().catch(() => undefined);
    for (const c of clients.splice(0)) c.terminate();
    await gateway.stop();
  }

  return { ...api, gateway, gatewayLog, startTestDaemon, scriptedDaemon, close };
}

export type RelayEnv = Awaited<ReturnType<typeof createRelayEnv>>;

/** Polls until `check` is truthy (or throws after `timeoutMs`); returns its value. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
