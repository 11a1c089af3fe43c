/**
 * Exact durations, as ISO 8601 text with days and a time part (`P90D`,
 * `PT24H`, `P1DT12H`, `PT30S`): spans measured in elapsed time, such as a
 * key's lifetime or overlap. A day is 24 hours here (no calendar steps: see
 * retention.ts for those).
 */

/** The accepted syntax, for the configuration's schema. */
export const EXACT_DURATION_PATTERN =
  "^P(?!$)(?:(\\d{1,5})W)?(?:(\\d{1,5})D)?(?:T(?=\\d)(?:(\\d{1,6})H)?(?:(\\d{1,7})M)?(?:(\\d{1,9})S)?)?$";

const EXACT = new RegExp(EXACT_DURATION_PATTERN);
const UNIT_MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];

/** The milliseconds of an exact duration; null when the text is not one. */
export function parseDurationMs(text: string): number | null {
  const match = EXACT.exec(text);
  if (!match) return null;
  return match
    .slice(1)
    .reduce((total, part, i) => total + (part === undefined ? 0 : Number(part) * (UNIT_MS[i] ?? 0)), 0);
}
