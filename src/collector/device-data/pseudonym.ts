/** The pseudonym a device's consent-based records are stored under. */
import { createHmac, createSecretKey } from "node:crypto";

/**
 * The region-keyed pseudonym diagnostics are stored under: HMAC-SHA256 of the
 * device's key id with the region's pseudonymisation secret. Only the region
 * can compute it, so its rows cannot be joined to a serial or across regions.
 */
export function deviceRef(pseudonymSecret: Uint8Array, deviceKey: string): string {
  // A KeyObject, not the bytes: node:crypto tells bytes from a key by throwing (docs/decisions/0060).
  return `dr_${createHmac("sha256", createSecretKey(pseudonymSecret)).update(`device\u0000${deviceKey}`).digest("base64url")}`;
}
