/**
 * The 3GPP identifiers written as runs of digits: IMEI (TS 23.003 §6.2.1,
 * 15 digits, Luhn check digit), IMEISV (16 digits: TAC, serial, 2-digit SVN,
 * no check digit), IMSI (E.212: MCC, MNC, MSIN; 15 digits, no check digit)
 * and ICCID (E.118: "89", calling code, issuer, account; Luhn optional).
 *
 * A 15-digit run that passes Luhn and starts with a real MCC could be either
 * an IMEI or an IMSI. The key decides; without one, Luhn wins (IMSIs have no
 * check digit, so a random IMSI passes only one time in ten) and the detail
 * says so.
 */
import type { Confidence, IdentifierMatch } from "../types.ts";
import { callingCode } from "./country-codes.ts";
import type { KeyContext } from "./context.ts";
import { luhnValid } from "./luhn.ts";
import { homeNetwork, isCanadianMnc, type HomeNetwork } from "./mcc.ts";
import { isJunkDigits, isOneCharacter, longestRepeat } from "./match.ts";

/**
 * Without key context, a 15-digit value with seven equal digits in a row is a
 * counter or a padded id ("100000000000017"), not an IMEI or IMSI: real ones
 * have such a run about once in a hundred thousand.
 */
const COUNTER_REPEAT = 7;

/**
 * Reporting Body Identifiers (the first two digits of a TAC) that GSMA has
 * delegated (GSMA TS.06): 01 PTCRB, 10 DECT, 30 Iridium, 33 DGPT, 35/44/98
 * BABT, 45 NTA, 49-53 German bodies, 54 Phoenix, 86 TAF, 91 MSAI, 99 GHA.
 */
const REPORTING_BODIES = new Set([
  "01",
  "10",
  "30",
  "33",
  "35",
  "44",
  "45",
  "49",
  "50",
  "51",
  "52",
  "53",
  "54",
  "86",
  "91",
  "98",
  "99",
]);

/**
 * Values that emulators and SDK samples report instead of a real identifier:
 * the Android emulator's IMEI and IMSI, and its SIM's ICCID.
 */
const PLACEHOLDERS = new Set(["358240051111110", "310260000000000", "89014103211118510720"]);

/** The identifier a run of digits (with digit boundaries) is, if any. */
export function recogniseDigitRun(digits: string, context: KeyContext): IdentifierMatch | null {
  if (PLACEHOLDERS.has(digits) || isOneCharacter(digits)) return null;
  const length = digits.length;
  if (context.imsi && (length === 15 || length === 14)) return imsiMatch(digits, "with key");
  if (length >= 18 && length <= 22 && digits.startsWith("89")) return iccidMatch(digits, "", context);
  if (length === 15) return fifteenDigits(digits, context);
  if (length === 14 && context.imeiStrong) return imeiWithoutCheckDigit(digits);
  if (length === 16) return imeisvMatch(digits, context);
  return null;
}

/** An IMEI, an IMSI, or neither. */
function fifteenDigits(digits: string, context: KeyContext): IdentifierMatch | null {
  if (isJunkDigits(digits)) return null;
  const luhn = luhnValid(digits);
  if (context.imei) {
    if (luhn) return imei(digits, "high", "Luhn valid");
    return context.imeiStrong ? imei(digits, "low", "Luhn check digit wrong") : null;
  }
  if (longestRepeat(digits) >= COUNTER_REPEAT) return null;
  if (luhn && REPORTING_BODIES.has(digits.slice(0, 2))) {
    const home = homeNetwork(digits);
    const also = home?.mnc !== undefined ? `; also shaped like an IMSI (${describeHome(home)})` : "";
    return imei(digits, "medium", `Luhn valid, no key context${also}`);
  }
  return imsiMatch(digits, "without key");
}

/** The detail names no digits: the evidence shows the TAC as far as redaction allows (7 of 8 digits). */
function imei(value: string, confidence: Confidence, detail: string): IdentifierMatch {
  return { kind: "imei", value, confidence, detail };
}

/** 14 digits under an "imei" key: an IMEI written without its check digit. */
function imeiWithoutCheckDigit(digits: string): IdentifierMatch | null {
  if (isJunkDigits(digits + "0")) return null;
  return { kind: "imei", value: digits, confidence: "medium", detail: "14 digits: IMEI without check digit" };
}

/** 16 digits under an imei/imeisv/sv/deviceid key: TAC, serial, software version number. */
function imeisvMatch(digits: string, context: KeyContext): IdentifierMatch | null {
  if (!context.imeisv && !context.imei) return null;
  if (isJunkDigits(digits.slice(0, 14) + "0")) return null;
  const knownBody = REPORTING_BODIES.has(digits.slice(0, 2));
  const strong = context.imeisv || context.imeiStrong;
  if (!strong && !knownBody) return null;
  const confidence: Confidence = strong && knownBody ? "high" : "medium";
  // No digits: the evidence shows the TAC; the serial and the SVN stay masked.
  const detail = "16 digits: TAC, serial, software version";
  return { kind: "imeisv", value: digits, confidence, detail };
}

/**
 * An IMSI: its MCC must be real. With an imsi key, a known network gives high
 * confidence and an unknown MNC medium; without one, only a known network is
 * reported, with low confidence, because a quarter of all 15-digit numbers
 * start with a real MCC.
 */
function imsiMatch(digits: string, key: "with key" | "without key"): IdentifierMatch | null {
  const home = homeNetwork(digits);
  if (home === null) return null;
  const msin = digits.slice(3 + (home.mnc?.length ?? 2));
  if (isOneCharacter(msin) || isJunkDigits(digits)) return null;
  let confidence: Confidence;
  if (key === "without key") {
    if (home.mnc === undefined || home.test) return null;
    confidence = "low";
  } else {
    confidence = home.mnc === undefined || home.test ? "medium" : "high";
  }
  const notes = [describeHome(home)];
  if (key === "without key") notes.push("no key context");
  else if (digits.length === 15 && luhnValid(digits)) notes.push("also Luhn valid, key says IMSI");
  const match: IdentifierMatch = { kind: "imsi", value: digits, confidence, detail: notes.join("; ") };
  if (home.country !== undefined) match.country = home.country;
  return match;
}

function describeHome(home: HomeNetwork): string {
  const where = home.test ? "test network" : (home.country ?? "international");
  const network =
    home.mnc === undefined ? "unknown MNC" : `MNC ${home.mnc}${home.network ? ` ${home.network}` : ""}`;
  return `MCC ${home.mcc} (${where}), ${network}`;
}

/**
 * An ICCID: "89", then an E.164 calling code (US issuers write "01" for +1;
 * Canadian ones "302" + MNC), then issuer and account digits. `suffix` is the
 * "F" filler some readers keep. The Luhn digit, which many ICCIDs lack, only
 * raises confidence.
 */
export function iccidMatch(digits: string, suffix: string, context: KeyContext): IdentifierMatch | null {
  if (PLACEHOLDERS.has(digits)) return null;
  const issuer = iccidCountry(digits);
  if (issuer === null) return null;
  const luhn = luhnValid(digits);
  let confidence: Confidence;
  if (context.iccid) confidence = "high";
  else confidence = luhn && digits.length >= 19 && digits.length <= 20 ? "medium" : "low";
  const notes = [`issuer country +${issuer.code}${issuer.country ? ` (${issuer.country})` : ""}`];
  notes.push(luhn ? "Luhn valid" : "no Luhn check digit");
  if (!context.iccid) notes.push("no key context");
  const match: IdentifierMatch = {
    kind: "iccid",
    value: digits + suffix,
    confidence,
    detail: notes.join("; "),
  };
  if (issuer.country !== undefined) match.country = issuer.country;
  return match;
}

/** The calling code and country after an ICCID's "89", or null when there is none. */
export function iccidCountry(iccid: string): { code: string; country?: string; length: number } | null {
  const rest = iccid.slice(2);
  if (rest.startsWith("302") && isCanadianMnc(rest.slice(3, 6)))
    return { code: "1", country: "CA", length: 3 };
  if (rest.startsWith("01")) return { code: "1", country: "US", length: 2 };
  const found = callingCode(rest);
  if (found === null) return null;
  return { ...found, length: found.code.length };
}
