/**
 * HTTP/1.x message bodies: framing (Content-Length, chunked with extensions
 * and trailers, read-until-close) and content codings (gzip, x-gzip, deflate
 * zlib-wrapped or raw, br, stacked). Works on Buffer views with indexOf only;
 * no loop touches a body byte by byte. Nothing here throws on bad input: a
 * problem becomes a note and the bytes are kept as they came.
 */
import { inflate } from "../decode/inflate.ts";

/** A body cut out of the stream: its bytes (still content-coded), where the next message starts, and any trailers. */
export interface FramedBody {
  raw: Buffer;
  next: number;
  trailers: [string, string][];
  /** Set when the stream ended before the body did. */
  truncated?: string;
}

const CRLF = Buffer.from("\r\n");

/** The body of exactly `length` bytes from `start`, or what there is of it. */
export function lengthBody(data: Buffer, start: number, length: number): FramedBody {
  const end = start + length;
  if (end <= data.length) return { raw: data.subarray(start, end), next: end, trailers: [] };
  const have = data.length - start;
  return {
    raw: data.subarray(start),
    next: data.length,
    trailers: [],
    truncated: `body truncated: ${have} of ${length} bytes`,
  };
}

/** Everything from `start` to the end of the stream (a response framed by the connection closing). */
export function untilCloseBody(data: Buffer, start: number): FramedBody {
  return { raw: data.subarray(start), next: data.length, trailers: [] };
}

/**
 * A chunked body from `start`: chunk extensions are skipped, trailers returned
 * as headers. With `keep` false the chunks are only framed, not copied: `raw` is empty.
 */
export function chunkedBody(data: Buffer, start: number, keep = true): FramedBody {
  const chunks: Buffer[] = [];
  let pos = start;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, pos);
    if (lineEnd < 0) return truncatedChunks(chunks, data, "chunked body truncated in a chunk header");
    const size = chunkSize(data.toString("latin1", pos, lineEnd));
    if (size === null) return truncatedChunks(chunks, data, "chunked body has a malformed chunk size");
    if (size === 0) return finishChunks(chunks, data, lineEnd + 2);
    const dataStart = lineEnd + 2;
    const dataEnd = dataStart + size;
    if (dataEnd > data.length) {
      if (keep) chunks.push(data.subarray(dataStart));
      return truncatedChunks(chunks, data, "chunked body truncated inside a chunk");
    }
    if (keep) chunks.push(data.subarray(dataStart, dataEnd));
    // The chunk's data is followed by CRLF; tolerate a bare LF or nothing.
    pos = data[dataEnd] === 0x0d ? dataEnd + 2 : data[dataEnd] === 0x0a ? dataEnd + 1 : dataEnd;
  }
}

/** The hexadecimal size before any `;extension`, or null when it is not one. */
function chunkSize(line: string): number | null {
  const text = line.split(";", 1)[0]?.trim() ?? "";
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) return null;
  return parseInt(text, 16);
}

/** After the last chunk: trailer lines up to an empty line. */
function finishChunks(chunks: Buffer[], data: Buffer, pos: number): FramedBody {
  const raw = Buffer.concat(chunks);
  if (data[pos] === 0x0d && data[pos + 1] === 0x0a) return { raw, next: pos + 2, trailers: [] };
  const end = data.indexOf("\r\n\r\n", pos, "latin1");
  if (end < 0) {
    return { raw, next: data.length, trailers: parseHeaderLines(data.toString("utf8", pos).split(/\r?\n/)) };
  }
  const trailers = parseHeaderLines(data.toString("utf8", pos, end).split("\r\n"));
  return { raw, next: end + 4, trailers };
}

function truncatedChunks(chunks: Buffer[], data: Buffer, why: string): FramedBody {
  return { raw: Buffer.concat(chunks), next: data.length, trailers: [], truncated: why };
}

/** Header lines (without the start line) as [lower-cased name, value] pairs; obsolete line folding is joined. */
export function parseHeaderLines(lines: string[]): [string, string][] {
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (line === "") continue;
    const last = headers[headers.length - 1];
    if ((line[0] === " " || line[0] === "\t") && last !== undefined) {
      last[1] = `${last[1]} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return headers;
}

/** The body with its content codings undone (last applied first); on failure the bytes so far, with a note. */
export function decodeContent(
  raw: Buffer,
  contentEncoding: string | null,
): { body: Uint8Array; note?: string } {
  if (contentEncoding === null || raw.length === 0) return { body: raw };
  const codings = contentEncoding
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  let body: Uint8Array = raw;
  const notes: string[] = [];
  for (const coding of codings.reverse()) {
    const step = undoCoding(body, coding);
    if (step === null) {
      notes.push(`content-encoding ${coding} could not be decoded (invalid, or over 16 MiB); kept as is`);
      break;
    }
    body = step.data;
    if (step.note !== undefined) notes.push(step.note);
  }
  return notes.length === 0 ? { body } : { body, note: notes.join("; ") };
}

function undoCoding(body: Uint8Array, coding: string): { data: Uint8Array; note?: string } | null {
  if (coding === "gzip" || coding === "x-gzip") return inflate(body, "gzip");
  if (coding === "deflate") return inflate(body, "deflate");
  if (coding === "br") return inflate(body, "br");
  return null;
}
