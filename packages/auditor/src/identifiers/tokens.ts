/**
 * The runs of digits and hex characters in a value, each taken whole between
 * non-alphanumeric boundaries, and what each one is. Taking runs whole is
 * what keeps a 15-digit stretch of a longer number, of a hash or of a decimal
 * fraction ("0.490154203237518…") from being read as an IMEI.
 *
 * Without key context only long digit runs can be identifiers (IMEI, IMSI,
 * ICCID), so a cheaper pattern is used and most values are rejected by a
 * single test for 14 digits in a row.
 */
import type { IdentifierMatch } from "../types.ts";
import { recogniseCdmaDecimal, recogniseCdmaHex } from "./cdma.ts";
import type { KeyContext } from "./context.ts";
import { recogniseDeviceHex } from "./device-ids.ts";
import { recogniseBareMac } from "./mac.ts";
import { eachMatch, isDigits, visitIf } from "./match.ts";
import { iccidMatch, recogniseDigitRun } from "./telecom.ts";

/** Runs longer than this are no identifier (recogniseRun would reject them). */
const MAX_RUN = 64;

/**
 * A hex run of 8 to 64, not glued to letters, digits or a "+", nor part of a
 * decimal fraction. Bounded: an open-ended {8,} overflows V8's regex stack on
 * a run of ~10 MB, and a longer run fails the lookahead or lookbehind anyway.
 */
const HEX_RUN = new RegExp(`(?<![0-9A-Za-z+]|\\d\\.)[0-9A-Fa-f]{8,${MAX_RUN}}(?![0-9A-Za-z]|\\.\\d)`, "g");

/** The same for digit runs of 14–22 (an ICCID may keep its "F" filler). */
const LONG_DIGIT_RUN = /(?<![0-9A-Za-z+]|\d\.)\d{14,22}[Ff]?(?![0-9A-Za-z]|\.\d)/g;

const FOURTEEN_DIGITS = /\d{14}/;

/** An ICCID with its filler: 18–21 digits and a final F. */
const ICCID_WITH_FILLER = /^89\d{16,19}[Ff]$/;

/** Every identifier written as a digit or hex run in `text`. */
export function scanRuns(text: string, context: KeyContext, visit: (match: IdentifierMatch) => void): void {
  if (text.length < 8) return;
  if (context.any) {
    eachMatch(HEX_RUN, text, (found) => visitIf(recogniseRun(found[0], context), visit));
  } else if (FOURTEEN_DIGITS.test(text)) {
    eachMatch(LONG_DIGIT_RUN, text, (found) => visitIf(recogniseRun(found[0], context), visit));
  }
}

/** What one run is: digit recognisers first, then those that need a key. */
function recogniseRun(run: string, context: KeyContext): IdentifierMatch | null {
  if (run.length > MAX_RUN) return null;
  if (isDigits(run)) {
    const match = recogniseDigitRun(run, context) ?? recogniseCdmaDecimal(run, context);
    if (match !== null) return match;
  } else if (ICCID_WITH_FILLER.test(run)) {
    return iccidMatch(run.slice(0, -1), run.slice(-1), context);
  }
  if (!context.any) return null;
  return recogniseCdmaHex(run, context) ?? recogniseDeviceHex(run, context) ?? recogniseBareMac(run, context);
}
