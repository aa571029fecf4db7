/**
 * The clock a daemon makes report stream ids from: its own, held back to
 * the server's when its own runs ahead (the server refuses a stream more
 * than a few minutes ahead of it). Learnt from each `welcome`; until one
 * comes, the daemon's own.
 */
const TOLERATED_AHEAD_MS = 60_000;

export class ServerClock {
  private behindMs = 0;

  /** The server's time as a `welcome` gave it, read on arrival. */
  learn(serverTime: string, receivedAt = Date.now()): void {
    const server = Date.parse(serverTime);
    if (!Number.isFinite(server)) return;
    const ahead = receivedAt - server;
    this.behindMs = ahead > TOLERATED_AHEAD_MS ? ahead : 0;
  }

  now(): Date {
    return new Date(Date.now() - this.behindMs);
  }
}
