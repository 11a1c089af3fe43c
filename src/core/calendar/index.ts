/**
 * The one reading of dates and instants the system takes in (envelope headers,
 * payload fields the dictionary declares as timestamps, query parameters,
 * control-plane bodies): RFC 3339, read strictly, so that what is accepted is
 * stored as it was meant and anything else is refused by name
 * (docs/decisions/0027):
 *
 * - a day that the calendar has (no 30 February: JavaScript would roll it over
 *   into March);
 * - hours 00-23, minutes and seconds 00-59: no leap second, as devices keep
 *   Unix time, which has none, and neither Date nor PostgreSQL can hold one;
 * - years 0001-9999, also once an offset is applied (PostgreSQL has no year 0,
 *   and a year past 9999 has no four-digit form);
 * - `T` and `Z` in capitals, an offset as `±hh:mm` (hh ≤ 23, mm ≤ 59), up to
 *   nine digits of a second (instants are kept to the millisecond).
 */
import { PhoneHomeError } from "../errors/index.ts";
import type { Ajv } from "ajv";

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The last instant the system takes (9999-12-31T23:59:59.999Z), in milliseconds since the epoch. */
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** The first (0001-01-01T00:00:00Z); Date.UTC reads years 0-99 as 1900-1999, so it is set by hand. */
const FIRST_MS = new Date(0).setUTCFullYear(1, 0, 1);

/** The number of days of `month` (1-12) in `year`, by the Gregorian calendar. */
function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Milliseconds since the epoch of 00:00 UTC of a day the calendar has (years 1-9999), or undefined. */
function dayMs(year: number, month: number, day: number): number | undefined {
  if (!(year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month))) return undefined;
  // Date.UTC would read years 0-99 as 1900-1999.
  return new Date(0).setUTCFullYear(year, month - 1, day);
}

/** The day `text` (`YYYY-MM-DD`) names, at 00:00 UTC, or undefined when the calendar has no such day. */
export function parseDay(text: string): Date | undefined {
  const m = DAY.exec(text);
  const ms = m ? dayMs(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
  return ms === undefined ? undefined : new Date(ms);
}

/**
 * The instant `text` names, or undefined when it is not an RFC 3339 date-time
 * as this module reads them (see above). Digits of a second past the third
 * are read and dropped.
 */
export function parseInstant(text: string): Date | undefined {
  const m = INSTANT.exec(text);
  if (!m) return undefined;
  const day = dayMs(Number(m[1]), Number(m[2]), Number(m[3]));
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const [offsetHours, offsetMinutes] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  if (day === undefined || hour > 23 || minute > 59 || second > 59) return undefined;
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const millis = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3));
  const offset = (m[8] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const ms = day + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset;
  if (ms < FIRST_MS || ms > LAST_MS) return undefined;
  return new Date(ms);
}

/**
 * Replaces Ajv's `date-time` and `date` formats (ajv-formats', which accept a
 * leap second, a year 0000 and a space for `T`) with this module's readings.
 * Every Ajv instance that checks input calls it, after ajv-formats if it uses
 * that too.
 */
export function addCalendarFormats(ajv: Ajv): Ajv {
  ajv.addFormat("date-time", { type: "string", validate: (text) => parseInstant(text) !== undefined });
  ajv.addFormat("date", { type: "string", validate: (text) => parseDay(text) !== undefined });
  return ajv;
}

/**
 * Throws `request.invalid` unless `day` is a date that exists (this module): the pattern
 * admits 31 February, which JavaScript rolls over, and year 0000, which PostgreSQL refuses.
 */
export function checkedDay(day: string): string {
  if (parseDay(day) === undefined) {
    throw new PhoneHomeError("request.invalid", `since ${day} is not a date`, { path: "/querystring/since" });
  }
  return day;
}
export { DURATION_PATTERN, isPositive, outlasts, parseRetention, type Retention } from "./retention.ts";
export { EXACT_DURATION_PATTERN, parseDurationMs } from "./duration.ts";
