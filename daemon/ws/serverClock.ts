/**
 * The clock a daemon makes report stream ids from: its own, set to the
 * server's when the two differ by more than a minute (the server refuses a
 * stream more than a few minutes ahead of it, and a stream behind the one
 * the task has is superseded). Learnt from each `welcome`; until one comes,
 * the daemon's own.
 */
const TOLERATED_DRIFT_MS = 60_000;

export class ServerClock {
  private driftMs = 0;

  constructor(private readonly own: () => number = Date.now) {}

  /** The server's time as a `welcome` gave it, read on arrival. */
  learn(serverTime: string): void {
    const server = Date.parse(serverTime);
    if (!Number.isFinite(server)) return;
    const drift = this.own() - server;
    this.driftMs = Math.abs(drift) > TOLERATED_DRIFT_MS ? drift : 0;
  }

  now(): Date {
    return new Date(this.own() - this.driftMs);
  }
}
