import { v7 as uuidv7, validate } from "uuid";

/** A new id: a UUIDv7, so ids sort by creation time. */
export function newId(at?: Date): string {
  return at ? uuidv7({ msecs: at.getTime() }) : uuidv7();
}

export function isUuid(value: string): boolean {
  return validate(value);
}


function msHex(at: Date): string {
  const ms = Math.max(0, Math.min(at.getTime(), 2 ** 48 - 1));
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}`;
}

/** The smallest UUIDv7 string that can be minted at `at` (for sort-key range queries). */
export function lowestIdAt(at: Date): string {
  return `${msHex(at)}-0000-0000-000000000000`;
}

/** The largest UUIDv7 string that can be minted at `at`. */
export function highestIdAt(at: Date): string {
  return `${msHex(at)}-ffff-ffff-ffffffffffff`;
}

/** The highest id there can be (a history page without a top bound). */
export const HIGHEST_ID = highestIdAt(new Date(8.64e15));


/** When a UUIDv7 was minted (its first 48 bits, in ms). */
export function timeOfId(id: string): Date {
  return new Date(parseInt(id.replace(/-/g, "").slice(0, 12), 16));
}

/** The greatest UUID string that sorts before `id` (for "older than" key ranges). */
export function idBefore(id: string): string {
  const hex = id.replace(/-/g, "");
  const value = BigInt(`0x${hex}`);
  if (value === 0n) return id;
  const prev = (value - 1n).toString(16).padStart(32, "0");
  return `${prev.slice(0, 8)}-${prev.slice(8, 12)}-${prev.slice(12, 16)}-${prev.slice(16, 20)}-${prev.slice(20)}`;
}
