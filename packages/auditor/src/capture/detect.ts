/**
 * Which kind of capture a file is, from its first bytes (never its name):
 * pcap (either byte order, micro- or nanosecond magic), pcapng (a section
 * header block), or JSON that may be a HAR (confirmed once `log.entries` is
 * found). Anything else is refused with the bytes it starts with, so that a
 * person sees at once that they gave a PNG or a text file.
 */
import { CaptureError } from "./errors.ts";

export type CaptureFormat = "pcap" | "pcapng" | "har";

/** How many leading bytes `detectFormat` looks at (fewer if the file is shorter). */
export const SNIFF_BYTES = 64;

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1]);
const MODIFIED_PCAP_MAGICS = new Set([0xa1b2cd34, 0x34cdb2a1]);
const PCAPNG_SECTION_HEADER = 0x0a0d0d0a;

/** The format of a file starting with `head`; `path` is for the message. */
export function detectFormat(head: Buffer, path: string): CaptureFormat {
  if (head.length >= 4) {
    const magic = head.readUInt32BE(0);
    if (PCAP_MAGICS.has(magic)) return "pcap";
    if (magic === PCAPNG_SECTION_HEADER) return "pcapng";
    if (MODIFIED_PCAP_MAGICS.has(magic)) {
      throw unsupported(path, "is a modified (Kuznetsov) pcap; convert it with `editcap -F pcap`");
    }
    const compression = compressionOf(head);
    if (compression) throw unsupported(path, `is ${compression}-compressed; decompress it first`);
  }
  if (startsLikeJson(head)) return "har";
  throw notACapture(
    path,
    head.length === 0 ? "it is empty" : `starts with ${showBytes(head.subarray(0, 16))}`,
  );
}

/** The refusal for a file that is not a capture at all. */
export function notACapture(path: string, why: string): CaptureError {
  return new CaptureError("capture.unreadable", `${path} is not a pcap, pcapng or HAR file (${why})`);
}

function unsupported(path: string, what: string): CaptureError {
  return new CaptureError("capture.unsupported", `${path} ${what}`);
}

function compressionOf(head: Buffer): string | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.readUInt32BE(0) === 0x28b52ffd) return "zstd";
  if (head.readUInt32BE(0) === 0x04224d18) return "lz4";
  if (head[0] === 0xfd && head.toString("latin1", 1, 4) === "7zX") return "xz";
  return undefined;
}

/** A `{` after an optional UTF-8 byte order mark and white space. */
function startsLikeJson(head: Buffer): boolean {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && isJsonSpace(head[i] ?? 0)) i++;
  return head[i] === 0x7b;
}

function isJsonSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** `89 50 4e 47 0d 0a 1a 0a ".PNG...."`: hex, then the printable ASCII. */
export function showBytes(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  const text = Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
  return `${hex} ${JSON.stringify(text)}`;
}
