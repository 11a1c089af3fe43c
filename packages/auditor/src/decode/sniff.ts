/**
 * Cheap tests that decide whether a string is worth decoding as base64 or hex,
 * and whether decoded bytes look like text. These keep the decoder from
 * turning every hex id or ordinary word into a garbage "base64" leaf: a
 * candidate must use only the alphabet, be long enough, and decode to
 * something meaningful (text, compressed data, or binary holding long text runs).
 *
 * The text of decoded bytes is returned with them, so that it is read as
 * UTF-8 once. No pattern here has an open-ended counted quantifier ({n,}):
 * V8's backtracking stack overflows on those over runs of ~10 MB.
 */
import { asBuffer } from "./bytes.ts";
import { hasGzipMagic, hasZlibHeader, MAX_INFLATED } from "./inflate.ts";

/** Bytes that a base64 or hex string stood for. */
export interface Decoded {
  bytes: Uint8Array;
  /** The bytes as text (see asText), or null when they are not text; absent when not looked at (compressed). */
  text?: string | null;
}

/** Shorter strings are not tried as base64 (too many words and ids would qualify). */
const MIN_BASE64 = 12;
/** Shorter strings are not tried as hex: 16 digits = 8 bytes. */
const MIN_HEX = 16;
/** Longer strings are not decoded as base64 or hex: their bytes could not be inflated anyway. */
export const MAX_ENCODED = MAX_INFLATED;
/** A binary payload counts as meaningful when it holds a word-like run at least this long. */
const MIN_MEANINGFUL_RUN = 12;
/** Printable runs shorter than this are dropped when binary is shown as text. */
const MIN_RUN = 8;
/** Only this many characters are inspected when judging whether text is printable. */
const SAMPLE = 4096;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]+={0,2}$/;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const WRAPPED = /\r?\n/g;
/** Word-like characters only: random bytes rarely give 12 of these in a row (≈ 1e-7 per position). */
const MEANINGFUL_RUN = new RegExp(`[\\w .:@/+=-]{${MIN_MEANINGFUL_RUN}}`);
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The base64 text without line breaks, when the string could be base64 at all; else null. */
export function base64Candidate(text: string): string | null {
  if (text.length < MIN_BASE64) return null;
  const compact = text.includes("\n") ? text.trim().replace(WRAPPED, "") : text;
  if (compact.length < MIN_BASE64 || compact.length % 4 === 1) return null;
  if (!BASE64.test(compact) && !BASE64_URL.test(compact)) return null;
  // Digits-only and hex-only strings are numbers and ids, decoded as hex if at all.
  if (HEX_ONLY.test(compact)) return null;
  return compact;
}

/** The bytes a base64 string stands for (and their text), when they look meaningful; else null. */
export function decodeBase64(text: string): Decoded | null {
  if (text.length > MAX_ENCODED) return null;
  const candidate = base64Candidate(text);
  if (candidate === null) return null;
  return meaningful(Buffer.from(candidate, "base64"), true);
}

/** The bytes a hex string stands for (and their text), when they are text or compressed data; else null. */
export function decodeHex(text: string): Decoded | null {
  if (text.length < MIN_HEX || text.length > MAX_ENCODED || text.length % 2 !== 0) return null;
  if (!HEX_ONLY.test(text)) return null;
  return meaningful(Buffer.from(text, "hex"), false);
}

/** Compressed data, text, or (when `binaryRuns`) binary with a word-like run; else null. */
function meaningful(bytes: Uint8Array, binaryRuns: boolean): Decoded | null {
  if (isCompressed(bytes)) return { bytes };
  const text = asText(bytes);
  if (text !== null) return { bytes, text };
  return binaryRuns && hasMeaningfulRun(bytes) ? { bytes, text: null } : null;
}

/** gzip or zlib magic at the start. */
export function isCompressed(bytes: Uint8Array): boolean {
  return hasGzipMagic(bytes) || hasZlibHeader(bytes);
}

/** The bytes as a string when they are valid UTF-8 and (almost) free of control characters; else null. */
export function asText(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return null;
  }
  return isPrintable(text) ? text : null;
}

/** Short strings must be wholly printable; long ones may hold a few stray control characters (≤ 2 %). */
export function isPrintable(text: string): boolean {
  const sample = text.length > SAMPLE ? text.slice(0, SAMPLE) : text;
  const controls = countControls(sample);
  if (sample.length < 64) return controls === 0;
  return controls <= sample.length * 0.02;
}

/** C0 controls other than tab, LF and CR; DEL; and U+FFFD (a replaced invalid byte). */
function countControls(sample: string): number {
  let count = 0;
  for (let i = 0; i < sample.length; i += 1) {
    const c = sample.charCodeAt(i);
    const whitespace = c === 0x09 || c === 0x0a || c === 0x0d;
    if ((c < 0x20 && !whitespace) || c === 0x7f || c === 0xfffd) count += 1;
  }
  return count;
}

function hasMeaningfulRun(bytes: Uint8Array): boolean {
  return MEANINGFUL_RUN.test(asBuffer(bytes).toString("latin1"));
}

/** The printable ASCII runs (tab and 0x20–0x7e) of a binary payload, as `strings(1)` would show them. */
export function printableRuns(bytes: Uint8Array): string[] {
  const data = asBuffer(bytes);
  const runs: string[] = [];
  let start = 0;
  for (let i = 0; i <= data.length; i += 1) {
    const byte = i < data.length ? (data[i] ?? 0) : 0;
    if (byte === 0x09 || (byte >= 0x20 && byte <= 0x7e)) continue;
    if (i - start >= MIN_RUN) runs.push(data.toString("latin1", start, i));
    start = i + 1;
  }
  return runs;
}
