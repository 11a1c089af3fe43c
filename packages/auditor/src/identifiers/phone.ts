/**
 * Phone numbers (MSISDN). A run of digits is a phone number far less often
 * than it is a counter or a timestamp, so only two shapes are reported:
 * international numbers written with a leading "+" (E.164: a valid country
 * calling code, 8–15 digits in all), and phone-shaped whole values under a
 * key that says phone (msisdn, phone, tel, mobile, line1number, or just
 * "number" with low confidence). The country is given only when the number
 * carries its calling code ("+" or "00"): a bare national number's country
 * cannot be told from its digits.
 */
import type { Confidence, IdentifierMatch } from "../types.ts";
import { phoneCallingCode, SERVICE_CODES } from "./country-codes.ts";
import type { KeyContext } from "./context.ts";
import { eachMatch, isJunkDigits } from "./match.ts";

/**
 * "+" and 8–16 digits with at most two separators (space, dash, dot,
 * parentheses) between digits; the "+" not glued to a word (as in "1e+10" or
 * a time zone "…00+0200").
 */
const PLUS_NUMBER = /(?<![\w+])\+\d(?:[ ().-]{0,2}\d){7,15}(?![\w])/g;

/** A phone-shaped whole value: digits and separators only. */
const PHONE_SHAPED = /^\+?[\d ().-]{7,24}$/;

/** The Android emulator's line numbers: +1 555 521 55xx. */
const EMULATOR_NUMBER = /^1555521\d{4}$/;

/** Every "+"-written international number in `text`. */
export function scanPlusNumbers(
  text: string,
  context: KeyContext,
  visit: (match: IdentifierMatch) => void,
): void {
  if (!text.includes("+")) return;
  eachMatch(PLUS_NUMBER, text, (found) => {
    const match = international(found[0], found[0].replace(/\D/g, ""), context.phone ? "high" : "medium");
    if (match !== null) visit(match);
  });
}

/** A whole value under a phone key that is shaped like a phone number. */
export function recognisePhoneValue(value: string, context: KeyContext): IdentifierMatch | null {
  if ((!context.phone && !context.phoneWeak) || !PHONE_SHAPED.test(value)) return null;
  const digits = value.replace(/\D/g, "");
  const confidence: Confidence = context.phoneWeak ? "low" : "high";
  if (value.startsWith("+")) return international(value, digits, confidence);
  if (digits.startsWith("00")) return international(value, digits.slice(2), confidence);
  if (digits.length < 7 || digits.length > 15 || isJunkDigits(digits) || EMULATOR_NUMBER.test(digits))
    return null;
  return { kind: "msisdn", value, confidence, detail: "national format, no country code" };
}

/** An E.164 number: digits after "+" (or "00"), a calling code that names a subscriber, 8–15 digits. */
function international(value: string, digits: string, confidence: Confidence): IdentifierMatch | null {
  if (digits.length < 8 || digits.length > 15 || isJunkDigits(digits) || EMULATOR_NUMBER.test(digits))
    return null;
  const code = phoneCallingCode(digits);
  if (code === null || SERVICE_CODES.has(code.code)) return null;
  const match: IdentifierMatch = {
    kind: "msisdn",
    value,
    confidence,
    detail: `+${code.code}${code.country ? ` (${code.country})` : " (international network)"}`,
  };
  if (code.country !== undefined) match.country = code.country;
  return match;
}
