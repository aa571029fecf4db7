import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import type { DaemonCommand } from "../../core/protocol.js";

/**
 * A stand-in daemon on the local stack's WebSocket gateway: it says hello and
 * answers each command with whatever the test's handler returns (after an
 * optional delay, to make the API answer 202 and the CLI follow the
 * operation). Every command received is kept for assertions.
 */

export type Reply = Record<string, unknown> & { type: string };

export interface FakeDaemonHandler {
  (command: DaemonCommand): { reply?: Reply; delayMs?: number } | undefined;
}

export interface FakeDaemon {
  daemonId: string;
  commands: DaemonCommand[];
  /** Replaces how commands are answered. */
  handle(handler: FakeDaemonHandler): void;
  close(): Promise<void>;
}

export async function startFakeDaemon(wsUrl: string, daemonKey: string, handler: FakeDaemonHandler = () => undefined): Promise<FakeDaemon> {
  const daemonId = randomUUID();
  const socket = new WebSocket(`${wsUrl}?daemonId=${daemonId}`, { headers: { authorization: `Bearer ${daemonKey}` } });
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
    socket.once("unexpected-response", (_req, res) => reject(new Error(`the gateway refused the daemon: ${res.statusCode}`)));
  });
  const commands: DaemonCommand[] = [];
  let current = handler;
  socket.on("message", (data) => {
    const command = JSON.parse(data.toString()) as DaemonCommand;
    if (!command.requestId) return;
    commands.push(command);
    const answer = current(command);
    if (!answer?.reply) return;
    const send = () => socket.send(JSON.stringify({ requestId: command.requestId, ...answer.reply }));
    if (answer.delayMs) setTimeout(send, answer.delayMs);
    else send();
  });
  socket.send(JSON.stringify({ type: "hello", hostname: "fake-daemon", version: "test" }));
  return {
    daemonId,
    commands,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once("close", () => resolve());
        socket.close();
      }),
  };
}
