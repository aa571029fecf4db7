import { brotliCompressSync, brotliDecompressSync, constants } from "node:zlib";
import { ConversationMessage } from "../models.js";
import type { Item } from "./table.js";

/**
 * How a message sits in its log item: id, role, timestamp and receive time as plain
 * attributes (for projections and humans), everything else as one
 * brotli-compressed JSON attribute. Conversations are text: this halves the
 * bytes stored and the write units of the dominant item, at ~0.4 ms a message
 * (quality 5; higher qualities cost ten times the CPU for ~10% more).
 */
const BROTLI = {
  params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT },
};

export function encodeMessage(message: ConversationMessage): Item {
  const { id, role, timestamp, receivedAt, truncated, ...rest } = message;
  return {
    id,
    role,
    timestamp,
    ...(receivedAt ? { receivedAt } : {}),
    ...(truncated ? { truncated } : {}),
    body: brotliCompressSync(Buffer.from(JSON.stringify(rest)), BROTLI),
  };
}

export function decodeMessage(item: Item): ConversationMessage {
  const body = item.body as Uint8Array | undefined;
  const rest = body ? JSON.parse(brotliDecompressSync(body).toString("utf8")) : {};
  return ConversationMessage.parse({
    ...rest,
    id: item.id,
    role: item.role,
    timestamp: item.timestamp,
    ...(item.receivedAt ? { receivedAt: item.receivedAt } : {}),
    ...(item.truncated ? { truncated: true } : {}),
  });
}
