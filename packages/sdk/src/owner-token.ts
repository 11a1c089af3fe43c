/**
 * Owner tokens: how the person holding a device proves it, without an account.
 * The device signs a short-lived JWT (EdDSA, its factory key); a region checks
 * it against the key the factory registered. A token names one device (its
 * key id), so it can only ever open that device's data.
 */
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { ed25519PrivateKey } from "./envelope.ts";
import { SdkError } from "./errors.ts";
import type { DeviceIdentity } from "./identity.ts";

/** The JWT `typ` of an owner token. */
export const OWNER_TOKEN_TYPE = "phonehome-owner+jwt";
/** The audience every phonehome region accepts. */
export const OWNER_TOKEN_AUDIENCE = "phonehome";
/** Longest lifetime a region accepts, in seconds. */
export const OWNER_TOKEN_MAX_SECONDS = 3600;

/** Mints an owner token for the device, valid `ttlSeconds` (default 600, at most 3600) from `now`. */
export async function mintOwnerToken(
  identity: DeviceIdentity,
  options: { ttlSeconds?: number; now?: Date } = {},
): Promise<string> {
  const ttl = options.ttlSeconds ?? 600;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > OWNER_TOKEN_MAX_SECONDS) {
    throw new SdkError(
      "sdk.options_invalid",
      `ttlSeconds must be a whole number from 1 to ${OWNER_TOKEN_MAX_SECONDS}`,
    );
  }
  const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: identity.keyId })
    .setSubject(identity.keyId)
    .setAudience(OWNER_TOKEN_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttl)
    .setJti(randomUUID())
    .sign(ed25519PrivateKey(identity.privateKey, identity.publicKey));
}

/**
 * The link a device shows (as text and as a QR code) to open its data in the
 * owner portal of its home region: the token travels in the fragment, which a
 * browser never sends to a server, and the portal takes it out of the address
 * bar once read. `portal` defaults to the home region's `/portal/`.
 */
export function ownerPortalLink(identity: DeviceIdentity, token: string, portal?: string): string {
  const base = portal ?? `${identity.home.url.replace(/\/+$/, "")}/portal/`;
  return `${base}#token=${encodeURIComponent(token)}`;
}
