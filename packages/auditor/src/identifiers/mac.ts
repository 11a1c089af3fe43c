/**
 * Wi-Fi and Bluetooth MAC addresses (EUI-48) and access-point BSSIDs, written
 * aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff (Cisco), or as 12 bare hex digits
 * under a MAC key. Skipped: the placeholders Android and iOS report when
 * access is denied (02:00:00:00:00:00), all-zero and broadcast, and group
 * (multicast) addresses. A locally administered address is most likely a
 * per-network randomised one: still reported, with lower confidence.
 */
import type { Confidence, IdentifierMatch } from "../types.ts";
import type { KeyContext } from "./context.ts";
import { eachMatch, lower } from "./match.ts";

/**
 * A chain of 3 to 8 hex groups joined by ":", "-" or ".", starting and ending
 * at a non-alphanumeric boundary. Taken whole, so the last six groups of an
 * EUI-64 or IPv6 address are never mistaken for a MAC.
 */
const GROUP_CHAIN = /(?<![0-9A-Za-z])[0-9A-Fa-f]{1,4}(?:[:.-][0-9A-Fa-f]{1,4}){2,7}(?![0-9A-Za-z])/g;
const SEPARATED = /^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$/;
const CISCO = /^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/;

const PLACEHOLDERS = new Set(["000000000000", "020000000000", "ffffffffffff"]);

/** Every written-out MAC or BSSID in `text`. */
export function scanMacs(text: string, context: KeyContext, visit: (match: IdentifierMatch) => void): void {
  if (text.length < 14) return;
  eachMatch(GROUP_CHAIN, text, (found) => {
    const written = found[0];
    if (!SEPARATED.test(written) && !CISCO.test(written)) return;
    const match = macMatch(written, written.replace(/[:.-]/g, ""), context);
    if (match !== null) visit(match);
  });
}

/** 12 bare hex digits under a MAC or BSSID key. */
export function recogniseBareMac(token: string, context: KeyContext): IdentifierMatch | null {
  if (token.length !== 12 || (!context.mac && !context.bssid)) return null;
  return macMatch(token, token, context);
}

/** A MAC or BSSID match from its written form and its 12 hex digits, or null for placeholders and group addresses. */
function macMatch(written: string, hex: string, context: KeyContext): IdentifierMatch | null {
  const digits = hex.toLowerCase();
  if (PLACEHOLDERS.has(digits)) return null;
  const firstOctet = parseInt(digits.slice(0, 2), 16);
  if ((firstOctet & 0x01) !== 0) return null; // I/G bit: a group (multicast) address
  const kind = context.bssid ? "bssid" : "mac";
  let confidence: Confidence = context.mac || context.bssid ? "high" : "medium";
  let detail = `OUI ${digits.slice(0, 6).toUpperCase()}`;
  if ((firstOctet & 0x02) !== 0) {
    confidence = lower(confidence);
    detail = "locally administered (randomised)";
  }
  return { kind, value: written, confidence, detail };
}
