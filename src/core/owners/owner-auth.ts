/**
 * Owner authentication without accounts: a short-lived JWT that the device
 * signed with its factory key (minted by the SDK's `mintOwnerToken`). A store
 * resolves the key id in the token through the device directory and verifies
 * the signature against the registered public key; the token then opens that
 * device's data and nothing else — unless the device's data was erased after
 * the token was minted (docs/owners.md): an erasure ends every token minted
 * before it, so a token that leaked cannot reopen what is left, change a
 * consent or ask for another erasure.
 *
 * Every refusal says in plain words what is wrong with the token, never how
 * the library that checked it put it, and never which part of a signature
 * failed.
 */
import {
  OWNER_TOKEN_AUDIENCE,
  OWNER_TOKEN_MAX_SECONDS,
  OWNER_TOKEN_TYPE,
  ed25519PublicKey,
} from "@phonehome/sdk";
import { compactVerify } from "jose";
import type { DeviceDirectory, DirectoryRecord } from "../directory/index.ts";
import { PhoneHomeError } from "../errors/index.ts";

/** Who is asking: the device an owner token proved. */
export interface OwnerContext {
  device: DirectoryRecord;
  /** The token's `jti`, for receipts and logs. */
  tokenId: string;
  /** The token's `iat`: an erasure asked with this token ends every token minted before it. */
  issuedAt: Date;
  expiresAt: Date;
}

/**
 * What a store recorded of a device's erasures: every token minted before
 * `since` is refused, and so is every token an erasure was asked with, except
 * to ask that same request again (a retry, answered from the record).
 */
export interface ErasureEpoch {
  /** The last erasure: whole seconds, as tokens' `iat` are. */
  since: Date;
  /** The token each erasure was asked with (its `jti`), by request id. */
  tokens: readonly { requestId: string; tokenId: string }[];
}

/** Reads a device's erasure epoch from the store that checks the token; null when it has none. */
export type ErasureEpochs = (deviceKey: string) => Promise<ErasureEpoch | null>;

/** Checks `Authorization: Bearer <owner token>`; `repeating` names the erasure a retry asks again. */
export type OwnerAuthenticator = (
  authorization: string | undefined,
  options?: { repeating?: string; now?: Date },
) => Promise<OwnerContext>;

/** The tolerance for clocks, in seconds, on `exp` and `iat`. */
export const OWNER_TOKEN_CLOCK_SKEW_SECONDS = 30;

const KEY_ID = /^dk_[A-Za-z0-9_-]{27}$/;
const PART = /^[A-Za-z0-9_-]*$/;

function refused(reason: string): PhoneHomeError {
  return new PhoneHomeError("auth.owner_token_invalid", `owner token refused: ${reason}`, {
    path: "/headers/authorization",
  });
}

/** Text as a JSON object, or null when it is not one. */
function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const when = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * Checks the claims of a token whose signature verified: its subject,
 * audience, id and times, and that it lives no longer than a token may.
 */
function checkClaims(
  claims: Record<string, unknown>,
  kid: string,
  now: Date,
): { tokenId: string; iat: number; exp: number } {
  const { sub, aud, iat, exp, jti, nbf } = claims;
  for (const [name, value] of [
    ["iat", iat],
    ["exp", exp],
  ] as const) {
    if (typeof value !== "number" || !Number.isFinite(value))
      throw refused(`the token says no ${name === "iat" ? "issue" : "expiry"} time (${name})`);
  }
  if (typeof jti !== "string" || jti === "" || jti.length > 200) throw refused("the token has no id (jti)");
  const issued = Number(iat);
  const expires = Number(exp);
  const nowSeconds = now.getTime() / 1000;
  if (sub !== kid) throw refused("the token is about another device than the key that signed it (sub)");
  if (!(aud === OWNER_TOKEN_AUDIENCE || (Array.isArray(aud) && aud.includes(OWNER_TOKEN_AUDIENCE))))
    throw refused(`the token is not meant for phonehome (aud must be "${OWNER_TOKEN_AUDIENCE}")`);
  if (expires - issued > OWNER_TOKEN_MAX_SECONDS) {
    throw refused(
      `the token lives ${expires - issued} s; an owner token may live ${OWNER_TOKEN_MAX_SECONDS} s at most`,
    );
  }
  if (expires <= nowSeconds - OWNER_TOKEN_CLOCK_SKEW_SECONDS)
    throw refused(`the token expired at ${when(expires)}; ask the device for a new one`);
  const notBefore = typeof nbf === "number" ? Math.max(issued, nbf) : issued;
  if (notBefore > nowSeconds + OWNER_TOKEN_CLOCK_SKEW_SECONDS) {
    throw refused(
      `the token is not valid yet: it was issued for ${when(notBefore)}, later than now (check the device's clock)`,
    );
  }
  return { tokenId: jti, iat: issued, exp: expires };
}

/**
 * Checks `Authorization: Bearer <owner token>` against the device directory
 * and, when `epochs` is given, the device's erasures in this store. Resolves
 * with the device it proves, or throws `auth.owner_token_invalid` saying why.
 */
export async function authenticateOwner(
  directory: DeviceDirectory,
  authorization: string | undefined,
  options: { epochs?: ErasureEpochs; repeating?: string; now?: Date } = {},
): Promise<OwnerContext> {
  const now = options.now ?? new Date();
  const bearer = /^Bearer[ ]+(\S+)$/i.exec(authorization ?? "")?.[1];
  if (bearer === undefined) {
    throw refused(
      authorization === undefined || authorization === ""
        ? "no token was sent: send it as Authorization: Bearer <owner token>"
        : "the Authorization header is not Bearer <owner token>",
    );
  }
  const parts = bearer.split(".");
  const [head = "", body = "", signature = ""] = parts;
  if (parts.length !== 3 || !parts.every((p) => PART.test(p)) || head === "" || body === "")
    throw refused("the token is malformed: an owner token is three base64url parts joined by dots");
  const header = jsonObject(Buffer.from(head, "base64url").toString("utf8"));
  if (header === null) throw refused("the token is malformed: its header is not JSON");
  if (header.alg !== "EdDSA") {
    throw refused(
      `the token is signed with ${typeof header.alg === "string" ? `alg ${header.alg}` : "no algorithm"}; owner tokens are signed with EdDSA (Ed25519)`,
    );
  }
  if (header.typ !== OWNER_TOKEN_TYPE)
    throw refused(`the token is not an owner token (typ must be "${OWNER_TOKEN_TYPE}")`);
  const kid = header.kid;
  if (typeof kid !== "string" || !KEY_ID.test(kid))
    throw refused("the token names no device key (kid must be a dk_… key id)");
  if (signature === "") throw refused("the token is not signed");
  const device = await directory.lookup(kid);
  if (!device) throw refused("no device was provisioned with the key the token names");
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(bearer, ed25519PublicKey(device.publicKey), {
      algorithms: ["EdDSA"],
    }));
  } catch {
    throw refused("the signature does not verify against the device's key");
  }
  // After the signature, so that only the key's holder learns that it was revoked.
  if (device.revoked !== null) {
    throw new PhoneHomeError(
      "auth.owner_token_revoked",
      `owner token refused: the device key that signed it was revoked on ${device.revoked.at} ` +
        `(${device.revoked.reason}); no token of that key opens anything again`,
      { path: "/headers/authorization" },
    );
  }
  const claims = jsonObject(new TextDecoder().decode(payload));
  if (claims === null) throw refused("the token is malformed: its claims are not JSON");
  const { tokenId, iat, exp } = checkClaims(claims, kid, now);
  // Erasures are recorded under the key the device's records are kept under, whichever key asked.
  const epoch = options.epochs === undefined ? null : await options.epochs(device.deviceKey);
  if (epoch !== null) {
    const asked = epoch.tokens.filter((t) => t.tokenId === tokenId);
    const repeating = asked.some((t) => t.requestId === options.repeating);
    if (!repeating && (asked.length > 0 || iat < epoch.since.getTime() / 1000)) {
      throw refused(
        `the token was minted before this device's data was last erased (${epoch.since.toISOString()}); ` +
          "ask the device for a new one",
      );
    }
  }
  return { device, tokenId, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) };
}

/** One erasure as a store recorded it, for `erasureEpochOf`. */
export interface RecordedErasure {
  requestId: string;
  at: Date;
  /** The owner token it was asked with; null for records older than the column. */
  tokenId: string | null;
  tokenIssuedAt: Date | null;
}

/** An erasure as a store's query answers it (times as the driver gives them), for `recordedErasure`. */
export interface ErasureRow {
  requestId: string;
  at: Date | string;
  tokenId: string | null;
  tokenIssuedAt: Date | string | null;
}

/** A row of a store's erasures as `erasureEpochOf` reads it. */
export function recordedErasure(row: ErasureRow): RecordedErasure {
  return {
    requestId: row.requestId,
    at: new Date(row.at),
    tokenId: row.tokenId,
    tokenIssuedAt: row.tokenIssuedAt === null ? null : new Date(row.tokenIssuedAt),
  };
}

/**
 * The epoch a device's erasures set, or null when it has none: the latest of
 * each erasure's time (in whole seconds, as tokens say theirs) and its own
 * token's `iat`. The token's time is the device's clock, like the `iat` of
 * the tokens it is compared with, so a device whose clock runs ahead does not
 * keep the tokens it minted just before the erasure.
 */
export function erasureEpochOf(erasures: readonly RecordedErasure[]): ErasureEpoch | null {
  if (erasures.length === 0) return null;
  let since = 0;
  for (const e of erasures) {
    since = Math.max(since, Math.floor(e.at.getTime() / 1000) * 1000, e.tokenIssuedAt?.getTime() ?? 0);
  }
  return {
    since: new Date(since),
    tokens: erasures.flatMap((e) =>
      e.tokenId === null ? [] : [{ requestId: e.requestId, tokenId: e.tokenId }],
    ),
  };
}

/** An authenticator bound to a directory and, for a store that keeps erasures, their epochs. */
export function ownerAuthenticator(directory: DeviceDirectory, epochs?: ErasureEpochs): OwnerAuthenticator {
  return (authorization, options = {}) =>
    authenticateOwner(directory, authorization, { ...options, ...(epochs === undefined ? {} : { epochs }) });
}
