/**
 * The device's factory identity: who it is (serial, model, variant, market,
 * build), its Ed25519 key pair, the descriptor of its home region, and the
 * fleet roots it trusts. Written once at the factory, read at every start.
 *
 * `roots` is what lets a region key rotate without touching the device: with
 * roots, the device seals to the region key of the last descriptor it verified
 * under them (the home key only until the first). An identity without roots
 * (made before roots existed) is legacy: the device trusts the home key it was
 * provisioned with and nothing else (decision 0056).
 */
import { generateKeyPairSync } from "node:crypto";
import { readFile } from "node:fs/promises";
import { MAX_FACTORY_ROOTS, type RootKey, rootKeyId } from "./descriptor.ts";
import { deviceKeyId, ed25519PrivateKey } from "./envelope.ts";
import { SdkError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import { isRawKey32, type RegionDescriptor, validateRegionDescriptor } from "./region.ts";

/** Everything a device needs to send home. `privateKey` never leaves the device. */
export interface DeviceIdentity {
  serial: string;
  model: string;
  variant: string;
  /** Country where the device was sold, ISO 3166-1 alpha-2. */
  market: string;
  /** Build number currently installed. */
  build: string;
  /** Raw Ed25519 public key (32 bytes), base64url. */
  publicKey: string;
  /** Raw Ed25519 private key seed (32 bytes), base64url. */
  privateKey: string;
  /** `deviceKeyId(publicKey)`: the pseudonym the device is known by on the wire. */
  keyId: string;
  home: RegionDescriptor;
  /**
   * The fleet root public keys the factory provisioned: a region key is accepted only in a descriptor one
   * of them signed (directly or through the collector's published root chain). Absent in a legacy identity,
   * which trusts `home`'s key alone.
   */
  roots?: RootKey[];
}

/** A fresh Ed25519 key pair, as raw base64url, with its key id. */
export interface DeviceKeys {
  publicKey: string;
  privateKey: string;
  keyId: string;
}

/** The factory facts about a device, without its keys. */
export type DeviceProfile = Pick<DeviceIdentity, "serial" | "model" | "variant" | "market" | "build">;

/** Generates a device's Ed25519 key pair (raw public key and seed, base64url). */
export function generateDeviceKeys(): DeviceKeys {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || typeof jwk.d !== "string") {
    throw new Error("node:crypto exported an Ed25519 JWK without x/d");
  }
  return { publicKey: jwk.x, privateKey: jwk.d, keyId: deviceKeyId(jwk.x) };
}

/**
 * Builds a complete identity for a device with a fresh key pair (what a factory station does), trusting the
 * fleet `roots` (leave them out only to make a legacy identity, pinned to `home`'s key).
 */
export function createDeviceIdentity(
  profile: DeviceProfile,
  home: RegionDescriptor,
  roots?: readonly RootKey[],
): DeviceIdentity {
  return validateIdentity({
    ...profile,
    ...generateDeviceKeys(),
    home,
    ...(roots === undefined ? {} : { roots: [...roots] }),
  });
}

/**
 * The identity with a fresh key pair, keeping its profile and home: a service
 * centre's re-key. The device keeps the new private key; the service centre
 * registers the new public key (`phonehome fleet rekey SERIAL --public-key
 * KEY`), which revokes the old one. Deliver the queue first: envelopes still
 * queued under the old key are refused `device.revoked`, and events held
 * encrypted under it cannot be opened by the new one.
 */
export function rekeyIdentity(identity: DeviceIdentity): DeviceIdentity {
  const current = validateIdentity(identity);
  return validateIdentity({ ...current, ...generateDeviceKeys() });
}

/** Validates an identity; throws `sdk.identity_invalid` naming the first bad field. */
export function validateIdentity(value: unknown): DeviceIdentity {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SdkError("sdk.identity_invalid", "identity must be a JSON object");
  }
  const v = value as Record<string, unknown>;
  const text = (field: keyof DeviceProfile): string => {
    const s = v[field];
    // Header and payload strings must be single-line and bounded (the collector's schema checks the same).
    if (typeof s !== "string" || s.length === 0 || s.length > 128 || /[\r\n]/.test(s)) {
      throw new SdkError(
        "sdk.identity_invalid",
        `${field}: must be a non-empty single-line string of at most 128 characters`,
      );
    }
    return s;
  };
  const profile: DeviceProfile = {
    serial: text("serial"),
    model: text("model"),
    variant: text("variant"),
    market: text("market"),
    build: text("build"),
  };
  if (!/^[A-Z]{2}$/.test(profile.market)) {
    throw new SdkError("sdk.identity_invalid", "market: must be an ISO 3166-1 alpha-2 country code");
  }
  if (!isRawKey32(v.publicKey)) {
    throw new SdkError("sdk.identity_invalid", "publicKey: must be a raw 32-byte Ed25519 key, base64url");
  }
  if (!isRawKey32(v.privateKey)) {
    throw new SdkError("sdk.identity_invalid", "privateKey: must be a raw 32-byte Ed25519 seed, base64url");
  }
  const publicKey = v.publicKey;
  const privateKey = v.privateKey;
  if (v.keyId !== deviceKeyId(publicKey)) {
    throw new SdkError("sdk.identity_invalid", "keyId: must be deviceKeyId(publicKey)");
  }
  // A seed that does not belong to the public key would sign envelopes the collector can never verify.
  let derived: unknown;
  try {
    derived = ed25519PrivateKey(privateKey, publicKey).export({ format: "jwk" }).x;
  } catch (cause) {
    throw new SdkError("sdk.identity_invalid", "privateKey: not a usable Ed25519 key", { cause });
  }
  if (derived !== publicKey) {
    throw new SdkError("sdk.identity_invalid", "privateKey: does not belong to publicKey");
  }
  return {
    ...profile,
    publicKey,
    privateKey,
    keyId: deviceKeyId(publicKey),
    home: validateRegionDescriptor(v.home),
    ...(v.roots === undefined ? {} : { roots: validateRoots(v.roots) }),
  };
}

/** The fleet roots of an identity: 1 to `MAX_FACTORY_ROOTS` keys, each with its id, none twice. */
function validateRoots(value: unknown): RootKey[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_FACTORY_ROOTS) {
    throw new SdkError(
      "sdk.identity_invalid",
      `roots: must list 1 to ${MAX_FACTORY_ROOTS} fleet root keys (leave it out for a legacy identity)`,
    );
  }
  const roots = value.map((r: unknown, i): RootKey => {
    const root = (typeof r === "object" && r !== null ? r : {}) as Record<string, unknown>;
    if (!isRawKey32(root.publicKey)) {
      throw new SdkError(
        "sdk.identity_invalid",
        `roots[${i}].publicKey: must be a raw 32-byte Ed25519 key, base64url`,
      );
    }
    if (root.kid !== rootKeyId(root.publicKey)) {
      throw new SdkError("sdk.identity_invalid", `roots[${i}].kid: must be rootKeyId(publicKey)`);
    }
    return { kid: root.kid, publicKey: root.publicKey };
  });
  if (new Set(roots.map((r) => r.kid)).size !== roots.length) {
    throw new SdkError("sdk.identity_invalid", "roots: a root is listed twice");
  }
  return roots;
}

/** Writes an identity atomically (temp file, fsync, rename) with mode 0600: it holds the private key. */
export async function saveIdentity(path: string, identity: DeviceIdentity): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(validateIdentity(identity), null, 2)}\n`, 0o600);
}

/** Reads and validates an identity file; throws `sdk.identity_invalid` with the reason on a bad file. */
export async function loadIdentity(path: string): Promise<DeviceIdentity> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? "unknown";
    throw new SdkError("sdk.identity_invalid", `cannot read identity file ${path} (${code})`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new SdkError("sdk.identity_invalid", `identity file ${path} is not valid JSON`, { cause });
  }
  try {
    return validateIdentity(parsed);
  } catch (err) {
    if (err instanceof SdkError) {
      throw new SdkError("sdk.identity_invalid", `identity file ${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
