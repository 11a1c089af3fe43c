/**
 * Owner authentication without accounts: a short-lived JWT that the device
 * signed with its factory key (minted by the SDK's `mintOwnerToken`). A region
 * resolves the key id in the token through the device directory and verifies
 * the signature against the registered public key; the token then opens that
 * device's data and nothing else.
 */
import {
  OWNER_TOKEN_AUDIENCE,
  OWNER_TOKEN_MAX_SECONDS,
  OWNER_TOKEN_TYPE,
  ed25519PublicKey,
} from "@phonehome/sdk";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import type { DeviceDirectory, DirectoryRecord } from "../directory/index.ts";
import { PhoneHomeError } from "../errors/index.ts";

/** Who is asking: the device an owner token proved. */
export interface OwnerContext {
  device: DirectoryRecord;
  /** The token's `jti`, for receipts and logs. */
  tokenId: string;
  expiresAt: Date;
}

const KEY_ID = /^dk_[A-Za-z0-9_-]{27}$/;

function invalid(reason: string): PhoneHomeError {
  return new PhoneHomeError("auth.owner_token_invalid", `owner token refused: ${reason}`, {
    path: "/headers/authorization",
  });
}

/**
 * Checks `Authorization: Bearer <owner token>`; resolves with the device it
 * proves, or throws `auth.owner_token_invalid` saying why (never which part of
 * a signature failed).
 */
export async function authenticateOwner(
  directory: DeviceDirectory,
  authorization: string | undefined,
  now = new Date(),
): Promise<OwnerContext> {
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!match?.[1]) throw invalid("send Authorization: Bearer <owner token>");
  const token = match[1];
  let kid: unknown;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== "EdDSA" || header.typ !== OWNER_TOKEN_TYPE) throw invalid("not an owner token");
    kid = header.kid;
  } catch (error) {
    if (error instanceof PhoneHomeError) throw error;
    throw invalid("malformed token");
  }
  if (typeof kid !== "string" || !KEY_ID.test(kid)) throw invalid("the token names no device key");
  const device = await directory.lookup(kid);
  if (!device) throw invalid("no device was provisioned with the key the token names");
  try {
    const { payload } = await jwtVerify(token, ed25519PublicKey(device.publicKey), {
      algorithms: ["EdDSA"],
      typ: OWNER_TOKEN_TYPE,
      audience: OWNER_TOKEN_AUDIENCE,
      subject: kid,
      requiredClaims: ["iat", "exp", "jti"],
      currentDate: now,
      clockTolerance: 30,
    });
    const iat = Number(payload.iat);
    const exp = Number(payload.exp);
    if (exp - iat > OWNER_TOKEN_MAX_SECONDS)
      throw invalid(`a token may live ${OWNER_TOKEN_MAX_SECONDS} s at most`);
    if (iat * 1000 > now.getTime() + 30_000) throw invalid("the token was issued in the future");
    return { device, tokenId: String(payload.jti), expiresAt: new Date(exp * 1000) };
  } catch (error) {
    if (error instanceof PhoneHomeError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw invalid("the token has expired");
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw invalid("the signature does not verify against the device's key");
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed)
      throw invalid(`claim ${error.claim}: ${error.reason}`);
    throw invalid("malformed token");
  }
}
