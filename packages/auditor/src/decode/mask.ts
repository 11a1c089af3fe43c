/**
 * Path steps carry key, parameter, cookie, header and part names verbatim,
 * and a name can itself be an identifier (`{"490154203237518": {…}}`). Before
 * a name goes into a path, its long digit runs (8 or more) and long hex runs
 * (12 or more) keep their first 4 characters and the rest becomes "•". The
 * leaf's key, used only as context, is not masked.
 */

const MASK = "•";
/** Digit runs at least this long are masked. */
const MIN_DIGITS = 8;
/** Hex runs at least this long are masked. */
const MIN_HEX = 12;
/** Characters of a masked run that stay. */
const KEEP = 4;

/** Longer step names are cut to this many characters (a 12 MB JSON key is no path step). */
const MAX_STEP = 256;

/** The step name with long digit and hex runs masked after their first 4 characters, and cut when very long. */
export function maskStep(name: string): string {
  if (name.length < MIN_DIGITS) return name;
  if (name.length > MAX_STEP) return `${maskStep(name.slice(0, MAX_STEP))}…`;
  const digitsMasked = maskRuns(name, isDigit, MIN_DIGITS);
  return digitsMasked.length < MIN_HEX ? digitsMasked : maskRuns(digitsMasked, isHex, MIN_HEX);
}

/** Masks every maximal run of `inRun` characters at least `min` long; a character loop, no regex. */
function maskRuns(text: string, inRun: (code: number) => boolean, min: number): string {
  let out = "";
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    if (!inRun(text.charCodeAt(i))) {
      i += 1;
      continue;
    }
    const start = i;
    while (i < text.length && inRun(text.charCodeAt(i))) i += 1;
    if (i - start >= min) {
      out += text.slice(copied, start + KEEP) + MASK.repeat(i - start - KEEP);
      copied = i;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isHex(code: number): boolean {
  return isDigit(code) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}
