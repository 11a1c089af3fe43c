/**
 * PostgreSQL's `COPY ... FROM` text format, written by hand because no
 * maintained library encodes it for node-postgres: one line per row, columns
 * separated by tabs, `\N` for null, and backslash, newline, carriage return
 * and tab escaped with a backslash (PostgreSQL manual, COPY, "Text Format").
 */

/** A value one column of a row takes: objects and arrays are written as JSON (for `json`/`jsonb` columns). */
export type CopyValue = string | number | boolean | bigint | Date | null | object;

// NUL is in the first pattern so that the common case (nothing to escape) is one scan of the text.
// eslint-disable-next-line no-control-regex -- NUL must be found: PostgreSQL text cannot hold it
const SPECIAL = /[\\\n\r\t\u0000]/;
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** One column's text, escaped. */
export function copyTextField(value: CopyValue): string {
  if (value === null) return "\\N";
  let text: string;
  if (typeof value === "string") text = value;
  else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`COPY cannot carry the number ${value}`);
    return String(value);
  } else if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  else if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError("COPY cannot carry an invalid date");
    return value.toISOString();
  } else text = JSON.stringify(value);
  if (!SPECIAL.test(text)) return text;
  if (text.includes("\u0000")) throw new RangeError("PostgreSQL text cannot hold the NUL character");
  return text.replace(SPECIAL_ALL, (c) => ESCAPES[c] ?? c);
}

/** One row as a line of the text format, ending in a newline. */
export function copyTextLine(values: readonly CopyValue[]): string {
  let line = "";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += "\t";
    line += copyTextField(values[i] as CopyValue);
  }
  return `${line}\n`;
}
