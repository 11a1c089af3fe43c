/**
 * The recursive decoder's engine. Text is always a leaf itself; then the first
 * interpretation that fits is followed: JSON, a URL with a query, XML-ish
 * elements, a form body, hex, a JWT, base64, percent-escapes. Bytes are
 * inflated when they carry gzip/zlib magic, read as UTF-8 text, or else shown
 * as their printable runs. Every step deepens the path; `maxDepth` bounds
 * cycles (base64 of base64 of…) and `maxLeaves` bounds the output.
 */
import type { Leaf } from "../types.ts";
import { hasEscapes, hidesCharacters, looksLikeForm, percentDecode, splitParams } from "./form.ts";
import { hasGzipMagic, hasZlibHeader, inflate } from "./inflate.ts";
import { JsonNumber, jsonScalars, parseJson } from "./json.ts";
import { asText, decodeBase64, decodeHex, printableRuns } from "./sniff.ts";

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
const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/[^\s/?#]+)?(?:\/[^\s?#]*)?(?:\?[^\s#]*)?(?:#\S*)?$/i;
const JWT = /^([A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]*$/;
const XML_ELEMENT = /<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?>([^<]*)<\/\1\s*>/g;
const HTML = /^<(?:!doctype html|html)/i;

/** A fresh walk. */
export function newWalk(maxDepth: number, maxLeaves: number): Walk {
  return { leaves: [], maxDepth, maxLeaves };
}

/** The position one step further down. */
export function step(at: At, name: string, encoded: boolean, key: string | undefined = at.key): At {
  return { path: [...at.path, name], key, encoded: at.encoded || encoded, depth: at.depth + 1 };
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

/** Bytes: inflated when compressed, read as text when they are text, else their printable runs. */
export function walkBytes(walk: Walk, bytes: Uint8Array, at: At): void {
  if (full(walk) || bytes.length === 0) return;
  if (at.depth < walk.maxDepth && (hasGzipMagic(bytes) || hasZlibHeader(bytes))) {
    const inflated = inflate(bytes, hasGzipMagic(bytes) ? "gzip" : "zlib");
    if (inflated !== null) return walkBytes(walk, inflated.data, step(at, "gzip", true));
  }
  const text = asText(bytes);
  if (text !== null) return walkText(walk, text, at, true);
  walkBinary(walk, bytes, at);
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
  if (!(text.startsWith("/") || /^[a-z][a-z0-9+.-]*:\/\//i.test(text)) || !URL_LIKE.test(text)) return false;
  // Base64 may begin with "/" (a JPEG's is "/9j/"): when it decodes to something, it is not a path.
  if (text.startsWith("/") && decodeBase64(text) !== null) return false;
  const hash = text.indexOf("#");
  const beforeHash = hash < 0 ? text : text.slice(0, hash);
  const question = beforeHash.indexOf("?");
  const pathPart = question < 0 ? beforeHash : beforeHash.slice(0, question);
  walkPath(walk, pathPart, at);
  if (question >= 0) walkParams(walk, beforeHash.slice(question + 1), at, "query");
  return true;
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
  for (const param of splitParams(text, "&")) {
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
  const bytes = decodeHex(text);
  if (bytes === null) return false;
  walkBytes(walk, bytes, step(at, "hex", true));
  return true;
}

/** A JSON Web Token: its header and payload segments, each base64url. */
function walkJwt(walk: Walk, text: string, at: At): boolean {
  const match = JWT.exec(text);
  if (match === null || !text.startsWith("eyJ")) return false;
  walkText(walk, match[1] ?? "", step(at, "jwt.header", false), false);
  walkText(walk, match[2] ?? "", step(at, "jwt.payload", false), false);
  return true;
}

function walkBase64(walk: Walk, text: string, at: At): boolean {
  const bytes = decodeBase64(text);
  if (bytes === null) return false;
  walkBytes(walk, bytes, step(at, "base64", true));
  return true;
}

function walkEscaped(walk: Walk, text: string, at: At): boolean {
  if (!hasEscapes(text)) return false;
  const decoded = percentDecode(text, false);
  if (decoded === text) return false;
  walkText(walk, decoded, step(at, "url", true), true);
  return true;
}
