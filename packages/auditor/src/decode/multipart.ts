/**
 * multipart/form-data bodies: each part's content, named by its
 * Content-Disposition `name` (or `filename`, else its position). Parts are
 * found with Buffer.indexOf on the boundary; a body cut short keeps the parts
 * (and the part) that arrived.
 */
import { parseHeaderLines } from "../protocols/http-body.ts";
import { asBuffer } from "./bytes.ts";

/** One part: its field name, its own Content-Type, and its bytes. */
export interface Part {
  name: string;
  contentType: string | null;
  body: Uint8Array;
}

/** The Content-Disposition parameters read, each pattern compiled once. */
const DISPOSITION_PARAMS = {
  name: dispositionPattern("name"),
  filename: dispositionPattern("filename"),
} as const;

function dispositionPattern(param: string): RegExp {
  return new RegExp(`;\\s*${param}\\s*=\\s*(?:"([^"]*)"|([^\\s;]+))`, "i");
}

/** The boundary parameter of a multipart Content-Type, or null. */
export function multipartBoundary(contentType: string): string | null {
  if (!/^\s*multipart\//i.test(contentType)) return null;
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

/** The parts of a multipart body. */
export function multipartParts(body: Uint8Array, boundary: string): Part[] {
  const data = asBuffer(body);
  const delimiter = Buffer.from(`--${boundary}`, "latin1");
  const parts: Part[] = [];
  let start = data.indexOf(delimiter);
  while (start >= 0) {
    const contentStart = start + delimiter.length;
    // "--boundary--" closes the body.
    if (data[contentStart] === 0x2d && data[contentStart + 1] === 0x2d) break;
    const next = data.indexOf(delimiter, contentStart);
    const end = next < 0 ? data.length : next;
    const part = readPart(data.subarray(contentStart, end), parts.length);
    if (part !== null) parts.push(part);
    start = next;
  }
  return parts;
}

function readPart(raw: Buffer, index: number): Part | null {
  const headEnd = raw.indexOf("\r\n\r\n");
  if (headEnd < 0) return null;
  const headers = parseHeaderLines(raw.toString("utf8", 0, headEnd).split("\r\n"));
  let body = raw.subarray(headEnd + 4);
  // The CRLF before the next delimiter belongs to the delimiter.
  if (body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a) body = body.subarray(0, -2);
  const disposition = headers.find(([n]) => n === "content-disposition")?.[1] ?? "";
  const name =
    dispositionParam(disposition, "name") ?? dispositionParam(disposition, "filename") ?? `${index}`;
  const contentType = headers.find(([n]) => n === "content-type")?.[1] ?? null;
  return { name, contentType, body };
}

function dispositionParam(disposition: string, param: keyof typeof DISPOSITION_PARAMS): string | null {
  const match = DISPOSITION_PARAMS[param].exec(disposition);
  return match?.[1] ?? match?.[2] ?? null;
}
