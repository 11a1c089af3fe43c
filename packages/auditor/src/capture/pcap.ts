/**
 * The classic pcap format: a 24-byte file header (magic in the writer's
 * byte order, a1b2c3d4 for microsecond and a1b23c4d for nanosecond
 * timestamps; version 2.x; snap length; link type in the low 16 bits), then
 * records of a 16-byte header (seconds, fraction, captured length, original
 * length) and the captured bytes.
 */
import { CaptureError } from "./errors.ts";
import { isSupportedLink } from "./link.ts";
import {
  corruptLength,
  type FrameDecoder,
  MAX_RECORD_BYTES,
  readUint16,
  readUint32,
  recordBatches,
  toMilliseconds,
  truncatedIn,
} from "./records.ts";
import type { ByteSource } from "./source.ts";
import type { Packet } from "../types.ts";

const FILE_HEADER = 24;
const RECORD_HEADER = 16;

interface PcapHeader {
  littleEndian: boolean;
  unitsPerSecond: number;
  linkType: number;
}

/** Packets of a pcap file, a batch per buffer's worth of records, in file order. */
export async function* pcapPackets(source: ByteSource, decode: FrameDecoder): AsyncGenerator<Packet[]> {
  if (!(await source.fill(FILE_HEADER))) {
    throw new CaptureError("capture.truncated", `${source.path} ends inside its pcap file header`);
  }
  const header = readHeader(source);
  source.skip(FILE_HEADER);
  const state = { header, index: 0, decode };
  yield* recordBatches(
    source,
    (batch) => readBuffered(source, state, batch),
    () =>
      truncatedIn(source.path, state.index + 1, source.offset(), source.bufferOffset + source.buffer.length),
  );
}

/** Decodes every whole record in the buffer into `batch`; returns the bytes the next record needs. */
function readBuffered(
  source: ByteSource,
  state: { header: PcapHeader; index: number; decode: FrameDecoder },
  batch: Packet[],
): number {
  while (source.available() >= RECORD_HEADER) {
    const recordLength = RECORD_HEADER + capturedLength(source, state.header, state.index + 1);
    if (source.available() < recordLength) return recordLength;
    state.index++;
    const packet = decodeRecord(source, state.header, state.index, state.decode);
    if (packet) batch.push(packet);
    source.skip(recordLength);
  }
  return RECORD_HEADER;
}

function readHeader(source: ByteSource): PcapHeader {
  const { buffer, pos, path } = source;
  const magic = buffer.readUInt32LE(pos);
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nanoseconds = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const major = readUint16(buffer, pos + 4, littleEndian);
  if (major !== 2)
    throw new CaptureError("capture.unsupported", `${path} is pcap version ${major}.x; only 2.x is read`);
  // The top bits of the link type field may carry the FCS length (pcap draft); the type is the low 16.
  const linkType = readUint32(buffer, pos + 20, littleEndian) & 0xffff;
  if (!isSupportedLink(linkType)) {
    throw new CaptureError("capture.unsupported", `${path} has link type ${linkType}, which is not decoded`);
  }
  return { littleEndian, unitsPerSecond: nanoseconds ? 1e9 : 1e6, linkType };
}

/** The record header's 32-bit field at `at`. */
function read32(source: ByteSource, header: PcapHeader, at: number): number {
  return readUint32(source.buffer, source.pos + at, header.littleEndian);
}

/** The record's captured length, refused when no sane capture would hold it. */
function capturedLength(source: ByteSource, header: PcapHeader, index: number): number {
  const length = read32(source, header, 8);
  if (length > MAX_RECORD_BYTES) {
    throw corruptLength(source.path, `packet ${index} claims a captured length`, length, source.offset());
  }
  return length;
}

function decodeRecord(
  source: ByteSource,
  header: PcapHeader,
  index: number,
  decode: FrameDecoder,
): Packet | undefined {
  // Unsigned 32-bit seconds and fraction: at most about 2^32 s + 2^32 µs, always a valid date.
  const seconds = read32(source, header, 0);
  const fraction = read32(source, header, 4);
  const start = source.pos + RECORD_HEADER;
  const frame = source.buffer.subarray(start, start + read32(source, header, 8));
  return decode(index, toMilliseconds(seconds, fraction, header.unitsPerSecond), header.linkType, frame);
}
