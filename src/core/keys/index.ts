/**
 * Keys and secrets, generated into the data directory at first start and never
 * committed: each region's HPKE key pair (devices seal payloads to its public
 * half), each region's Ed25519 signing key (consent receipts), each region's
 * pseudonymisation secret, and the service token that collectors present to
 * the control plane; and how a region signs what it vouches for.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  type webcrypto,
} from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hpke, regionKeyId, toArrayBuffer } from "@phonehome/sdk";
import { CompactSign } from "jose";
import { importRecipientKey, type RecipientKey } from "../crypto/index.ts";
import { readOrCreate } from "./files.ts";
import { type RegionSigningKey, signingKeyId } from "./material.ts";

/** A region's HPKE key pair, raw X25519 keys as base64url. */
export interface RegionKeyFile {
  region: string;
  kid: string;
  publicKey: string;
  privateKey: string;
  createdAt: string;
}

/** A region key pair ready to open seals. */
export interface RegionKeys {
  kid: string;
  publicKey: string;
  privateKey: webcrypto.CryptoKey;
  /** The private key for the collector's `openBase`. */
  recipient: RecipientKey;
}

/** Loads the region's HPKE key pair from `<dataDir>/keys/region-<id>.json`, creating it at first start. */
export async function loadRegionKeys(dataDir: string, region: string): Promise<RegionKeys> {
  const path = join(dataDir, "keys", `region-${region}.json`);
  let fresh: RegionKeyFile | undefined;
  if (!existsSync(path)) {
    const pair = await hpke.kem.generateKeyPair();
    const publicKey = Buffer.from(await hpke.kem.serializePublicKey(pair.publicKey)).toString("base64url");
    const privateKey = Buffer.from(await hpke.kem.serializePrivateKey(pair.privateKey)).toString("base64url");
    fresh = {
      region,
      kid: regionKeyId(publicKey),
      publicKey,
      privateKey,
      createdAt: new Date().toISOString(),
    };
  }
  const file = JSON.parse(readOrCreate(path, () => `${JSON.stringify(fresh, null, 2)}\n`)) as RegionKeyFile;
  if (
    file.region !== region ||
    typeof file.publicKey !== "string" ||
    file.kid !== regionKeyId(file.publicKey) ||
    x25519PublicKeyOf(file.privateKey) !== file.publicKey
  ) {
    throw new Error(`key file ${path} does not hold a key of region ${region}`);
  }
  const privateKey = await hpke.kem.deserializePrivateKey(
    toArrayBuffer(Buffer.from(file.privateKey, "base64url")),
  );
  const recipient = importRecipientKey(Buffer.from(file.privateKey, "base64url"));
  return { kid: file.kid, publicKey: file.publicKey, privateKey, recipient };
}

// PKCS #8 wrapping of a raw X25519 private key (RFC 8410): this prefix, then the 32 bytes.
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** The raw public key (base64url) of a raw X25519 private key (base64url), or null when it is not one. */
function x25519PublicKeyOf(privateKey: unknown): string | null {
  if (typeof privateKey !== "string") return null;
  const raw = Buffer.from(privateKey, "base64url");
  if (raw.length !== 32) return null;
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: "der",
    type: "pkcs8",
  });
  return createPublicKey(key).export({ format: "jwk" }).x ?? null;
}

/** A region's Ed25519 signing key pair as stored, raw keys as base64url. */
export interface RegionSigningKeyFile {
  region: string;
  kid: string;
  publicKey: string;
  privateKey: string;
  createdAt: string;
}

/**
 * Loads the region's Ed25519 signing key from `<dataDir>/keys/region-<id>-signing.json`,
 * creating it at first start. Separate from the HPKE key: a key signs or
 * decrypts, never both.
 */
export function loadRegionSigningKey(dataDir: string, region: string): RegionSigningKey {
  const path = join(dataDir, "keys", `region-${region}-signing.json`);
  const text = readOrCreate(path, () => {
    const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    const fresh: RegionSigningKeyFile = {
      region,
      kid: signingKeyId(String(jwk.x)),
      publicKey: String(jwk.x),
      privateKey: String(jwk.d),
      createdAt: new Date().toISOString(),
    };
    return `${JSON.stringify(fresh, null, 2)}\n`;
  });
  const file = JSON.parse(text) as RegionSigningKeyFile;
  let privateKey: KeyObject | undefined;
  try {
    // node:crypto wants `x` in the JWK but derives the public half from `d`; it is compared below.
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: file.privateKey, x: file.publicKey },
      format: "jwk",
    });
  } catch {
    privateKey = undefined;
  }
  // A file whose halves disagree would publish a key that verifies nothing: refuse it.
  if (
    !privateKey ||
    typeof file.publicKey !== "string" ||
    file.region !== region ||
    file.kid !== signingKeyId(file.publicKey) ||
    createPublicKey(privateKey).export({ format: "jwk" }).x !== file.publicKey
  ) {
    throw new Error(`key file ${path} does not hold a signing key of region ${region}`);
  }
  return { kid: file.kid, publicKey: file.publicKey, privateKey };
}

/** The region's pseudonymisation secret (32 bytes): identifiers pseudonymised with it join only within the region. */
export function loadPseudonymSecret(dataDir: string, region: string): Buffer {
  const text = readOrCreate(join(dataDir, "secrets", `pseudonym-${region}.key`), () =>
    randomBytes(32).toString("base64url"),
  );
  const secret = Buffer.from(text.trim(), "base64url");
  // A short key would make pseudonyms guessable: refuse a damaged file rather than use it.
  if (secret.length !== 32) throw new Error(`pseudonym secret of region ${region} is not 32 bytes`);
  return secret;
}

/**
 * The service token this machine's services present (`secrets/service-token`),
 * created at a first start: what one-off commands send. A running service
 * uses `serviceTokens`, which also accepts the others of a rotation.
 */
export function loadServiceToken(dataDir: string): string {
  return readOrCreate(join(dataDir, "secrets", "service-token"), () =>
    randomBytes(32).toString("base64url"),
  ).trim();
}

/**
 * Signs `payload` as a compact JWS (EdDSA) of type `typ` whose payload is its
 * JSON, under the region's signing key: the one way consent, access and
 * erasure receipts are signed.
 */
export async function signAsRegion(payload: object, key: RegionSigningKey, typ: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ })
    .sign(key.privateKey);
}
export { readOrCreate, writeAside } from "./files.ts";
export {
  embeddedRoot,
  embeddedRootPath,
  type FleetTrust,
  fleetTrustPath,
  generateRootKeyFile,
  loadFleetTrust,
  parseFleetTrust,
  readRootKeyFile,
  type Root,
  type RootKeyFile,
  rootInUse,
} from "./roots.ts";
export { checkKeyFingerprints, type KeyFingerprint, secretFingerprint } from "./fingerprints.ts";
export {
  type AcceptedToken,
  newServiceToken,
  promoteServiceToken,
  readTokenFiles,
  RELOAD_MS,
  type Rotation,
  type ServiceTokenFiles,
  serviceTokenFingerprint,
  serviceTokens,
  stageServiceToken,
  type TokenFiles,
} from "./service-tokens.ts";
export {
  keyWrapSecretPath,
  loadKeyWrapSecret,
  unwrapPrivateKey,
  type WrappedKeyPlace,
  wrapPrivateKey,
} from "./key-wrap.ts";
export {
  existingKeyFiles,
  generateReceiptKeyPair,
  generateSealKeyPair,
  type RawKeyPair,
  receiptSignerOf,
  recipientOf,
  fixedReceiptKeys,
  type ReceiptKeys,
  type RegionSigningKey,
  signingKeyId,
} from "./material.ts";
