/**
 * Encryption at rest of what the device must keep readable to itself but to
 * no one else: diagnostics events held until consent (`held.ts`), and the
 * events of a sealed batch waiting in the queue, kept so that the batch can be
 * split should a collector refuse its size (the device cannot open its own
 * seal: only the region key can).
 *
 * AES-256-GCM under a key derived (HKDF-SHA256) from the device's private
 * key, one derived key per role, the role bound again as associated data: a
 * file of one role cannot pass for another's, and nothing about the owner
 * lies in clear on disk.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/** An encrypted value as it is written to disk: base64url IV, ciphertext and GCM tag. */
export interface Encrypted {
  iv: string;
  ct: string;
  tag: string;
}

/** Encrypts and decrypts JSON values of one role under the device's key. */
export class AtRest {
  private readonly key: Buffer;
  private readonly aad: string;

  /**
   * `devicePrivateKey` is the device's Ed25519 seed, base64url; `info` names the role in the key derivation
   * and `aad` binds it to every ciphertext (both fixed per role: changing them makes old files unreadable).
   */
  constructor(devicePrivateKey: string, role: { info: string; aad: string }) {
    this.key = Buffer.from(
      hkdfSync("sha256", Buffer.from(devicePrivateKey, "base64url"), "phonehome/v1", role.info, 32),
    );
    this.aad = role.aad;
  }

  /** Encrypts `value` as JSON; `context` (e.g. the id of what it belongs to) is bound as associated data too. */
  encrypt(value: unknown, context = ""): Encrypted {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(this.associated(context));
    const ct = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
    return {
      iv: iv.toString("base64url"),
      ct: ct.toString("base64url"),
      tag: cipher.getAuthTag().toString("base64url"),
    };
  }

  /** The JSON value in `encrypted`; throws when it was changed, or encrypted under another key, role or context. */
  decrypt(encrypted: Encrypted, context = ""): unknown {
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(encrypted.iv, "base64url"));
    decipher.setAAD(this.associated(context));
    decipher.setAuthTag(Buffer.from(encrypted.tag, "base64url"));
    const plain = Buffer.concat([decipher.update(Buffer.from(encrypted.ct, "base64url")), decipher.final()]);
    return JSON.parse(plain.toString("utf8"));
  }

  private associated(context: string): Buffer {
    // No context keeps the bytes of files written before contexts existed (held events).
    return Buffer.from(context === "" ? this.aad : `${this.aad}\n${context}`);
  }
}

/** True when `value` has the shape of an `Encrypted` (three strings). */
export function isEncrypted(value: unknown): value is Encrypted {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.iv === "string" && typeof v.ct === "string" && typeof v.tag === "string";
}
