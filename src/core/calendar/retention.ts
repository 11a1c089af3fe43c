/**
 * Retention periods, written as ISO 8601 durations of calendar units only:
 * `P5Y`, `P18M`, `P90D`, `P2Y6M`, `P4W`. No time part: data is kept for whole
 * days. Years and months are calendar steps in UTC (a month after 31 January
 * is the last day of February), weeks and days are 7 and 1 UTC days.
 */

/** The accepted syntax, for the dictionary's schema. */
export const DURATION_PATTERN = "^P(?=\\d)(?:(\\d{1,3})Y)?(?:(\\d{1,4})M)?(?:(\\d{1,4})W)?(?:(\\d{1,5})D)?$";

const DURATION = new RegExp(DURATION_PATTERN);
const DAY_MS = 86_400_000;
// Retentions are compared by where they end when started on the same day. A
// fixed non-leap start keeps the comparison stable from one run to the next.
const REFERENCE = new Date(Date.UTC(2001, 0, 1));

/** How long a record (or a field of it) is kept. */
export interface Retention {
  /** The declared ISO 8601 duration, e.g. `P5Y`. */
  readonly duration: string;
  /** When something stored at `from` must be gone. */
  expiresAt(from: Date): Date;
}

/** Parses an ISO 8601 duration such as `P5Y` or `P90D`; null when the text is not one. */
export function parseRetention(duration: string): Retention | null {
  const match = DURATION.exec(duration);
  if (!match) return null;
  const [years, months, weeks, days] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const totalMonths = (years ?? 0) * 12 + (months ?? 0);
  const totalDays = (weeks ?? 0) * 7 + (days ?? 0);
  return Object.freeze({
    duration,
    expiresAt(from: Date): Date {
      return new Date(addMonthsClamped(from, totalMonths).getTime() + totalDays * DAY_MS);
    },
  });
}

/** True when `a` keeps data longer than `b`, both started on the same day. */
export function outlasts(a: Retention, b: Retention): boolean {
  return a.expiresAt(REFERENCE).getTime() > b.expiresAt(REFERENCE).getTime();
}

/** True when the retention ends after it starts (`P0D` does not). */
export function isPositive(retention: Retention): boolean {
  return retention.expiresAt(REFERENCE).getTime() > REFERENCE.getTime();
}

function addMonthsClamped(from: Date, months: number): Date {
  if (months === 0) return new Date(from.getTime());
  const year = from.getUTCFullYear();
  const month = from.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const out = new Date(from.getTime());
  // Set the day first so that moving from the 31st into a short month does not overflow.
  out.setUTCDate(1);
  out.setUTCFullYear(year, month, Math.min(from.getUTCDate(), lastDay));
  return out;
}
