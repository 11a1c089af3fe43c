/**
 * The wire format shared by devices and collectors.
 *
 * An envelope is a JSON object with a clear header (what a collector needs to
 * route, refuse and count a message without opening it) and a payload sealed
 * with HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM)
 * to the home region's public key. The header is the seal's associated data,
 * so it cannot be changed without the seal failing; the whole envelope is
 * signed with the device's Ed25519 key.
 *
 * The clear header carries no personal data: the device is named by the id of
 * its factory key (a pseudonym that only the fleet registry can resolve), and
 * the build number is the software release, not the device.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";

/** Version of the envelope format itself. */
export const ENVELOPE_FORMAT = 1;

/** The clear part of an envelope. Every string is free of newlines (checked by the collector's schema). */
export interface EnvelopeHeader {
  /** Envelope format version, always 1. */
  v: number;
  /** Collection name, e.g. `activation`. */
  collection: string;
  /** Version of the collection's schema the payload follows. */
  schemaVersion: number;
  /** Unique id of this message (UUID); a retry reuses it. */
  eventId: string;
  /** Id of the device's factory key (see `deviceKeyId`). */
  device: string;
  /** Home region the device was provisioned for. */
  region: string;
  /** Id of the region key the payload is sealed to. */
  kid: string;
  /** Build number installed on the device. */
  build: string;
  /** When the device sent it, RFC 3339 UTC. */
  sentAt: string;
}

/** A complete envelope as sent on the wire. */
export interface Envelope extends EnvelopeHeader {
  /** HPKE encapsulated key, base64url. */
  enc: string;
  /** HPKE ciphertext of the JSON payload, base64url. */
  ct: string;
  /** Ed25519 signature over `signingInput`, base64url. */
  sig: string;
}

const HEADER_FIELDS = [
  "v",
  "collection",
  "schemaVersion",
  "eventId",
  "device",
  "region",
  "kid",
  "build",
  "sentAt",
] as const;

const encoder = new TextEncoder();

/** The bytes the seal binds as associated data: the header fields in a fixed order, one per line. */
export function headerBytes(header: EnvelopeHeader): Uint8Array {
  return encoder.encode(`phonehome-envelope\n${HEADER_FIELDS.map((f) => String(header[f])).join("\n")}`);
}

/** The bytes the device signs: the header, then the encapsulated key and the ciphertext. */
export function signingInput(envelope: Omit<Envelope, "sig">): Uint8Array {
  const header = headerBytes(envelope);
  const tail = encoder.encode(`\n${envelope.enc}\n${envelope.ct}`);
  const out = new Uint8Array(header.length + tail.length);
  out.set(header, 0);
  out.set(tail, header.length);
  return out;
}

/** The HPKE suite every region key uses. */
export const hpke = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

/** HPKE `info`: binds a seal to one region, so a payload sealed for `cn` cannot be opened as `global`'s. */
export function sealInfo(region: string): Uint8Array {
  return encoder.encode(`phonehome/v1 region=${region}`);
}

/** Id of a public key: `prefix` + the first 20 bytes of its SHA-256, base64url. Stable and not reversible. */
export function keyId(prefix: "dk_" | "rk_", publicKeyRaw: Uint8Array): string {
  return prefix + createHash("sha256").update(publicKeyRaw).digest().subarray(0, 20).toString("base64url");
}

/** The device pseudonym carried in the clear header: the id of its Ed25519 public key. */
export function deviceKeyId(publicKeyBase64url: string): string {
  return keyId("dk_", Buffer.from(publicKeyBase64url, "base64url"));
}

/** The id of a region's X25519 public key. */
export function regionKeyId(publicKeyBase64url: string): string {
  return keyId("rk_", Buffer.from(publicKeyBase64url, "base64url"));
}

// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): this prefix, then the raw 32 bytes.
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** Imports a raw 32-byte Ed25519 public key given as base64url; throws on any other length. */
export function ed25519PublicKey(base64url: string): KeyObject {
  const raw = Buffer.from(base64url, "base64url");
  if (raw.length !== 32) throw new Error(`an Ed25519 public key has 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

/** Imports an Ed25519 private key given as its raw 32-byte seed plus public key, both base64url. */
export function ed25519PrivateKey(privateBase64url: string, publicBase64url: string): KeyObject {
  return createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: privateBase64url, x: publicBase64url },
    format: "jwk",
  });
}

/** Signs `data` with an Ed25519 private key; base64url. */
export function signBytes(data: Uint8Array, key: KeyObject): string {
  return sign(null, data, key).toString("base64url");
}

/** Verifies an Ed25519 signature given as base64url; false on any malformed input. */
export function verifyBytes(data: Uint8Array, signature: string, key: KeyObject): boolean {
  const sig = Buffer.from(signature, "base64url");
  if (sig.length !== 64) return false;
  return verify(null, data, key, sig);
}

/** Seals `payload` (a JSON value) to a region key and signs the whole envelope with the device key. */
export async function sealEnvelope(
  header: EnvelopeHeader,
  payload: unknown,
  regionPublicKey: string,
  deviceKey: KeyObject,
): Promise<Envelope> {
  const recipientPublicKey = await hpke.kem.deserializePublicKey(
    toArrayBuffer(Buffer.from(regionPublicKey, "base64url")),
  );
  const sender = await hpke.createSenderContext({
    recipientPublicKey,
    info: toArrayBuffer(sealInfo(header.region)),
  });
  const ct = await sender.seal(
    toArrayBuffer(encoder.encode(JSON.stringify(payload))),
    toArrayBuffer(headerBytes(header)),
  );
  const unsigned = {
    ...header,
    enc: Buffer.from(sender.enc).toString("base64url"),
    ct: Buffer.from(ct).toString("base64url"),
  };
  return { ...unsigned, sig: signBytes(signingInput(unsigned), deviceKey) };
}

/** Copies bytes into a fresh ArrayBuffer (the HPKE API takes ArrayBuffers). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}
