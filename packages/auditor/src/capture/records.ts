/**
 * What the pcap and pcapng readers share: the per-frame decoding callback,
 * the sane maximum of a record, integers in either byte order, the range of
 * a valid time, and the errors for a file that ends inside a
 * record or holds a length no capture would write.
 */
import { CaptureError } from "./errors.ts";
import type { ByteSource } from "./source.ts";
import type { Packet } from "../types.ts";

/** Larger records than this are taken for corruption rather than read. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

/** Decodes one frame (its 1-based index, time in ms, link type, bytes) into a packet, if it holds one. */
export type FrameDecoder = (
  index: number,
  time: number,
  linkType: number,
  frame: Buffer,
) => Packet | undefined;

/** The file ends inside packet `index`, which starts at byte `start`. */
export function truncatedIn(path: string, index: number, start: number, fileEnd: number): CaptureError {
  return new CaptureError(
    "capture.truncated",
    `${path} ends inside packet ${index} at byte ${fileEnd} (the packet starts at byte ${start})`,
  );
}

/** A length field that cannot be right; `what` names it, `offset` is where its record starts. */
export function corruptLength(path: string, what: string, length: number, offset: number): CaptureError {
  return new CaptureError(
    "capture.unreadable",
    `${path} is corrupt: ${what} of ${length} bytes at byte ${offset}`,
  );
}

/** The unsigned 16-bit integer at `at`, in the capture's byte order. */
export function readUint16(buffer: Buffer, at: number, littleEndian: boolean): number {
  return littleEndian ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at);
}

/** The unsigned 32-bit integer at `at`, in the capture's byte order. */
export function readUint32(buffer: Buffer, at: number, littleEndian: boolean): number {
  return littleEndian ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at);
}

/** The largest time a Date can hold, in ms either side of the epoch (ECMA-262 §21.4.1.22). */
export const MAX_DATE_MS = 8.64e15;

/** True when `time` (ms since the epoch) is a time a Date can hold. */
export function isValidTime(time: number): boolean {
  return Number.isFinite(time) && Math.abs(time) <= MAX_DATE_MS;
}

/** Milliseconds since the epoch from whole seconds and a fraction counted in `unitsPerSecond`. */
export function toMilliseconds(seconds: number, fraction: number, unitsPerSecond: number): number {
  return seconds * 1000 + (fraction * 1000) / unitsPerSecond;
}

/**
 * The read loop both formats share: `read` decodes every complete record in
 * the buffer into `batch` and answers how many bytes the next one needs; a
 * batch is yielded per buffer's worth, and what was complete before a corrupt
 * record is yielded before its error. At the end of the file inside a record,
 * `truncated()` is thrown.
 */
export async function* recordBatches(
  source: ByteSource,
  read: (batch: Packet[]) => number,
  truncated: () => CaptureError,
): AsyncGenerator<Packet[]> {
  for (;;) {
    const batch: Packet[] = [];
    let needed: number;
    try {
      needed = read(batch);
    } catch (error) {
      if (batch.length > 0) yield batch; // what was complete before the corruption
      throw error;
    }
    if (batch.length > 0) yield batch;
    if (!(await source.fill(needed))) {
      if (source.available() === 0) return;
      throw truncated();
    }
  }
}
