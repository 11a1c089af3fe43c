/**
 * HTTP/1.x recognised by content, on any port: a connection is HTTP when the
 * client's bytes begin with a request line. Requests and responses are read
 * in order (keep-alive and pipelining), bodies unframed and content-decoded,
 * and responses paired with requests by position. A stream that stops early
 * yields what was read before the gap; nothing here throws on bad input.
 * Response bodies can be skipped (framed only, so pairing still works).
 */
import { asBuffer } from "../decode/bytes.ts";
import {
  chunkedBody,
  decodeContent,
  type FramedBody,
  lengthBody,
  parseHeaderLines,
  untilCloseBody,
} from "./http-body.ts";

/** One request as sent. `body` has transfer and content codings undone. */
export interface HttpRequest {
  method: string;
  /** As on the request line: origin-form (`/a?b`), absolute-form, or authority-form for CONNECT. */
  target: string;
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: string;
  /** Names lower-cased; order and duplicates kept. Chunked trailers are appended. */
  headers: [string, string][];
  /** From the Host header (else an absolute target), lower-cased, without port or IPv6 brackets. */
  host: string | null;
  body: Uint8Array;
  /** Why the body is not all there or not decoded (truncated, unknown coding…). */
  bodyNote?: string;
  /** Byte offset of the request line in the client's stream. */
  offset: number;
}

/** One response as received. `requestIndex` is the request it answers (interim 1xx included). */
export interface HttpResponse {
  version: string;
  status: number;
  reason: string;
  headers: [string, string][];
  body: Uint8Array;
  bodyNote?: string;
  /** Byte offset of the status line in the server's stream. */
  offset: number;
  /** Index into `requests`, or null when there are more responses than requests. */
  requestIndex: number | null;
}

/** What parseHttp reads. */
export interface HttpOptions {
  /**
   * Whether response bodies are read (default true). With false, responses
   * are still framed, so pipelined responses pair with their requests, but
   * their bodies are neither copied nor content-decoded: `body` is empty.
   */
  responseBodies?: boolean;
}

/** The HTTP exchange of one connection. */
export interface HttpExchange {
  requests: HttpRequest[];
  responses: HttpResponse[];
}

const REQUEST_LINE = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) (\S+) (HTTP\/1\.[01])\r?\n/;
const STATUS_LINE = /^(HTTP\/1\.[01]) (\d{3})(?: ([^\r\n]*))?\r?\n/;
/** A request or status line longer than this is not taken as one (bytes). */
const MAX_START_LINE = 64 * 1024;
/** Of a head cut off by the end of the stream, at most this many bytes are read as header lines. */
const MAX_TRUNCATED_HEAD = 64 * 1024;
const NO_BODY = new Uint8Array(0);

/** True when the bytes begin with an HTTP/1.x request line. */
export function isHttpRequest(data: Uint8Array): boolean {
  return REQUEST_LINE.test(startLine(asBuffer(data), 0));
}

/** Requests and responses of a connection, or null when the client did not speak HTTP/1.x. */
export function parseHttp(
  clientData: Uint8Array,
  serverData: Uint8Array,
  options?: HttpOptions,
): HttpExchange | null {
  const client = asBuffer(clientData);
  if (!REQUEST_LINE.test(startLine(client, 0))) return null;
  const requests = readRequests(client);
  const responses = readResponses(asBuffer(serverData), requests, options?.responseBodies ?? true);
  return { requests, responses };
}

/** The first line from `pos`, with its line ending, as latin1 (bounded in length). */
function startLine(data: Buffer, pos: number): string {
  const end = data.indexOf(0x0a, pos);
  const stop = end < 0 ? Math.min(data.length, pos + MAX_START_LINE) : end + 1;
  if (stop - pos > MAX_START_LINE) return "";
  return data.toString("latin1", pos, stop);
}

/** A message head: start line, headers, and where the body begins. */
interface Head {
  startLine: string;
  headers: [string, string][];
  bodyStart: number;
  /** True when the stream ended inside the head. */
  truncated: boolean;
}

function readHead(data: Buffer, pos: number): Head {
  let end = data.indexOf("\r\n\r\n", pos, "latin1");
  let terminator = 4;
  // A head ended by bare LFs (some embedded clients); searched only before any CRLFCRLF.
  const bareLf = data.subarray(pos, end < 0 ? data.length : end).indexOf("\n\n", 0, "latin1");
  if (bareLf >= 0) {
    end = pos + bareLf;
    terminator = 2;
  }
  const truncated = end < 0;
  // A cut head runs to the end of the stream, which may be megabytes of something else: read a bounded slice.
  const stop = truncated ? Math.min(data.length, pos + MAX_TRUNCATED_HEAD) : end;
  const text = data.toString("utf8", pos, stop);
  const lines = text.split(/\r?\n/);
  return {
    startLine: lines[0] ?? "",
    headers: parseHeaderLines(lines.slice(1)),
    bodyStart: truncated ? data.length : end + terminator,
    truncated,
  };
}

function readRequests(data: Buffer): HttpRequest[] {
  const requests: HttpRequest[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos > 0) pos = skipBlankLines(data, pos);
    const match = REQUEST_LINE.exec(startLine(data, pos));
    if (match === null) break;
    const [, method = "", target = "", version = ""] = match;
    const head = readHead(data, pos);
    const framed = head.truncated ? emptyBody(data, "request head truncated") : requestBody(data, head);
    requests.push(makeRequest(method, target, version, head, framed, pos));
    // After CONNECT the bytes belong to the tunnel, not to HTTP.
    if (method === "CONNECT" || framed.next <= pos) break;
    pos = framed.next;
  }
  return requests;
}

function requestBody(data: Buffer, head: Head): FramedBody {
  if (isChunked(head.headers)) return chunkedBody(data, head.bodyStart);
  const length = contentLength(head.headers);
  return lengthBody(data, head.bodyStart, length ?? 0);
}

function makeRequest(
  method: string,
  target: string,
  version: string,
  head: Head,
  framed: FramedBody,
  offset: number,
): HttpRequest {
  const headers = [...head.headers, ...framed.trailers];
  const { body, note } = decodeBody(head.headers, framed);
  const request: HttpRequest = {
    method,
    target,
    version,
    headers,
    host: hostOf(headers, target),
    body,
    offset,
  };
  if (note !== undefined) request.bodyNote = note;
  return request;
}

function readResponses(data: Buffer, requests: HttpRequest[], bodies: boolean): HttpResponse[] {
  const responses: HttpResponse[] = [];
  let pos = 0;
  let answered = 0;
  while (pos < data.length) {
    if (pos > 0) pos = skipBlankLines(data, pos);
    const match = STATUS_LINE.exec(startLine(data, pos));
    if (match === null) break;
    const [, version = "", statusText = "", reason = ""] = match;
    const status = Number(statusText);
    const request = requests[answered];
    const head = readHead(data, pos);
    const framed = head.truncated
      ? emptyBody(data, "response head truncated")
      : responseBody(data, head, status, request?.method, bodies);
    const requestIndex = request ? answered : null;
    responses.push(makeResponse(version, status, reason, head, framed, pos, requestIndex, bodies));
    if (status >= 200 || status === 101) answered += 1;
    // A tunnel (CONNECT 2xx) or a protocol switch (101) ends HTTP on this connection.
    if (status === 101 || (request?.method === "CONNECT" && status < 300) || framed.next <= pos) break;
    pos = framed.next;
  }
  return responses;
}

function responseBody(
  data: Buffer,
  head: Head,
  status: number,
  method: string | undefined,
  keep: boolean,
): FramedBody {
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
    return { raw: data.subarray(head.bodyStart, head.bodyStart), next: head.bodyStart, trailers: [] };
  }
  if (isChunked(head.headers)) return chunkedBody(data, head.bodyStart, keep);
  const length = contentLength(head.headers);
  return length === null ? untilCloseBody(data, head.bodyStart) : lengthBody(data, head.bodyStart, length);
}

function makeResponse(
  version: string,
  status: number,
  reason: string,
  head: Head,
  framed: FramedBody,
  offset: number,
  requestIndex: number | null,
  readBody: boolean,
): HttpResponse {
  const headers = [...head.headers, ...framed.trailers];
  const { body, note } = readBody ? decodeBody(head.headers, framed) : skippedBody(framed);
  const response: HttpResponse = { version, status, reason, headers, body, offset, requestIndex };
  if (note !== undefined) response.bodyNote = note;
  return response;
}

/** Empty lines between messages are ignored (RFC 9112 §2.2); at most a few are skipped. */
function skipBlankLines(data: Buffer, pos: number): number {
  let at = pos;
  while (at < pos + 8 && (data[at] === 0x0d || data[at] === 0x0a)) at += 1;
  return at;
}

function emptyBody(data: Buffer, why: string): FramedBody {
  return { raw: data.subarray(data.length), next: data.length, trailers: [], truncated: why };
}

/** A body framed but not read: empty, with only the framing's note. */
function skippedBody(framed: FramedBody): { body: Uint8Array; note?: string } {
  return framed.truncated === undefined ? { body: NO_BODY } : { body: NO_BODY, note: framed.truncated };
}

function decodeBody(headers: [string, string][], framed: FramedBody): { body: Uint8Array; note?: string } {
  const decoded = decodeContent(framed.raw, headerValue(headers, "content-encoding"));
  const notes = [framed.truncated, decoded.note].filter((n) => n !== undefined);
  return notes.length === 0 ? { body: decoded.body } : { body: decoded.body, note: notes.join("; ") };
}

/** All values of a header joined by ", " (as RFC 9110 allows for list headers), or null. */
export function headerValue(headers: [string, string][], name: string): string | null {
  const values = headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? null : values.join(", ");
}

function isChunked(headers: [string, string][]): boolean {
  const codings = headerValue(headers, "transfer-encoding");
  if (codings === null) return false;
  return codings.toLowerCase().split(",").pop()?.trim() === "chunked";
}

function contentLength(headers: [string, string][]): number | null {
  const value = headerValue(headers, "content-length");
  if (value === null) return null;
  // Repeated identical values ("10, 10") are allowed; anything else is unusable.
  const first = value.split(",")[0]?.trim() ?? "";
  return /^\d{1,15}$/.test(first) ? Number(first) : null;
}

/** The host a request names, lower-cased, without port or brackets. */
function hostOf(headers: [string, string][], target: string): string | null {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]+)/i.exec(target)?.[1];
  // CONNECT's authority-form target ("host:port") when there is no Host header.
  const authorityForm = /^[^/*][^/?#]*$/.test(target) ? target : null;
  const header = headerValue(headers, "host")?.split(",")[0]?.trim();
  const authority = absolute ?? header ?? authorityForm;
  if (authority === null || authority === "") return null;
  return stripPort(authority.replace(/^[^@]*@/, "")).toLowerCase();
}

function stripPort(authority: string): string {
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    return close < 0 ? authority.slice(1) : authority.slice(1, close);
  }
  const colon = authority.lastIndexOf(":");
  // More than one colon: a bare IPv6 address, not host:port.
  if (colon < 0 || authority.indexOf(":") !== colon) return authority;
  return authority.slice(0, colon);
}
