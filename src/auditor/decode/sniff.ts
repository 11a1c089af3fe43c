/**
 * Cheap tests that decide whether a string is worth decoding as base64 or hex,
 * and whether decoded bytes look like text. These keep the decoder from
 * turning every hex id or ordinary word into a garbage "base64" leaf: a
 * candidate must use only the alphabet, be long enough, and decode to
 * something meaningful (text, compressed data, or binary holding long text runs).
 */
import { hasGzipMagic, hasZlibHeader } from "./inflate.ts";

/** Shorter strings are not tried as base64 (too many words and ids would qualify). */
const MIN_BASE64 = 12;
/** Shorter strings are not tried as hex: 16 digits = 8 bytes. */
const MIN_HEX = 16;
/** A binary payload counts as meaningful when it holds a word-like run at least this long. */
const MIN_MEANINGFUL_RUN = 12;
/** Printable runs shorter than this are dropped when binary is shown as text. */
const MIN_RUN = 8;
/** Only this many characters are inspected when judging whether text is printable. */
const SAMPLE = 4096;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64_URL = /^[A-Za-z0-9_-]+={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const WRAPPED = /\r?\n/g;
const RUNS = new RegExp(`[\\t\\x20-\\x7e]{${MIN_RUN},}`, "g");
/** Word-like characters only: random bytes rarely give 12 of these in a row (≈ 1e-7 per position). */
const MEANINGFUL_RUN = new RegExp(`[\\w .:@/+=-]{${MIN_MEANINGFUL_RUN},}`);
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

/** The bytes a base64 string stands for, when they look meaningful; else null. */
export function decodeBase64(text: string): Uint8Array | null {
  const candidate = base64Candidate(text);
  if (candidate === null) return null;
  const bytes = Buffer.from(candidate, "base64");
  return isCompressed(bytes) || isText(bytes) || hasMeaningfulRun(bytes) ? bytes : null;
}

/** The bytes a hex string stands for, when they are text or compressed data; else null. */
export function decodeHex(text: string): Uint8Array | null {
  if (text.length < MIN_HEX || !HEX.test(text)) return null;
  const bytes = Buffer.from(text, "hex");
  return isCompressed(bytes) || isText(bytes) ? bytes : null;
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

function isText(bytes: Uint8Array): boolean {
  return asText(bytes) !== null;
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
  return MEANINGFUL_RUN.test(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1"),
  );
}

/** The printable ASCII runs of a binary payload (as `strings(1)` would show them). */
export function printableRuns(bytes: Uint8Array): string[] {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  return latin1.match(RUNS) ?? [];
}
