/**
 * What a daemon does with the server's answer to one of its own messages
 * (the WebSocket `$default` route response): it logs it and never answers it,
 * so a refused message cannot start an exchange of refusals.
 */
import { describe, expect, it } from "vitest";
import { CommandHandler, type CommandHandlerOptions } from "../daemon/ws/handlers.js";
import { TransferPolicy } from "../daemon/ws/transfer.js";
import type { DaemonMessage } from "../core/protocol.js";

function handler() {
  const sent: DaemonMessage[] = [];
  const logged: string[] = [];
  const unused = (name: string) =>
    new Proxy({}, { get: () => { throw new Error(`${name} is not used by this path`); } });
  const options: CommandHandlerOptions = {
    root: "/nonexistent",
    manager: unused("manager") as CommandHandlerOptions["manager"],
    runner: unused("runner") as CommandHandlerOptions["runner"],
    reporter: unused("reporter") as CommandHandlerOptions["reporter"],
    send: async (message) => {
      sent.push(message);
    },
    log: (line) => logged.push(line),
    transfers: new TransferPolicy(undefined),
  };
  return { handler: new CommandHandler(options), sent, logged };
}

describe("the daemon and the server's answers", () => {
  it("logs a refusal of its message and sends nothing back", async () => {
    const { handler: h, sent, logged } = handler();
    await h.handle(JSON.stringify({ error: { code: "validation_failed", message: "type: Invalid discriminator value" } }));
    expect(sent).toEqual([]);
    expect(logged.join("\n")).toContain("validation_failed");
  });

  it("still refuses a malformed command with invalid_command", async () => {
    const { handler: h, sent } = handler();
    await h.handle(JSON.stringify({ type: "rewindToCheckpoint", requestId: "0190a0b0-0000-7000-8000-000000000001" }));
    expect(sent).toMatchObject([{ type: "error", code: "invalid_command", requestId: "0190a0b0-0000-7000-8000-000000000001" }]);
  });
});
