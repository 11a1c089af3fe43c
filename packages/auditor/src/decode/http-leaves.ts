/**
 * Leaves of an HTTP message: the request target (path and query), the
 * headers that can carry something about the device or person (everything
 * but the standard plumbing, with cookies split into their pairs), and the
 * body, decoded by its Content-Type when that is known and sniffed otherwise.
 */
import type { HttpRequest, HttpResponse } from "../protocols/http.ts";
import { headerValue } from "../protocols/http.ts";
import { splitParams } from "./form.ts";
import { maskStep } from "./mask.ts";
import { multipartBoundary, multipartParts } from "./multipart.ts";
import { type At, emit, step, type Walk, walkBytes, walkParams, walkText } from "./walk.ts";

/** Headers that only carry HTTP plumbing; all others are decoded. */
const PLUMBING = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "content-length",
  "content-type",
  "content-encoding",
  "content-language",
  "content-range",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "accept",
  "accept-encoding",
  "accept-language",
  "accept-charset",
  "accept-ranges",
  "cache-control",
  "pragma",
  "date",
  "expires",
  "last-modified",
  "etag",
  "age",
  "vary",
  "via",
  "server",
  "range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "if-range",
  "upgrade-insecure-requests",
  "dnt",
  "priority",
  "alt-svc",
  "strict-transport-security",
]);
const PLUMBING_PREFIXES = ["sec-fetch-", "access-control-"];
const UTF8_NAMES = new Set(["utf-8", "utf8", "us-ascii", "ascii"]);

/** The first step of a path: "target", "body" or "header.NAME" (long digit and hex runs masked). */
function root(name: string, key?: string): At {
  return { path: [maskStep(name)], key, encoded: false, depth: 0 };
}

/** Leaves of a request's target, headers and body into `walk`. */
export function requestInto(walk: Walk, request: HttpRequest): void {
  walkText(walk, request.target, root("target"), true);
  headersInto(walk, request.headers);
  bodyInto(walk, request.body, headerValue(request.headers, "content-type"));
}

/** Leaves of a response's headers and body into `walk`. */
export function responseInto(walk: Walk, response: HttpResponse): void {
  headersInto(walk, response.headers);
  bodyInto(walk, response.body, headerValue(response.headers, "content-type"));
}

function headersInto(walk: Walk, headers: [string, string][]): void {
  for (const [name, value] of headers) {
    if (PLUMBING.has(name) || PLUMBING_PREFIXES.some((p) => name.startsWith(p))) continue;
    const at = root(`header.${name}`, name);
    if (name === "cookie") cookiesInto(walk, value, at);
    else if (name === "set-cookie") cookiesInto(walk, value.split(";", 1)[0] ?? "", at);
    else if (name === "authorization" || name === "proxy-authorization") credentialsInto(walk, value, at);
    else walkText(walk, value, at, true);
  }
}

function cookiesInto(walk: Walk, value: string, at: At): void {
  emit(walk, value, at);
  for (const cookie of splitParams(value, /;\s*/, false)) {
    const here = step(at, `cookie.${cookie.name}`, cookie.escaped, cookie.name.toLowerCase());
    walkText(walk, cookie.value, here, true);
  }
}

/** "Basic <base64>", "Bearer <jwt>": the whole value, then the credentials decoded. */
function credentialsInto(walk: Walk, value: string, at: At): void {
  emit(walk, value, at);
  const credentials = value.trim().split(/\s+/)[1];
  if (credentials !== undefined) walkText(walk, credentials, at, false);
}

function bodyInto(walk: Walk, body: Uint8Array, contentType: string | null): void {
  if (body.length === 0) return;
  const at = root("body");
  const type = (contentType ?? "").toLowerCase();
  const boundary = multipartBoundary(contentType ?? "");
  if (boundary !== null) return multipartInto(walk, body, boundary, at);
  const text = charsetText(body, type);
  if (type.includes("application/x-www-form-urlencoded") && text !== null) {
    emit(walk, text, at);
    return walkParams(walk, text.trim(), at, "form");
  }
  if (text !== null) return walkText(walk, text, at, true);
  walkBytes(walk, body, at);
}

/** The body as text when the Content-Type names a charset other than UTF-8 that the runtime knows; else null. */
function charsetText(body: Uint8Array, type: string): string | null {
  const charset = /;\s*charset\s*=\s*"?([\w.:-]+)/.exec(type)?.[1];
  if (charset === undefined || UTF8_NAMES.has(charset)) {
    return type.includes("x-www-form-urlencoded") ? Buffer.from(body).toString("utf8") : null;
  }
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return null;
  }
}

function multipartInto(walk: Walk, body: Uint8Array, boundary: string, at: At): void {
  for (const part of multipartParts(body, boundary)) {
    walkBytes(walk, part.body, step(at, `part.${part.name}`, false, part.name.toLowerCase()));
  }
}
