/**
 * CDMA device identifiers (3GPP2 S.R0048 and TIA-EIA-95): the MEID, 14 hex
 * digits whose two-digit regional code is A0–FF (or 18 decimal digits: 10 for
 * the 32-bit manufacturer part, 8 for the 24-bit serial), and its
 * predecessor the ESN, 8 hex digits (or 11 decimal: 3 + 8). Both are only
 * reported under a key that names them (an ESN also under a meid key, as
 * CDMA software mixes the two up; a hex MEID also under "deviceid", which
 * Android filled with it on CDMA phones): bare 8 or 14 hex digits are far
 * more often hash fragments.
 */
import type { IdentifierMatch } from "../types.ts";
import type { KeyContext } from "./context.ts";
import { isDigits, isOneCharacter } from "./match.ts";

/** The lowest MEID manufacturer code: regional code A0 (0xA0000000). */
const MEID_MIN_MANUFACTURER = 0xa0000000;

/** A MEID or ESN in a hex token (digits only or not), under a key that allows it. */
export function recogniseCdmaHex(token: string, context: KeyContext): IdentifierMatch | null {
  if (isOneCharacter(token)) return null;
  const length = token.length;
  if ((context.meid || context.deviceId) && (length === 14 || length === 15)) return meidHex(token, context);
  if ((context.esn || context.meid) && length === 8) return esnHex(token);
  return null;
}

/** A MEID or ESN in decimal form, under a key that names it. */
export function recogniseCdmaDecimal(digits: string, context: KeyContext): IdentifierMatch | null {
  if (context.meid && digits.length === 18) return meidDecimal(digits);
  if ((context.esn || context.meid) && digits.length === 11) return esnDecimal(digits);
  return null;
}

/** 14 hex digits (15 with the check digit some tools append), regional code A0–FF. */
function meidHex(token: string, context: KeyContext): IdentifierMatch | null {
  const regional = parseInt(token.slice(0, 2), 16);
  if (regional < 0xa0) {
    // Decimal-looking 14 digits under "meid": an IMEI without its check digit, as dual-mode phones report.
    if (!context.meid || !isDigits(token) || token.length !== 14) return null;
    return { kind: "meid", value: token, confidence: "medium", detail: "decimal digits: IMEI-range MEID" };
  }
  const confidence = context.meid ? "high" : "medium";
  // The regional code is what the evidence shows too; the manufacturer code would reveal more.
  const detail = `regional code ${token.slice(0, 2).toUpperCase()}`;
  return { kind: "meid", value: token, confidence, detail };
}

/** 18 decimal digits: the 32-bit manufacturer part (A0000000 or more) and the 24-bit serial. */
function meidDecimal(digits: string): IdentifierMatch | null {
  const manufacturer = Number(digits.slice(0, 10));
  const serial = Number(digits.slice(10));
  if (manufacturer < MEID_MIN_MANUFACTURER || manufacturer > 0xffffffff || serial > 0xffffff) return null;
  return { kind: "meid", value: digits, confidence: "high", detail: "18-digit decimal form" };
}

/** 8 hex digits; 80xxxxxx is a pseudo-ESN derived from a MEID. */
function esnHex(token: string): IdentifierMatch {
  const pseudo = token.slice(0, 2) === "80";
  const detail = pseudo
    ? "pseudo-ESN (derived from a MEID)"
    : `manufacturer code ${token.slice(0, 2).toUpperCase()}`;
  return { kind: "esn", value: token, confidence: pseudo ? "medium" : "high", detail };
}

/** 11 decimal digits: 3 for the 8-bit manufacturer code, 8 for the 24-bit serial. */
function esnDecimal(digits: string): IdentifierMatch | null {
  const manufacturer = Number(digits.slice(0, 3));
  const serial = Number(digits.slice(3));
  if (manufacturer > 0xff || serial > 0xffffff || isOneCharacter(digits)) return null;
  return { kind: "esn", value: digits, confidence: "high", detail: "11-digit decimal form" };
}
