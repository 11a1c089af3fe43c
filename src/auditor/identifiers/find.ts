/**
 * findIdentifiers: every identifier in one decoded value. Each recogniser
 * first checks something cheap (a character, a length, the key context) so
 * that the common leaf — a word, a small number, a timestamp — costs a few
 * `includes` and one or two regex tests.
 *
 * Whole-value recognisers (serial, cell, one coordinate, a formatted phone
 * number) run only when the key says something, and only on short values.
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

/**
 * Every identifier found in one decoded value. `key` is the lower-cased
 * key/parameter name the value sat under (context), if any.
 */
export function findIdentifiers(text: string, context: { key?: string }): IdentifierMatch[] {
  const found: IdentifierMatch[] = [];
  if (text.length < 2) return found;
  const key = keyContext(context.key);
  const add = (match: IdentifierMatch) => addMatch(found, match);
  scanRuns(text, key, add);
  scanMacs(text, key, add);
  scanPlusNumbers(text, key, add);
  scanEmails(text, add);
  scanPublicIps(text, key, add);
  scanGpsPairs(text, key, add);
  scanAdvertisingIds(text, key, add);
  if (key.any && text.length <= WHOLE_VALUE_LIMIT) findInWholeValue(text.trim(), key, found);
  return found;
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
