/**
 * A region's key pairs as raw bytes: made fresh for a rotation, or read from
 * the key files of a data directory made before keys moved into the store (an
 * upgrade imports them as the region's first keys, so devices and receipts
 * keep working).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { regionKeyId } from "@phonehome/sdk";
import { importRecipientKey, type RecipientKey } from "../crypto/index.ts";

/** A region's signing key, ready to sign what the region vouches for (consent, access and erasure receipts). */
export interface RegionSigningKey {
  /** `rsk_` and the first 20 bytes of the public key's SHA-256, base64url. */
  kid: string;
  /** Raw Ed25519 public key, base64url: what anyone verifies the region's signatures with. */
  publicKey: string;
  privateKey: KeyObject;
}

/** A region's receipt keys: the one that signs now, and every one it used (all stay published). */
export interface ReceiptKeys {
  current(): RegionSigningKey;
  all(): readonly { key: RegionSigningKey; notBefore: Date }[];
}

/** Receipt keys of one key that never rotates (tools and tests that sign with a key of their own). */
export function fixedReceiptKeys(key: RegionSigningKey, notBefore = new Date(0)): ReceiptKeys {
  return { current: () => key, all: () => [{ key, notBefore }] };
}

/** The id of a region signing key: a hash of its public half, so that a verifier can pick the key. */
export function signingKeyId(publicKey: string): string {
  return `rsk_${createHash("sha256").update(Buffer.from(publicKey, "base64url")).digest().subarray(0, 20).toString("base64url")}`;
}

/** A key pair: the raw public key (base64url), its id, and the raw private key. */
export interface RawKeyPair {
  kid: string;
  publicKey: string;
  privateKey: Buffer;
  /** When the pair was made (a key file's `createdAt`, or now). */
  createdAt: Date;
}

/** A fresh X25519 pair for HPKE (kid `rk_…`). */
export function generateSealKeyPair(now = new Date()): RawKeyPair {
  return freshPair("x25519", regionKeyId, now);
}

/** A fresh Ed25519 pair for receipts (kid `rsk_…`). */
export function generateReceiptKeyPair(now = new Date()): RawKeyPair {
  return freshPair("ed25519", signingKeyId, now);
}

function freshPair(curve: "x25519" | "ed25519", idOf: (publicKey: string) => string, now: Date): RawKeyPair {
  // The two calls name their curve literally: node's overloads take no union of key types.
  const key = curve === "x25519" ? generateKeyPairSync("x25519") : generateKeyPairSync("ed25519");
  const jwk = key.privateKey.export({ format: "jwk" });
  const publicKey = String(jwk.x);
  return {
    kid: idOf(publicKey),
    publicKey,
    privateKey: Buffer.from(String(jwk.d), "base64url"),
    createdAt: now,
  };
}

/** A seal key ready for `openBase`; throws when the halves disagree. */
export function recipientOf(pair: Pick<RawKeyPair, "kid" | "publicKey" | "privateKey">): RecipientKey {
  const recipient = importRecipientKey(pair.privateKey);
  if (
    recipient.publicKeyRaw.toString("base64url") !== pair.publicKey ||
    regionKeyId(pair.publicKey) !== pair.kid
  ) {
    throw new Error(`seal key ${pair.kid}: its private half does not match its public key`);
  }
  return recipient;
}

/** A receipt key ready to sign (`signAsRegion`); throws when the halves disagree. */
export function receiptSignerOf(
  pair: Pick<RawKeyPair, "kid" | "publicKey" | "privateKey">,
): RegionSigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: pair.privateKey.toString("base64url"), x: pair.publicKey },
      format: "jwk",
    });
  } catch (cause) {
    throw new Error(`receipt key ${pair.kid} is not an Ed25519 key`, { cause });
  }
  if (
    createPublicKey(privateKey).export({ format: "jwk" }).x !== pair.publicKey ||
    signingKeyId(pair.publicKey) !== pair.kid
  ) {
    throw new Error(`receipt key ${pair.kid}: its private half does not match its public key`);
  }
  return { kid: pair.kid, publicKey: pair.publicKey, privateKey };
}

/**
 * The key files a data directory holds from before keys moved into the store
 * (`keys/region-<id>.json`, `keys/region-<id>-signing.json`), each checked
 * (its halves agree); none is created.
 */
export function existingKeyFiles(
  dataDir: string,
  region: string,
): { seal?: RawKeyPair; receipts?: RawKeyPair } {
  const out: { seal?: RawKeyPair; receipts?: RawKeyPair } = {};
  const sealPath = join(dataDir, "keys", `region-${region}.json`);
  if (existsSync(sealPath)) {
    out.seal = fromFile(sealPath, region);
    recipientOf(out.seal);
  }
  const receiptsPath = join(dataDir, "keys", `region-${region}-signing.json`);
  if (existsSync(receiptsPath)) {
    out.receipts = fromFile(receiptsPath, region);
    receiptSignerOf(out.receipts);
  }
  return out;
}

function fromFile(path: string, region: string): RawKeyPair {
  const file = JSON.parse(readFileSync(path, "utf8")) as {
    region: string;
    kid: string;
    publicKey: string;
    privateKey: string;
    createdAt?: string;
  };
  if (file.region !== region || typeof file.publicKey !== "string" || typeof file.privateKey !== "string") {
    throw new Error(`key file ${path} does not hold a key of region ${region}`);
  }
  const created = Date.parse(file.createdAt ?? "");
  return {
    kid: file.kid,
    publicKey: file.publicKey,
    privateKey: Buffer.from(file.privateKey, "base64url"),
    createdAt: Number.isNaN(created) ? new Date() : new Date(created),
  };
}
