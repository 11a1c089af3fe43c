/**
 * The key-wrapping secret: the private halves of a region's keys are kept in
 * its store (so every replica uses one set), sealed under this secret, which
 * lives only in the data directory (`<dataDir>/secrets/key-wrap-<region>.key`,
 * 32 bytes) and is generated at a first start. A copy of the store alone —
 * a backup, a dump — opens no seal and signs no receipt.
 *
 * AES-256-GCM with a fresh 96-bit nonce per wrap; the associated data binds the
 * region, the purpose and the key id, so a wrapped key cannot be moved to
 * another row (another region, purpose or kid) and still unwrap.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { join } from "node:path";
import { readOrCreate } from "./files.ts";

/** Where a wrapped key belongs: bound into its seal as associated data. */
export interface WrappedKeyPlace {
  region: string;
  purpose: "seal" | "receipts";
  kid: string;
}

const VERSION = "w1";

/** The path of a region's key-wrapping secret. */
export function keyWrapSecretPath(dataDir: string, region: string): string {
  return join(dataDir, "secrets", `key-wrap-${region}.key`);
}

/** A region's key-wrapping secret (32 bytes), created exclusively at a first start. */
export function loadKeyWrapSecret(dataDir: string, region: string): Buffer {
  const text = readOrCreate(keyWrapSecretPath(dataDir, region), () => randomBytes(32).toString("base64url"));
  const secret = Buffer.from(text.trim(), "base64url");
  // A damaged secret would seal keys no replica can open again: refuse it rather than use it.
  if (secret.length !== 32) throw new Error(`key-wrapping secret of region ${region} is not 32 bytes`);
  return secret;
}

function aad(place: WrappedKeyPlace): Buffer {
  return Buffer.from(`phonehome key wrap\u0000${place.region}\u0000${place.purpose}\u0000${place.kid}`);
}

/** Seals a raw private key: `w1.<nonce>.<ciphertext+tag>`, base64url parts. */
export function wrapPrivateKey(secret: Buffer, place: WrappedKeyPlace, raw: Buffer): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", secret, nonce);
  cipher.setAAD(aad(place));
  const sealed = Buffer.concat([cipher.update(raw), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${nonce.toString("base64url")}.${sealed.toString("base64url")}`;
}

/** Opens a wrapped key; throws when the secret, the place or the text is not the one it was sealed with. */
export function unwrapPrivateKey(secret: Buffer, place: WrappedKeyPlace, wrapped: string): Buffer {
  const [version, nonce, sealed] = wrapped.split(".");
  if (version !== VERSION || nonce === undefined || sealed === undefined) {
    throw new Error(`the wrapped ${place.purpose} key ${place.kid} is not in a form this version reads`);
  }
  const bytes = Buffer.from(sealed, "base64url");
  const iv = Buffer.from(nonce, "base64url");
  // A whole 16-byte tag and a 12-byte nonce, or nothing: GCM would otherwise check a shortened tag.
  if (bytes.length <= 16 || iv.length !== 12) {
    throw new Error(`the wrapped ${place.purpose} key ${place.kid} is too short to be one`);
  }
  const decipher = createDecipheriv("aes-256-gcm", secret, iv, { authTagLength: 16 });
  decipher.setAAD(aad(place));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]);
  } catch (cause) {
    throw new Error(
      `the ${place.purpose} key ${place.kid} of region ${place.region} does not unwrap with this data directory's key-wrapping secret`,
      { cause },
    );
  }
}
