import { createHash, randomBytes } from "node:crypto";
import { ApiKey, Owner, type KeyKind } from "../models.js";
import { keys } from "../keys.js";
import { newId } from "../ids.js";
import { notFound } from "../errors.js";
import { type Db, nowIso } from "./db.js";
import { queryPage, type Page } from "./paging.js";

export async function createOwner(db: Db, name: string, id: string = newId()): Promise<Owner> {
  const owner = Owner.parse({ id, name, createdAt: nowIso(db) });
  await db.table.put({ ...keys.owner(id), ...owner });
  return owner;
}

export async function getOwner(db: Db, ownerId: string): Promise<Owner | undefined> {
  const item = await db.table.get(keys.owner(ownerId));
  return item ? Owner.parse(item) : undefined;
}

/** The retention that applies to an owner's snapshots: their own, else the service default. */
export async function retentionDaysOf(db: Db, ownerId: string): Promise<number> {
  return (await getOwner(db, ownerId))?.retentionDays ?? db.retentionDays;
}

export async function setRetention(db: Db, ownerId: string, retentionDays: number): Promise<Owner> {
  const item = await db.table.update(keys.owner(ownerId), {
    UpdateExpression: "SET retentionDays = :d, id = if_not_exists(id, :id), #n = if_not_exists(#n, :id), createdAt = if_not_exists(createdAt, :now)",
    ExpressionAttributeNames: { "#n": "name" },
    ExpressionAttributeValues: { ":d": retentionDays, ":id": ownerId, ":now": nowIso(db) },
    ReturnValues: "ALL_NEW",
  });
  return Owner.parse(item);
}

// ------------------------------------------------------------------ keys

const KEY_PREFIX: Record<KeyKind, string> = { api: "mk_", tool: "mkt_", daemon: "mkd_" };

const hashSecret = (secret: string) => createHash("sha256").update(secret).digest("hex");

/** Creates a key; the secret is returned once and only its hash is stored. */
export async function createApiKey(
  db: Db,
  ownerId: string,
  input: { kind: KeyKind; contractId?: string; name?: string },
): Promise<ApiKey & { key: string }> {
  const secret = KEY_PREFIX[input.kind] + randomBytes(24).toString("base64url");
  const key = ApiKey.parse({ id: newId(), ownerId, ...input, createdAt: nowIso(db) });
  await db.table.put({
    ...keys.apiKey(hashSecret(secret)),
    gsi1pk: keys.ownerKeys(ownerId),
    gsi1sk: key.id,
    ...key,
  });
  return { ...key, key: secret };
}

export async function authenticateKey(db: Db, secret: string): Promise<ApiKey | undefined> {
  const item = await db.table.get(keys.apiKey(hashSecret(secret)));
  return item ? ApiKey.parse(item) : undefined;
}

export function listApiKeys(db: Db, ownerId: string, limit: number, cursor?: string): Promise<Page<ApiKey>> {
  return queryPage(db, {
    scope: `keys:${ownerId}`,
    cursor,
    limit,
    index: "gsi1",
    keyCondition: "gsi1pk = :p",
    values: { ":p": keys.ownerKeys(ownerId) },
    parse: (item) => ApiKey.parse(item),
  });
}

/** Deletes a key (its next use is refused) and returns what it was. */
export async function revokeApiKey(db: Db, ownerId: string, keyId: string): Promise<ApiKey> {
  const { items } = await db.table.query({
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :p AND gsi1sk = :id",
    ExpressionAttributeValues: { ":p": keys.ownerKeys(ownerId), ":id": keyId },
  });
  const item = items[0];
  if (!item) throw notFound("key");
  await db.table.delete({ pk: item.pk as string, sk: item.sk as string });
  return ApiKey.parse(item);
}
