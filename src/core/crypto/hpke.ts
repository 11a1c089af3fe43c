/**
 * The recipient side of one HPKE suite (RFC 9180), on node:crypto:
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode, one message
 * per context (sequence number 0). Devices seal with `@hpke/core`; this opens
 * their seals without WebCrypto's many awaited calls (docs/decisions/0006):
 * one await (the import of `enc`), the rest synchronous.
 *
 * Every secret goes to node:crypto as a KeyObject, never as a Buffer: on
 * Node 24 a Buffer key is told from a KeyObject by two checks that each throw
 * and catch an exception, which costs more than the HMAC it keys
 * (docs/decisions/0060).
 *
 * Nothing else of RFC 9180 is here on purpose: no sealing, no PSK or auth
 * modes, no exporter, no second message per context.
 */
import {
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  hkdfSync,
  KeyObject,
  webcrypto,
} from "node:crypto";

/** A region's X25519 private key, imported once, with its raw public key (`pkRm`, part of the KEM context). */
export interface RecipientKey {
  readonly privateKey: KeyObject;
  readonly publicKeyRaw: Buffer;
}

/** The key and nonce a base-mode key schedule yields for AES-128-GCM. */
export interface BaseContext {
  key: Buffer;
  baseNonce: Buffer;
}

// DER wrapping of a raw X25519 private key (RFC 8410): the prefix, then the 32 bytes.
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519 = { name: "X25519" } as const;

const N_ENC = 32; // Nenc = Npk of X25519
const N_SECRET = 32; // Nsecret of DHKEM(X25519, HKDF-SHA256)
const N_K = 16; // Nk of AES-128-GCM
const N_N = 12; // Nn of AES-128-GCM
const N_T = 16; // Nt of AES-128-GCM
const MODE_BASE = 0x00;

const ascii = (text: string) => Buffer.from(text, "latin1");
const HPKE_V1 = ascii("HPKE-v1");
// suite_id of the KEM ("KEM" || kem_id) and of the whole suite ("HPKE" || kem_id || kdf_id || aead_id).
const KEM_SUITE_ID = Buffer.concat([ascii("KEM"), Buffer.from([0x00, 0x20])]);
const HPKE_SUITE_ID = Buffer.concat([ascii("HPKE"), Buffer.from([0x00, 0x20, 0x00, 0x01, 0x00, 0x01])]);
const EMPTY = Buffer.alloc(0);

/** LabeledExtract (RFC 9180 §4): Extract(salt, "HPKE-v1" || suite_id || label || ikm), HMAC-SHA256 keyed by salt. */
function labeledExtract(suiteId: Buffer, salt: Uint8Array, label: Buffer, ikm: Uint8Array): Buffer {
  // An empty salt is HMAC's empty key, which HMAC pads to the same block as RFC 5869's Nh zero bytes.
  return createHmac("sha256", secretKey(salt))
    .update(HPKE_V1)
    .update(suiteId)
    .update(label)
    .update(ikm)
    .digest();
}

/** The `info` of LabeledExpand (RFC 9180 §4): I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info. */
function labeledInfo(suiteId: Buffer, label: Buffer, info: Uint8Array[], length: number): Buffer {
  return Buffer.concat([Buffer.from([length >> 8, length & 0xff]), HPKE_V1, suiteId, label, ...info]);
}

/**
 * LabeledExpand(LabeledExtract(salt, label1, ikm), label2, info, L) in one native call. HKDF (RFC 5869)
 * is by definition Expand(Extract(salt, ikm), info, L), so `hkdfSync` given the labeled ikm
 * ("HPKE-v1" || suite_id || label1 || ikm) and the labeled info computes exactly that pair of RFC 9180
 * §4, for the price of about one `createHmac`. Where one PRK is expanded twice (`key` and `base_nonce`
 * from `secret`), its Extract runs twice, which changes nothing but the cost of one native HMAC.
 */
function labeledExtractAndExpand(
  salt: Uint8Array,
  labeledIkm: Buffer,
  labeledInfo: Buffer,
  length: number,
): Buffer {
  return Buffer.from(hkdfSync("sha256", secretKey(labeledIkm), salt, labeledInfo, length));
}

/**
 * Bytes as a secret KeyObject. `createSecretKey` refuses zero bytes, which
 * HMAC takes as its empty key (an empty salt): that one case stays a Buffer.
 */
function secretKey(bytes: Uint8Array): KeyObject | Uint8Array {
  return bytes.byteLength === 0 ? bytes : createSecretKey(bytes);
}

const LABEL = {
  eaePrk: ascii("eae_prk"),
  sharedSecret: ascii("shared_secret"),
  pskIdHash: ascii("psk_id_hash"),
  infoHash: ascii("info_hash"),
  secret: ascii("secret"),
  key: ascii("key"),
  baseNonce: ascii("base_nonce"),
};

// In base mode psk_id is empty, so its hash is the same for every message.
const PSK_ID_HASH = labeledExtract(HPKE_SUITE_ID, EMPTY, LABEL.pskIdHash, EMPTY);
// The labeled ikm of `secret = LabeledExtract(shared_secret, "secret", psk)`; psk is empty in base mode.
const SECRET_IKM = Buffer.concat([HPKE_V1, HPKE_SUITE_ID, LABEL.secret]);

/** The labeled infos of `key` and `base_nonce` for one `info`: they depend on nothing else in base mode. */
interface ScheduleInfos {
  info: Buffer;
  key: Buffer;
  baseNonce: Buffer;
}

// A collector opens every seal with one info (its region's), so the last one is kept.
let lastInfos: ScheduleInfos | undefined;

/** The labeled infos of `key` and `base_nonce` for `info`, computed once per info in a row. */
function scheduleInfos(info: Uint8Array): ScheduleInfos {
  if (lastInfos?.info.equals(info)) return lastInfos;
  const infoHash = labeledExtract(HPKE_SUITE_ID, EMPTY, LABEL.infoHash, info);
  const context = Buffer.concat([Buffer.from([MODE_BASE]), PSK_ID_HASH, infoHash]); // key_schedule_context
  lastInfos = {
    info: Buffer.from(info),
    key: labeledInfo(HPKE_SUITE_ID, LABEL.key, [context], N_K),
    baseNonce: labeledInfo(HPKE_SUITE_ID, LABEL.baseNonce, [context], N_N),
  };
  return lastInfos;
}

/** Imports a raw 32-byte X25519 private key (as stored in a region key file) for `openBase`. */
export function importRecipientKey(rawPrivate32: Uint8Array): RecipientKey {
  if (rawPrivate32.length !== 32) throw new Error("hpke: an X25519 private key is 32 bytes");
  const privateKey = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, rawPrivate32]),
    format: "der",
    type: "pkcs8",
  });
  const x = createPublicKey(privateKey).export({ format: "jwk" }).x;
  if (x === undefined) throw new Error("hpke: the key has no X25519 public key");
  return { privateKey, publicKeyRaw: Buffer.from(x, "base64url") };
}

/**
 * Imports the 32 raw bytes of an X25519 public key. WebCrypto's raw import
 * builds the key directly; `createPublicKey` would go through OpenSSL's DER
 * decoders, three times slower.
 */
async function importX25519Public(raw: Uint8Array): Promise<KeyObject> {
  try {
    return KeyObject.from(await webcrypto.subtle.importKey("raw", raw, X25519, true, []));
  } catch {
    throw new Error("hpke: enc is not a usable X25519 public key");
  }
}

/** Decap of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1): the shared secret of `enc` for this recipient. */
export async function decap(recipient: RecipientKey, enc: Uint8Array): Promise<Buffer> {
  if (enc.length !== N_ENC) throw new Error("hpke: enc must be 32 bytes");
  const publicKey = await importX25519Public(enc);
  let dh: Buffer;
  try {
    dh = diffieHellman({ privateKey: recipient.privateKey, publicKey });
  } catch {
    // OpenSSL itself refuses a low-order point (all-zero result); say so without its internals.
    throw new Error("hpke: enc is not a usable X25519 public key");
  }
  // RFC 9180 §7.1.4: an all-zero X25519 result (a low-order enc) must abort, whatever the library did.
  let any = 0;
  for (const byte of dh) any |= byte;
  if (any === 0) throw new Error("hpke: enc is not a usable X25519 public key");
  // shared_secret = ExtractAndExpand(dh, kem_context), kem_context = enc || pkRm
  const ikm = Buffer.concat([HPKE_V1, KEM_SUITE_ID, LABEL.eaePrk, dh]);
  dh.fill(0);
  const info = labeledInfo(KEM_SUITE_ID, LABEL.sharedSecret, [enc, recipient.publicKeyRaw], N_SECRET);
  const sharedSecret = labeledExtractAndExpand(EMPTY, ikm, info, N_SECRET);
  ikm.fill(0);
  return sharedSecret;
}

/** KeySchedule of RFC 9180 §5.1 in base mode: the AEAD key and base nonce for `sharedSecret` and `info`. */
export function deriveBaseContext(sharedSecret: Uint8Array, info: Uint8Array): BaseContext {
  const infos = scheduleInfos(info);
  // secret = LabeledExtract(shared_secret, "secret", psk = ""), then key and base_nonce expanded from it.
  const key = labeledExtractAndExpand(sharedSecret, SECRET_IKM, infos.key, N_K);
  const baseNonce = labeledExtractAndExpand(sharedSecret, SECRET_IKM, infos.baseNonce, N_N);
  return { key, baseNonce };
}

/**
 * Opens a single-shot base-mode seal: Decap, KeySchedule, then AES-128-GCM with
 * the base nonce (sequence number 0) and the last 16 bytes of `ct` as the tag.
 * Throws an `Error` naming only what failed when the seal does not open.
 */
export async function openBase(
  recipient: RecipientKey,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Promise<Buffer> {
  if (ct.length < N_T) throw new Error("hpke: ciphertext shorter than its tag");
  const sharedSecret = await decap(recipient, enc);
  const { key, baseNonce } = deriveBaseContext(sharedSecret, info);
  sharedSecret.fill(0);
  try {
    const decipher = createDecipheriv("aes-128-gcm", createSecretKey(key), baseNonce, {
      authTagLength: N_T,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(ct.subarray(ct.length - N_T));
    const body = decipher.update(ct.subarray(0, ct.length - N_T));
    try {
      decipher.final();
    } catch {
      body.fill(0);
      throw new Error("hpke: the seal does not authenticate");
    }
    return body;
  } finally {
    key.fill(0);
  }
}
