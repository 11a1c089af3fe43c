/**
 * URL-encoded text: query strings, application/x-www-form-urlencoded bodies,
 * cookies, and percent-escapes anywhere. Splitting is by `&` and the first
 * `=`; names and values are percent-decoded (with `+` as space in forms,
 * except in a value that reads as base64: legacy clients often leave its `+`
 * unescaped).
 */
import { base64Candidate } from "./sniff.ts";

/** One name=value pair, decoded, and whether percent-escapes were undone to get it. */
export interface Param {
  name: string;
  value: string;
  escaped: boolean;
}

const ESCAPE = /%[0-9A-Fa-f]{2}/;
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/** Base64 with padding also has an "=" (and no "&"): never a form. */
const PADDED = /^[A-Za-z0-9+/_-]+={1,2}$/;
const WHITESPACE = /\s/;

/** True when the text contains at least one %XX escape. */
export function hasEscapes(text: string): boolean {
  return ESCAPE.test(text);
}

/** An escaped letter or digit: never needed by URL or form encoding, so the escape hides something. */
const HIDING_ESCAPE = /%(?:3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa])/;

/**
 * True when escapes hide what needs no escaping (`%33%35%36` for "356"). The
 * escapes form and URL encoding need anyway (`:` as `%3A` in a MAC) do not
 * make a value "encoded": that is how forms are written.
 */
export function hidesCharacters(text: string): boolean {
  return HIDING_ESCAPE.test(text);
}

/** Undoes %XX escapes (runs decoded as UTF-8, invalid sequences replaced), and `+` when `plusIsSpace`. */
export function percentDecode(text: string, plusIsSpace: boolean): string {
  const spaced = plusIsSpace ? text.replaceAll("+", " ") : text;
  if (!spaced.includes("%")) return spaced;
  return spaced.replace(ESCAPE_RUN, (run) => Buffer.from(run.replaceAll("%", ""), "hex").toString("utf8"));
}

/**
 * True when the whole text is shaped like a form body or query string,
 * name=value(&name[=value])* without whitespace, with a non-empty value, and
 * is not padded base64. One pass with indexOf rather than one pattern, whose
 * repeated group overflows V8's regex stack on a body of millions of pairs.
 */
export function looksLikeForm(text: string): boolean {
  if (!text.includes("=") || WHITESPACE.test(text) || PADDED.test(text)) return false;
  let valued = false;
  let eq = text.indexOf("=");
  for (let start = 0; ;) {
    const amp = text.indexOf("&", start);
    const end = amp < 0 ? text.length : amp;
    if (eq >= 0 && eq < start) eq = text.indexOf("=", start);
    const hasEq = eq >= 0 && eq < end;
    // The first part is name=value; no part has an empty name ("&&" and a trailing "&" are allowed).
    if (start === 0 && (!hasEq || eq === 0)) return false;
    if (end > start && eq === start) return false;
    if (hasEq && eq < end - 1) valued = true;
    if (amp < 0) return valued;
    start = amp + 1;
  }
}

/** The pairs of a query string, form body (`+` is a space) or cookie header (it is not), decoded. */
export function splitParams(text: string, separator: string | RegExp, plusIsSpace = true): Param[] {
  return [...eachParam(text, separator, plusIsSpace)];
}

/** The same pairs, one at a time, so that a caller that stops early decodes no more. */
export function* eachParam(text: string, separator: string | RegExp, plusIsSpace = true): Generator<Param> {
  for (const part of parts(text, separator)) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const rawName = (eq < 0 ? part : part.slice(0, eq)).trim();
    const rawValue = eq < 0 ? "" : part.slice(eq + 1).trim();
    yield {
      name: percentDecode(rawName, plusIsSpace),
      value: percentDecode(rawValue, plusIsSpace && base64Candidate(rawValue) === null),
      escaped: hidesCharacters(rawValue),
    };
  }
}

/** The parts between separators; a string separator is found with indexOf, lazily. */
function* parts(text: string, separator: string | RegExp): Generator<string> {
  if (typeof separator !== "string" || separator === "") {
    yield* text.split(separator);
    return;
  }
  let start = 0;
  for (let at = text.indexOf(separator); at >= 0; at = text.indexOf(separator, start)) {
    yield text.slice(start, at);
    start = at + separator.length;
  }
  yield text.slice(start);
}
