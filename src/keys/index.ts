/**
 * Keys and secrets, generated into the data directory at first start and never
 * committed: each region's HPKE key pair (devices seal payloads to its public
 * half), each region's pseudonymisation secret, and the service token that
 * collectors present to the control plane.
 */
import { randomBytes, type webcrypto } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { hpke, regionKeyId, toArrayBuffer } from "@phonehome/sdk";

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
}

/**
 * Reads a file the system generated, or creates it with `make` when missing.
 * Creation is exclusive (`wx`), so two processes starting at once agree on
 * one value; the file is readable by its owner only.
 */
export function readOrCreate(path: string, make: () => string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  const content = make();
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return readFileSync(path, "utf8");
    throw error;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return content;
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
  if (file.region !== region || file.kid !== regionKeyId(file.publicKey)) {
    throw new Error(`key file ${path} does not hold a key of region ${region}`);
  }
  const privateKey = await hpke.kem.deserializePrivateKey(
    toArrayBuffer(Buffer.from(file.privateKey, "base64url")),
  );
  return { kid: file.kid, publicKey: file.publicKey, privateKey };
}

/** The region's pseudonymisation secret (32 bytes): identifiers pseudonymised with it join only within the region. */
export function loadPseudonymSecret(dataDir: string, region: string): Buffer {
  const text = readOrCreate(join(dataDir, "secrets", `pseudonym-${region}.key`), () =>
    randomBytes(32).toString("base64url"),
  );
  return Buffer.from(text.trim(), "base64url");
}

/** The bearer token collectors present to the control plane's directory. */
export function loadServiceToken(dataDir: string): string {
  return readOrCreate(join(dataDir, "secrets", "service-token"), () =>
    randomBytes(32).toString("base64url"),
  ).trim();
}
