import type { JWTPayload } from "jose";
import type { Config } from "./config.js";
import { DomainError } from "./errors.js";
import * as owners from "./store/owners.js";
import type { Db } from "./store/db.js";

/** Who is calling: an owner, through a user key, a contract-scoped tool key, or a JWT. */
export interface Principal {
  ownerId: string;
  via: "api_key" | "tool_key" | "jwt" | "daemon";
  /** Set for tool keys: the one contract they may touch. */
  contractId?: string;
  keyId?: string;
}

/**
 * An owner id is part of table keys (`OWNER#<id>#KEYS`, …): a JWT subject
 * must keep to an alphabet without the key separator `#`, so that no
 * subject can name another owner's partition. Identity providers' subjects
 * (UUIDs, `auth0|…`, `google-oauth2|…`, e-mail addresses) fit.
 */
const OWNER_ID = /^[A-Za-z0-9._\-|:@+]{1,128}$/;

const unauthorized = (message: string) => new DomainError(401, "unauthorized", message);
export const forbidden = (message: string) => new DomainError(403, "forbidden", message);

export class Authenticator {
  private readonly jwksUrl?: URL;
  /** jose is imported on the first JWT: a deployment without an issuer never loads it. */
  private verifier?: Promise<(token: string) => Promise<JWTPayload>>;

  constructor(
    private readonly db: Db,
    private readonly jwt?: Config["jwt"],
  ) {
    if (jwt) this.jwksUrl = new URL(jwt.jwksUrl);
  }

  private verifyJwt(jwt: NonNullable<Config["jwt"]>, jwksUrl: URL): Promise<(token: string) => Promise<JWTPayload>> {
    this.verifier ??= import("./jwtVerify.js").then(({ createRemoteJWKSet, jwtVerify }) => {
      const jwks = createRemoteJWKSet(jwksUrl);
      // A token without an expiry would be valid forever: refused.
      return async (token) =>
        (await jwtVerify(token, jwks, { issuer: jwt.issuer, audience: jwt.audience, requiredClaims: ["exp"] })).payload;
    });
    return this.verifier;
  }

  /** Resolves `Authorization: Bearer …` for the HTTP API; daemon keys are refused there. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
    if (!match) throw unauthorized("send Authorization: Bearer <key>");
    const token = match[1]!;
    if (token.startsWith("mkd_")) throw forbidden("a daemon key cannot call the HTTP API; use a user API key (mk_…)");
    if (token.startsWith("mk_") || token.startsWith("mkt_")) {
      const key = await owners.authenticateKey(this.db, token);
      if (!key || key.kind === "daemon") throw unauthorized("this key is not valid (revoked or mistyped)");
      return key.kind === "tool"
        ? { ownerId: key.ownerId, via: "tool_key", contractId: key.contractId, keyId: key.id }
        : { ownerId: key.ownerId, via: "api_key", keyId: key.id };
    }
    if (this.jwksUrl && this.jwt && token.split(".").length === 3) {
      const verify = await this.verifyJwt(this.jwt, this.jwksUrl);
      try {
        const payload = await verify(token);
        if (!payload.sub) throw unauthorized("the token has no subject");
        if (!OWNER_ID.test(payload.sub)) {
          throw unauthorized("the token's subject is not a valid owner id (1 to 128 of A–Z a–z 0–9 . _ - | : @ +)");
        }
        return { ownerId: payload.sub, via: "jwt" };
      } catch (error) {
        if (error instanceof DomainError) throw error;
        throw unauthorized("the token is not valid: " + (error as Error).message);
      }
    }
    throw unauthorized("this key is not valid (revoked or mistyped)");
  }

  /** Whether a daemon key is (still) valid. */
  async daemonKeyExists(token: string | undefined): Promise<boolean> {
    if (!token) return false;
    return (await owners.authenticateKey(this.db, token))?.kind === "daemon";
  }

  /** Resolves a daemon key for the WebSocket API's $connect. */
  async authenticateDaemon(token: string | undefined): Promise<{ ownerId: string; keyId: string }> {
    if (!token) throw unauthorized("connect with Authorization: Bearer mkd_… or ?token=mkd_…");
    const key = await owners.authenticateKey(this.db, token);
    if (!key) throw unauthorized("this daemon key is not valid");
    if (key.kind !== "daemon") throw forbidden("only a daemon key (mkd_…) may connect a daemon");
    return { ownerId: key.ownerId, keyId: key.id };
  }
}

/** A short, stable description of the caller for audit events. */
export function actorOf(principal: Principal): string {
  return `${principal.via}:${principal.keyId ?? principal.ownerId}`;
}
