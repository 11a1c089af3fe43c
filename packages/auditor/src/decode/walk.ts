/**
 * The recursive decoder's engine. Text is always a leaf itself; then the first
 * interpretation that fits is followed: JSON, a URL with a query, XML-ish
 * elements, a form body, hex, a JWT, base64, percent-escapes. Bytes are
 * inflated when they carry gzip/zlib magic, read as UTF-8 text, or else shown
 * as their printable runs. Every step deepens the path; `maxDepth` bounds
 * cycles (base64 of base64 of…) and `maxLeaves` bounds the output.
 *
 * Path step names are masked (see maskStep): a key can itself be an
 * identifier. Texts longer than the decompression cap are not tried as hex,
 * JWT or base64, and no pattern run on a whole text has an open-ended counted
 * quantifier, which overflows V8's regex stack on runs of ~10 MB.
 */
import type { Leaf } from "../types.ts";
import { eachParam, hasEscapes, hidesCharacters, looksLikeForm, percentDecode } from "./form.ts";
import { hasGzipMagic, hasZlibHeader, inflate } from "./inflate.ts";
import { JsonNumber, jsonScalars, parseJson } from "./json.ts";
import { maskStep } from "./mask.ts";
import { asText, type Decoded, decodeBase64, decodeHex, MAX_ENCODED, printableRuns } from "./sniff.ts";

/** Where a value sits: the path that reached it, its nearest key, whether decoding was needed, how deep. */
export interface At {
  path: string[];
  key: string | undefined;
  encoded: boolean;
  depth: number;
}

/** The output of one decoding, shared by every step of it. */
export interface Walk {
  leaves: Leaf[];
  maxDepth: number;
  maxLeaves: number;
}

/** Path segments shorter than this are not tried for base64/hex. */
const MIN_SEGMENT = 12;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const WHITESPACE = /\s/;
/** One base64url segment of a JWT. */
const JWT_SEGMENT = /^[A-Za-z0-9_-]+$/;
/** The shortest JWT header or payload segment. */
const MIN_JWT_SEGMENT = 8;
const XML_ELEMENT = /<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?>([^<]*)<\/\1\s*>/g;
const HTML = /^<(?:!doctype html|html)/i;

/** A fresh walk. */
export function newWalk(maxDepth: number, maxLeaves: number): Walk {
  return { leaves: [], maxDepth, maxLeaves };
}

/** The position one step further down; long digit and hex runs in `name` are masked (the key is not). */
export function step(at: At, name: string, encoded: boolean, key: string | undefined = at.key): At {
  return { path: [...at.path, maskStep(name)], key, encoded: at.encoded || encoded, depth: at.depth + 1 };
}

/** Records a leaf unless the walk is full or the text is blank. */
export function emit(walk: Walk, text: string, at: At): void {
  if (walk.leaves.length >= walk.maxLeaves || text.trim() === "") return;
  const leaf: Leaf = { path: at.path, text, encoded: at.encoded };
  if (at.key !== undefined) leaf.key = at.key;
  walk.leaves.push(leaf);
}

function full(walk: Walk): boolean {
  return walk.leaves.length >= walk.maxLeaves;
}

/**
 * Bytes: inflated when compressed, read as text when they are text, else
 * their printable runs. `knownText` is their text when the caller has read
 * it already (null: not text), so it is not decoded twice.
 */
export function walkBytes(walk: Walk, bytes: Uint8Array, at: At, knownText?: string | null): void {
  if (full(walk) || bytes.length === 0) return;
  if (at.depth < walk.maxDepth && (hasGzipMagic(bytes) || hasZlibHeader(bytes))) {
    const inflated = inflate(bytes, hasGzipMagic(bytes) ? "gzip" : "zlib");
    if (inflated !== null) return walkBytes(walk, inflated.data, step(at, "gzip", true));
  }
  const text = knownText === undefined ? asText(bytes) : knownText;
  if (text !== null) return walkText(walk, text, at, true);
  walkBinary(walk, bytes, at);
}

/** Bytes that base64 or hex stood for, with their text when the decoding already read it. */
function walkDecoded(walk: Walk, decoded: Decoded, at: At): void {
  walkBytes(walk, decoded.bytes, at, decoded.text);
}

/** Binary: one leaf of its printable runs, and each long run decoded further. */
function walkBinary(walk: Walk, bytes: Uint8Array, at: At): void {
  const runs = printableRuns(bytes);
  if (runs.length === 0) return;
  emit(walk, runs.join("\n"), at);
  if (at.depth >= walk.maxDepth) return;
  for (const run of runs) {
    if (run.length >= MIN_SEGMENT) walkText(walk, run.trim(), at, false);
  }
}

/** Text: a leaf of its own (unless `emitSelf` is false), then the first interpretation that fits. */
export function walkText(walk: Walk, text: string, at: At, emitSelf: boolean): void {
  if (full(walk)) return;
  if (emitSelf) emit(walk, text, at);
  if (at.depth >= walk.maxDepth) return;
  const trimmed = text.trim();
  if (trimmed.length < 2) return;
  const interpretations = [
    walkJson,
    walkUrl,
    walkXml,
    walkFormText,
    walkHex,
    walkJwt,
    walkBase64,
    walkEscaped,
  ];
  for (const interpret of interpretations) {
    if (interpret(walk, trimmed, at)) return;
  }
}

function walkJson(walk: Walk, text: string, at: At): boolean {
  const parsed = parseJson(text);
  if (parsed === undefined) return false;
  for (const scalar of jsonScalars(parsed)) {
    if (full(walk)) break;
    const here = step(at, scalar.step, false, scalar.key ?? at.key);
    if (typeof scalar.value === "string") walkText(walk, scalar.value, here, true);
    else emit(walk, scalar.value instanceof JsonNumber ? scalar.value.source : String(scalar.value), here);
  }
  return true;
}

/** A URL or origin-form target: a decoded path when escaped, long path segments decoded, query parameters. */
function walkUrl(walk: Walk, text: string, at: At): boolean {
  if (!isUrlShaped(text)) return false;
  if (text.startsWith("/")) {
    // Base64 may begin with "/" (a JPEG's is "/9j/"): when it decodes to something, it is base64, not a path.
    const decoded = decodeBase64(text);
    if (decoded !== null) {
      walkDecoded(walk, decoded, step(at, "base64", true));
      return true;
    }
  }
  const hash = text.indexOf("#");
  const beforeHash = hash < 0 ? text : text.slice(0, hash);
  const question = beforeHash.indexOf("?");
  const pathPart = question < 0 ? beforeHash : beforeHash.slice(0, question);
  walkPath(walk, pathPart, at);
  if (question >= 0) walkParams(walk, beforeHash.slice(question + 1), at, "query");
  return true;
}

/**
 * No whitespace, and either an origin-form target ("/…") or scheme://authority
 * followed by nothing or by a path, query or fragment. A character loop, not
 * one pattern over the whole text.
 */
function isUrlShaped(text: string): boolean {
  if (WHITESPACE.test(text)) return false;
  if (text.startsWith("/")) return true;
  const scheme = SCHEME.exec(text);
  if (scheme === null) return false;
  const authorityStart = scheme[0].length;
  let end = authorityStart;
  while (end < text.length && !"/?#".includes(text.charAt(end))) end += 1;
  return end > authorityStart;
}

function walkPath(walk: Walk, pathPart: string, at: At): void {
  const here = step(at, "path", hidesCharacters(pathPart));
  if (hasEscapes(pathPart)) emit(walk, percentDecode(pathPart, false), here);
  for (const segment of pathPart.split("/")) {
    if (segment.length >= MIN_SEGMENT) walkText(walk, percentDecode(segment, false), here, false);
  }
}

/** Each parameter as a leaf under `form.NAME` / `query.NAME`, its value decoded further. */
export function walkParams(walk: Walk, text: string, at: At, kind: "form" | "query"): void {
  for (const param of eachParam(text, "&")) {
    if (full(walk)) return;
    const here = step(at, `${kind}.${param.name}`, param.escaped, param.name.toLowerCase());
    walkText(walk, param.value, here, true);
  }
}

function walkFormText(walk: Walk, text: string, at: At): boolean {
  if (!looksLikeForm(text)) return false;
  walkParams(walk, text, at, "form");
  return true;
}

/** `<key>value</key>` elements (not HTML pages), each value under `xml.key`. */
function walkXml(walk: Walk, text: string, at: At): boolean {
  if (text[0] !== "<" || HTML.test(text)) return false;
  let found = false;
  for (const [, name = "", value = ""] of text.matchAll(XML_ELEMENT)) {
    if (full(walk)) break;
    if (value.trim() === "") continue;
    found = true;
    walkText(walk, unescapeXml(value.trim()), step(at, `xml.${name}`, false, name.toLowerCase()), true);
  }
  return found;
}

function unescapeXml(text: string): string {
  if (!text.includes("&")) return text;
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

function walkHex(walk: Walk, text: string, at: At): boolean {
  const decoded = decodeHex(text);
  if (decoded === null) return false;
  walkDecoded(walk, decoded, step(at, "hex", true));
  return true;
}

/** A JSON Web Token: its header and payload segments, each base64url. */
function walkJwt(walk: Walk, text: string, at: At): boolean {
  const segments = jwtSegments(text);
  if (segments === null) return false;
  walkText(walk, segments[0], step(at, "jwt.header", false), false);
  walkText(walk, segments[1], step(at, "jwt.payload", false), false);
  return true;
}

/** Header and payload of `eyJ….….[signature]`: three base64url segments, the first two 8 or more long. */
function jwtSegments(text: string): [string, string] | null {
  if (!text.startsWith("eyJ") || text.length > MAX_ENCODED) return null;
  const first = text.indexOf(".");
  const second = first < 0 ? -1 : text.indexOf(".", first + 1);
  if (second < 0 || text.includes(".", second + 1)) return null;
  const header = text.slice(0, first);
  const payload = text.slice(first + 1, second);
  const signature = text.slice(second + 1);
  if (header.length < MIN_JWT_SEGMENT || payload.length < MIN_JWT_SEGMENT) return null;
  if (!JWT_SEGMENT.test(header) || !JWT_SEGMENT.test(payload)) return null;
  return signature === "" || JWT_SEGMENT.test(signature) ? [header, payload] : null;
}

function walkBase64(walk: Walk, text: string, at: At): boolean {
  const decoded = decodeBase64(text);
  if (decoded === null) return false;
  walkDecoded(walk, decoded, step(at, "base64", true));
  return true;
}

function walkEscaped(walk: Walk, text: string, at: At): boolean {
  if (!hasEscapes(text)) return false;
  const decoded = percentDecode(text, false);
  if (decoded === text) return false;
  walkText(walk, decoded, step(at, "url", true), true);
  return true;
}
