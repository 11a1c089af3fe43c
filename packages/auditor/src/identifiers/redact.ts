/**
 * Redacted evidence: never the whole identifier. A prefix that helps
 * diagnosis is kept — the TAC of an IMEI (device model), MCC+MNC of an IMSI
 * (home network), "89" and the country code of an ICCID, the OUI of a MAC
 * (vendor), two decimals of a coordinate (≈ 1 km), the calling code of a
 * phone number, the network part of an IP address, the domain of an e-mail
 * address — and the rest is masked with "•", one for each letter or digit.
 * Separators (":", "-", ".", "@", ",") stay, so the shape remains readable.
 *
 * Whatever the kind, at least half of the letters and digits are masked: a
 * kept prefix is cut short when it would reveal more (so a 15-digit IMEI
 * shows 7 of its 8 TAC digits, and "59.9139" shows "59.9").
 */
import type { IdentifierKind } from "../types.ts";
import { callingCode } from "./country-codes.ts";
import { mccMncLength } from "./mcc.ts";
import { iccidCountry } from "./telecom.ts";

const MASK = "•";
const ALPHANUMERIC = /^[\p{L}\p{N}]$/u;

/** Redacted evidence for a found identifier: a diagnostic prefix at most, and at least half masked. */
export function redact(kind: IdentifierKind, value: string): string {
  switch (kind) {
    case "imei":
    case "imeisv":
      return keepPrefix(value, 8);
    case "imsi":
      return keepPrefix(value, mccMncLength(value));
    case "iccid":
      return keepPrefix(value, 2 + (iccidCountry(value)?.length ?? 2));
    case "mac":
    case "bssid":
      return keepPrefix(value, 6);
    case "gps":
      return value.split(",").map(redactCoordinate).join(",");
    case "msisdn":
      return keepPrefix(value, phonePrefixLength(value));
    case "public-ip":
      return keepPrefix(value, ipPrefixLength(value));
    case "email":
      return keepSuffix(value, countAlphanumerics(value.slice(value.lastIndexOf("@") + 1)));
    default:
      return keepEnds(value, 2);
  }
}

/** Integer degrees and two decimals of one coordinate (E7 integers: all but the last 5 digits). */
function redactCoordinate(coordinate: string): string {
  const point = coordinate.indexOf(".");
  const digits = countAlphanumerics(coordinate);
  if (point < 0) return keepPrefix(coordinate, digits - 5);
  return keepPrefix(coordinate, countAlphanumerics(coordinate.slice(0, point)) + 2);
}

/** The calling code of a "+" or "00" number; otherwise 2 digits. */
function phonePrefixLength(value: string): number {
  const digits = value.replace(/\D/g, "");
  if (value.trimStart().startsWith("+")) return callingCode(digits)?.code.length ?? 2;
  if (digits.startsWith("00")) return 2 + (callingCode(digits.slice(2))?.code.length ?? 0);
  return 2;
}

/** The first two octets of an IPv4 address, the first two groups of an IPv6 one. */
function ipPrefixLength(value: string): number {
  const groups = value.includes(":") ? value.split(":") : value.split(".");
  return countAlphanumerics(groups.slice(0, 2).join(""));
}

/** Keeps at most `wanted` letters and digits from the start, and never more than half of them. */
function keepPrefix(value: string, wanted: number): string {
  const total = countAlphanumerics(value);
  return mask(value, (index) => index < Math.min(wanted, Math.floor(total / 2)));
}

/** Keeps at most `wanted` letters and digits at the end, and never more than half of them. */
function keepSuffix(value: string, wanted: number): string {
  const total = countAlphanumerics(value);
  const kept = Math.min(wanted, Math.floor(total / 2));
  return mask(value, (index) => index >= total - kept);
}

/** Keeps up to `each` letters and digits at both ends, at most a quarter of them at each. */
function keepEnds(value: string, each: number): string {
  const total = countAlphanumerics(value);
  const kept = Math.min(each, Math.floor(total / 4));
  return mask(value, (index) => index < kept || index >= total - kept);
}

/**
 * Masks every letter or digit whose index among the letters and digits is
 * not kept; other characters stay. A value with no letters or digits is
 * masked whole.
 */
function mask(value: string, keep: (alphanumericIndex: number) => boolean): string {
  let out = "";
  let index = 0;
  for (const char of value) {
    if (!isAlphanumeric(char)) {
      out += char;
      continue;
    }
    out += keep(index) ? char : MASK;
    index++;
  }
  return index === 0 ? MASK.repeat(Math.max(1, value.length)) : out;
}

function countAlphanumerics(value: string): number {
  let count = 0;
  for (const char of value) if (isAlphanumeric(char)) count++;
  return count;
}

function isAlphanumeric(char: string): boolean {
  return ALPHANUMERIC.test(char);
}
