/**
 * findIdentifiers: every identifier in one decoded value. Each recogniser
 * first checks something cheap (a character, a length, the key context) so
 * that the common leaf — a word, a small number, a timestamp — costs a few
 * `includes` and one or two regex tests.
 *
 * Whole-value recognisers (serial, cell, one coordinate, a formatted phone
 * number) run only when the key says something, and only on short values.
 *
 * A text over 1 MiB (an HTTP body may be 32 MiB) is scanned in windows of
 * 1 MiB overlapping by 128 characters, so that no regex runs over more than
 * that (V8's regex stack overflows on runs of ~10 MB) and an identifier
 * across a cut is whole in one window. A match within 4 characters of a cut
 * (lookarounds read up to 2) may be a fragment of a longer run: it is kept
 * only when its value also occurs away from the cuts. Matches found in two
 * windows are reported once.
 */
import type { IdentifierMatch } from "../types.ts";
import { keyContext, type KeyContext } from "./context.ts";
import { recogniseSerial, scanAdvertisingIds } from "./device-ids.ts";
import { scanEmails } from "./email.ts";
import { scanPublicIps } from "./ip.ts";
import { recogniseCell, recogniseCoordinate, scanGpsPairs } from "./location.ts";
import { scanMacs } from "./mac.ts";
import { addMatch, hasValue } from "./match.ts";
import { recognisePhoneValue, scanPlusNumbers } from "./phone.ts";
import { scanRuns } from "./tokens.ts";

/** Values longer than this are not single identifiers; only the scanners look at them. */
const WHOLE_VALUE_LIMIT = 64;

/** Texts longer than this are scanned in windows of this many characters. */
export const SCAN_WINDOW = 1024 * 1024;
/** How many characters consecutive windows share. */
export const SCAN_OVERLAP = 128;
/** A match this close to a cut may be a fragment cut out of a longer run. */
const CUT_MARGIN = 4;

/** One window of a long text, and whether each of its ends is a cut (not the text's own end). */
interface ScanWindow {
  text: string;
  cutBefore: boolean;
  cutAfter: boolean;
}

/**
 * Every identifier found in one decoded value. `key` is the lower-cased
 * key/parameter name the value sat under (context), if any.
 */
export function findIdentifiers(text: string, context: { key?: string }): IdentifierMatch[] {
  const found: IdentifierMatch[] = [];
  if (text.length < 2) return found;
  const key = keyContext(context.key);
  const add = (match: IdentifierMatch) => addMatch(found, match);
  if (text.length <= SCAN_WINDOW) scan(text, key, add);
  else for (const window of scanWindows(text)) scanWindow(window, key, add);
  if (key.any && text.length <= WHOLE_VALUE_LIMIT) findInWholeValue(text.trim(), key, found);
  return found;
}

function scan(text: string, key: KeyContext, add: (match: IdentifierMatch) => void): void {
  scanRuns(text, key, add);
  scanMacs(text, key, add);
  scanPlusNumbers(text, key, add);
  scanEmails(text, add);
  scanPublicIps(text, key, add);
  scanGpsPairs(text, key, add);
  scanAdvertisingIds(text, key, add);
}

/** The matches of one window of a long text, less those that only occur at a cut. */
function scanWindow(window: ScanWindow, key: KeyContext, add: (match: IdentifierMatch) => void): void {
  scan(window.text, key, (match) => {
    if (awayFromCuts(window, match.value)) add(match);
  });
}

/** Whether `value` occurs in the window at least CUT_MARGIN characters from each cut (true when not found at all). */
function awayFromCuts(window: ScanWindow, value: string): boolean {
  const { text, cutBefore, cutAfter } = window;
  let at = text.indexOf(value);
  if (at < 0) return true;
  for (; at >= 0; at = text.indexOf(value, at + 1)) {
    const clearBefore = !cutBefore || at >= CUT_MARGIN;
    const clearAfter = !cutAfter || at + value.length <= text.length - CUT_MARGIN;
    if (clearBefore && clearAfter) return true;
  }
  return false;
}

/** The windows of a long text: SCAN_WINDOW characters each, SCAN_OVERLAP shared with the next. */
export function* scanWindows(text: string): Generator<ScanWindow> {
  for (let start = 0; ; start += SCAN_WINDOW - SCAN_OVERLAP) {
    const end = start + SCAN_WINDOW;
    yield { text: text.slice(start, end), cutBefore: start > 0, cutAfter: end < text.length };
    if (end >= text.length) return;
  }
}

/** The recognisers that need the whole value under a telling key; a value already reported is left alone. */
function findInWholeValue(value: string, key: KeyContext, found: IdentifierMatch[]): void {
  if (value === "" || hasValue(found, value)) return;
  const match =
    recogniseCoordinate(value, key) ??
    recogniseCell(value, key) ??
    (found.length === 0 ? recognisePhoneValue(value, key) : null) ??
    recogniseSerial(value, key);
  addMatch(found, match);
}
