/**
 * The value transforms a field can declare, applied after validation and
 * before anything is stored.
 */
import { createHmac, createSecretKey } from "node:crypto";
import { parseInstant } from "../calendar/index.ts";

/** Prefix of every pseudonym, so a stored pseudonym is never mistaken for a real identifier. */
export const PSEUDONYM_PREFIX = "ps_";

/**
 * The pseudonym of an identifier: HMAC-SHA256 keyed by the region's secret,
 * base64url, prefixed `ps_`. The same identifier gets the same pseudonym within
 * a region (records join there, and an owner's request can find them) but a
 * different one in every other region, so stores cannot be joined across
 * regions. The data category is mixed in so that, say, a serial number and an
 * IMEI that happen to share digits never share a pseudonym.
 */
export function pseudonymise(secret: Uint8Array, dataCategory: string, value: string | number): string {
  // A short key would make pseudonyms guessable by brute force over the identifier space.
  if (secret.byteLength < 16) throw new RangeError("a pseudonymisation secret has at least 16 bytes");
  // A KeyObject, not the bytes: node:crypto tells bytes from a key by throwing (docs/decisions/0060).
  const mac = createHmac("sha256", createSecretKey(secret))
    .update(`${dataCategory}\u0000${String(value)}`, "utf8")
    .digest("base64url");
  return `${PSEUDONYM_PREFIX}${mac}`;
}

/**
 * A timestamp coarsened to its day in UTC, written as every instant the
 * system shows is (ISO 8601, UTC, milliseconds: `2019-02-21T00:00:00.000Z`).
 */
export function coarsenTimestamp(value: string): string {
  const instant = parseInstant(value);
  if (instant === undefined) throw new RangeError(`not a timestamp: ${value}`);
  return `${instant.toISOString().slice(0, 10)}T00:00:00.000Z`;
}

/** A number rounded down to a multiple of `step` (the bucket `[k*step, (k+1)*step)` it falls in). */
export function coarsenNumber(value: number, step: number): number {
  // Steps such as 0.1 are not exact in binary (0.3 / 0.1 = 2.9999999999999996):
  // round the quotient before flooring, and the result to the step's own decimals.
  const bucket = Math.floor(Number((value / step).toPrecision(12))) * step;
  const decimals = (String(step).split(".")[1] ?? "").length;
  return decimals === 0 ? bucket : Number(bucket.toFixed(decimals));
}
