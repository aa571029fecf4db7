import { startDaemon, type DaemonOptions } from "./ws/daemon.js";

/**
 * Starts the daemon (`makima daemon`): connects to the WebSocket API with the
 * daemon key, keeps the connection up (hello, heartbeats, reconnects with
 * backoff), and runs the server's commands on worktrees under `root`. The
 * daemon id is kept in `<root>/.makima-daemon.json` when not given. Resolves
 * once connected (or, when the server cannot be reached yet, while it keeps
 * trying); rejects when the server refuses the key.
 */
export type RunDaemonOptions = Pick<DaemonOptions, "wsUrl" | "daemonKey" | "daemonId" | "root" | "repo" | "agentCommand" | "hostname" | "log" | "transferOrigins" | "agentFormat">;

export async function runDaemon(options: RunDaemonOptions): Promise<{ daemonId: string; stop(): Promise<void> }> {
  const daemon = await startDaemon(options);
  return { daemonId: daemon.daemonId, stop: () => daemon.stop() };
}
