import { describe, expect, it } from "vitest";
import { forkBranchName } from "../core/services/fork.js";

const parent = { id: "019a2243-9c1e-7b3a-8f00-5d2c4e6a7b81" };
const fork = "019a2244-0000-7000-8000-00000000f0a1";

describe("fork branch names", () => {
  it("name a message fork after the message id's tail, whole, never ending on a dash", () => {
    const name = forkBranchName(parent, { type: "message_id", messageId: "0b1c2d3e-4f50-4a61-8b72-9c8d7e6f5a41", value: "" }, fork);
    expect(name).toBe("makima/fork/4e6a7b81-msg-9c8d7e6f5a41-0000f0a1");
    expect(name).not.toMatch(/-$/);
    expect(forkBranchName(parent, { type: "message_id", messageId: "m3", value: "m3" }, fork)).toBe("makima/fork/4e6a7b81-msg-m3-0000f0a1");
  });
});
