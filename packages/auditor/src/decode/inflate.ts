/**
 * Bounded decompression shared by the HTTP body decoder and the recursive
 * decoder: gzip, zlib-wrapped and raw deflate, and brotli, each capped so that
 * a decompression bomb costs at most `MAX_INFLATED` bytes of memory. A stream
 * cut short (a capture that ends mid-body) yields what was decompressed so far.
 */
import zlib from "node:zlib";

/** The most one decompression step may produce, in bytes (16 MiB). */
export const MAX_INFLATED = 16 * 1024 * 1024;

/** What a decompression gave: the bytes, and a note when it was partial. */
export interface Inflated {
  data: Uint8Array;
  note?: string;
}

/** The compression formats this module can undo. */
export type Compression = "gzip" | "deflate" | "deflate-raw" | "zlib" | "br";

/** True when the bytes begin with the gzip magic (1f 8b, method 8). */
export function hasGzipMagic(data: Uint8Array): boolean {
  return data.length >= 3 && data[0] === 0x1f && data[1] === 0x8b && data[2] === 0x08;
}

/** True when the bytes begin with a zlib header (CM 8, window ≤ 32 KiB, FCHECK valid). */
export function hasZlibHeader(data: Uint8Array): boolean {
  const cmf = data[0];
  const flg = data[1];
  if (cmf === undefined || flg === undefined) return false;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + flg) % 31 === 0;
}

/**
 * Undoes one compression step, or returns null when the bytes are not in that
 * format or would inflate beyond `limit`. Never throws.
 */
export function inflate(data: Uint8Array, format: Compression, limit = MAX_INFLATED): Inflated | null {
  if (format === "deflate") {
    return hasZlibHeader(data) ? inflate(data, "zlib", limit) : inflate(data, "deflate-raw", limit);
  }
  const whole = attempt(data, format, limit, false);
  if (whole instanceof Uint8Array) return { data: whole };
  if (whole === "too-large") return null;
  // A truncated stream: a sync flush at the end yields the decompressed prefix.
  const partial = attempt(data, format, limit, true);
  if (!(partial instanceof Uint8Array) || partial.length === 0) return null;
  return { data: partial, note: `${format} stream incomplete; decoded ${partial.length} bytes` };
}

/** The output, or why there is none: over the cap, or not valid in this format. */
function attempt(
  data: Uint8Array,
  format: Compression,
  limit: number,
  flush: boolean,
): Uint8Array | "too-large" | "invalid" {
  try {
    return run(data, format, limit, flush);
  } catch (error) {
    const code = (error as { code?: string }).code;
    return error instanceof RangeError || code === "ERR_BUFFER_TOO_LARGE" ? "too-large" : "invalid";
  }
}

function run(data: Uint8Array, format: Compression, limit: number, flush: boolean): Buffer {
  if (format === "br") {
    const finishFlush = flush
      ? zlib.constants.BROTLI_OPERATION_FLUSH
      : zlib.constants.BROTLI_OPERATION_FINISH;
    return zlib.brotliDecompressSync(data, { maxOutputLength: limit, finishFlush });
  }
  const finishFlush = flush ? zlib.constants.Z_SYNC_FLUSH : zlib.constants.Z_FINISH;
  const options = { maxOutputLength: limit, finishFlush };
  if (format === "gzip") return zlib.gunzipSync(data, options);
  if (format === "zlib") return zlib.inflateSync(data, options);
  return zlib.inflateRawSync(data, options);
}
