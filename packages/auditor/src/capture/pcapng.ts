/**
 * The pcapng format: blocks of (type, total length, body, total length),
 * grouped in sections that each start with a section header block (SHB)
 * whose byte-order magic sets the byte order of the whole section. Interface
 * description blocks (IDB) declare each interface's link type and timestamp
 * resolution (if_tsresol, default microseconds; if_tsoffset in seconds);
 * enhanced (EPB), simple (SPB) and obsolete packet blocks carry frames. Other
 * blocks (name resolution, statistics, secrets, custom) are skipped, and so
 * are frames of interfaces whose link type is not decoded (counted).
 *
 * A block whose length is not a multiple of 4, is below the minimum, above
 * MAX_RECORD_BYTES, differs from its trailing copy, or leaves no room for the
 * fixed fields of its type is corruption; so is a packet whose timestamp
 * (with its interface's if_tsresol and if_tsoffset) is no valid date.
 */
import { CaptureError } from "./errors.ts";
import {
  corruptLength,
  type FrameDecoder,
  isValidTime,
  MAX_RECORD_BYTES,
  readUint16,
  readUint32,
  recordBatches,
  toMilliseconds,
  truncatedIn,
} from "./records.ts";
import type { ByteSource } from "./source.ts";
import type { Packet } from "../types.ts";

const SECTION_HEADER = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const INTERFACE_DESCRIPTION = 1;
const OBSOLETE_PACKET = 2;
const SIMPLE_PACKET = 3;
const ENHANCED_PACKET = 6;
const PACKET_BLOCKS = new Set([OBSOLETE_PACKET, SIMPLE_PACKET, ENHANCED_PACKET]);
const MIN_BLOCK = 12;
/** Bytes of fixed fields before the options: IDB link type, reserved, snap length. */
const IDB_FIXED = 8;
/** Bytes of fixed fields before the frame: EPB and obsolete packet block 20 (interface, drops, timestamp, lengths), SPB 4. */
const PACKET_FIXED: Record<number, number> = {
  [ENHANCED_PACKET]: 20,
  [OBSOLETE_PACKET]: 20,
  [SIMPLE_PACKET]: 4,
};

const OPTION_TSRESOL = 9;
const OPTION_TSOFFSET = 14;

interface Interface {
  linkType: number;
  /** Timestamp units per second: 10^n or 2^n by if_tsresol. */
  unitsPerSecond: number;
  /** if_tsoffset: seconds added to every timestamp. */
  offsetSeconds: number;
}

/** One section's byte order and interfaces. */
interface Section {
  littleEndian: boolean;
  interfaces: Interface[];
}

/** A block in the buffer: where its body starts and ends, and the reader of its integers. */
interface Block {
  type: number;
  body: number;
  end: number;
  offset: number;
  section: Section;
}

/** Where the reading is: the current section (none before the first SHB) and packets so far. */
interface ReadState {
  section: Section | undefined;
  index: number;
  decode: FrameDecoder;
}

/** Packets of a pcapng file, a batch per buffer's worth of blocks, in file order. */
export async function* pcapngPackets(source: ByteSource, decode: FrameDecoder): AsyncGenerator<Packet[]> {
  const state: ReadState = { section: undefined, index: 0, decode };
  yield* recordBatches(
    source,
    (batch) => readBuffered(source, state, batch),
    () => truncated(source, state.section, state.index),
  );
}

/** Reads every whole block in the buffer, decoding packets into `batch`; returns the bytes the next block needs. */
function readBuffered(source: ByteSource, state: ReadState, batch: Packet[]): number {
  while (source.available() >= MIN_BLOCK) {
    const section = sectionOf(source, state.section);
    state.section = section;
    const length = blockLength(source, section);
    if (source.available() < length) return length;
    const block = openBlock(source, section, length);
    if (block.type === INTERFACE_DESCRIPTION) section.interfaces.push(readInterface(source, block));
    if (PACKET_BLOCKS.has(block.type)) {
      state.index++;
      const packet = readPacket(source, block, state.index, state.decode);
      if (packet) batch.push(packet);
    }
    source.skip(length);
  }
  return MIN_BLOCK;
}

/** The section a block belongs to: a new one at each SHB, whose magic gives the byte order. */
function sectionOf(source: ByteSource, current: Section | undefined): Section {
  const { buffer, pos } = source;
  if (buffer.readUInt32LE(pos) !== SECTION_HEADER) {
    if (current) return current;
    throw new CaptureError(
      "capture.unreadable",
      `${source.path} does not start with a pcapng section header`,
    );
  }
  if (buffer.readUInt32LE(pos + 8) === BYTE_ORDER_MAGIC) return { littleEndian: true, interfaces: [] };
  if (buffer.readUInt32BE(pos + 8) === BYTE_ORDER_MAGIC) return { littleEndian: false, interfaces: [] };
  throw new CaptureError(
    "capture.unreadable",
    `${source.path} is corrupt: the section header at byte ${source.offset()} has no byte-order magic`,
  );
}

/** The block's total length, refused when it cannot be right. */
function blockLength(source: ByteSource, section: Section): number {
  const length = readUint32(source.buffer, source.pos + 4, section.littleEndian);
  if (length < MIN_BLOCK || length % 4 !== 0 || length > MAX_RECORD_BYTES) {
    throw corruptLength(source.path, "a block claims a length", length, source.offset());
  }
  return length;
}

/** The whole block is in the buffer: checks its trailing length and names its parts. */
function openBlock(source: ByteSource, section: Section, length: number): Block {
  const { buffer, pos } = source;
  const trailing = readUint32(buffer, pos + length - 4, section.littleEndian);
  if (trailing !== length) {
    throw new CaptureError(
      "capture.unreadable",
      `${source.path} is corrupt: the block at byte ${source.offset()} says ${length} bytes at its start and ${trailing} at its end`,
    );
  }
  const type = readUint32(buffer, pos, section.littleEndian);
  return { type, body: pos + 8, end: pos + length - 4, offset: source.offset(), section };
}

function readInterface(source: ByteSource, block: Block): Interface {
  const { buffer } = source;
  const { section } = block;
  requireBody(source, block, IDB_FIXED, "an interface description block");
  const found: Interface = {
    linkType: readUint16(buffer, block.body, section.littleEndian),
    unitsPerSecond: 1e6,
    offsetSeconds: 0,
  };
  for (const option of options(buffer, block.body + 8, block.end, section)) {
    if (option.code === OPTION_TSRESOL && option.length >= 1)
      found.unitsPerSecond = resolution(buffer[option.at] ?? 6);
    if (option.code === OPTION_TSOFFSET && option.length >= 8)
      found.offsetSeconds = readSigned64(buffer, option.at, section);
  }
  return found;
}

/** if_tsresol: the top bit chooses a power of 2, else a power of 10; the rest is the negative exponent. */
function resolution(value: number): number {
  return value & 0x80 ? 2 ** (value & 0x7f) : 10 ** value;
}

function readSigned64(buffer: Buffer, at: number, section: Section): number {
  return Number(section.littleEndian ? buffer.readBigInt64LE(at) : buffer.readBigInt64BE(at));
}

/** The options of a block (code, length, value offset), up to opt_endofopt or the block's end. */
function* options(
  buffer: Buffer,
  start: number,
  end: number,
  section: Section,
): Generator<{ code: number; length: number; at: number }> {
  let at = start;
  while (at + 4 <= end) {
    const code = readUint16(buffer, at, section.littleEndian);
    const length = readUint16(buffer, at + 2, section.littleEndian);
    if (code === 0 || at + 4 + length > end) return;
    yield { code, length, at: at + 4 };
    at += 4 + Math.ceil(length / 4) * 4;
  }
}

function readPacket(
  source: ByteSource,
  block: Block,
  index: number,
  decode: FrameDecoder,
): Packet | undefined {
  const { buffer } = source;
  const { section, body } = block;
  requireBody(source, block, PACKET_FIXED[block.type] ?? 0, `packet ${index}`);
  if (block.type === SIMPLE_PACKET) {
    const captured = Math.min(readUint32(buffer, body, section.littleEndian), block.end - body - 4);
    return decodeFrame(source, block, 0, 0, 0, buffer.subarray(body + 4, body + 4 + captured), index, decode);
  }
  // EPB: interface (4), timestamp high and low (4 + 4), captured and original lengths; the obsolete
  // packet block has a 2-byte interface and a 2-byte drops count in place of the first 4.
  const interfaceId =
    block.type === ENHANCED_PACKET
      ? readUint32(buffer, body, section.littleEndian)
      : readUint16(buffer, body, section.littleEndian);
  const high = readUint32(buffer, body + 4, section.littleEndian);
  const low = readUint32(buffer, body + 8, section.littleEndian);
  const captured = readUint32(buffer, body + 12, section.littleEndian);
  const dataStart = body + 20;
  if (dataStart + captured > block.end) {
    throw corruptLength(source.path, `packet ${index} claims a captured length`, captured, block.offset);
  }
  return decodeFrame(
    source,
    block,
    interfaceId,
    high,
    low,
    buffer.subarray(dataStart, dataStart + captured),
    index,
    decode,
  );
}

/** Refuses a block whose body is too short for the fixed fields of its type. */
function requireBody(source: ByteSource, block: Block, fixed: number, what: string): void {
  const length = block.end - block.body;
  if (length < fixed) {
    throw corruptLength(
      source.path,
      `${what} has ${fixed} bytes of fixed fields in a body`,
      length,
      block.offset,
    );
  }
}

function decodeFrame(
  source: ByteSource,
  block: Block,
  interfaceId: number,
  high: number,
  low: number,
  frame: Buffer,
  index: number,
  decode: FrameDecoder,
): Packet | undefined {
  const found = block.section.interfaces[interfaceId];
  if (!found) {
    throw new CaptureError(
      "capture.unreadable",
      `${source.path} is corrupt: packet ${index} at byte ${block.offset} names interface ${interfaceId}, which its section does not describe`,
    );
  }
  const time = timeOf(found, high, low);
  // Rejected rather than clamped: a clamped time would be a made-up one, and such a timestamp (a
  // resolution of whole seconds over 64 bits, a huge if_tsoffset) means the interface or block is corrupt.
  if (!isValidTime(time)) {
    throw new CaptureError(
      "capture.unreadable",
      `${source.path} is corrupt: packet ${index} at byte ${block.offset} has a timestamp that is no date (${time} ms since 1970)`,
    );
  }
  return decode(index, time, found.linkType, frame);
}

/** Milliseconds since the epoch of a 64-bit timestamp, exact in whole seconds even beyond 2^53 units. */
function timeOf(found: Interface, high: number, low: number): number {
  const units = found.unitsPerSecond;
  const ticks = high * 2 ** 32 + low;
  if (ticks <= Number.MAX_SAFE_INTEGER) {
    const seconds = Math.floor(ticks / units);
    return toMilliseconds(seconds + found.offsetSeconds, ticks - seconds * units, units);
  }
  const big = (BigInt(high) << 32n) | BigInt(low);
  const bigUnits = BigInt(units);
  return toMilliseconds(Number(big / bigUnits) + found.offsetSeconds, Number(big % bigUnits), units);
}

/** The error for a file that ends inside a block: a packet's (by number) or another's. */
function truncated(source: ByteSource, section: Section | undefined, index: number): CaptureError {
  const fileEnd = source.bufferOffset + source.buffer.length;
  const type =
    source.available() >= 4 && section
      ? readUint32(source.buffer, source.pos, section.littleEndian)
      : ENHANCED_PACKET;
  if (PACKET_BLOCKS.has(type)) return truncatedIn(source.path, index + 1, source.offset(), fileEnd);
  return new CaptureError(
    "capture.truncated",
    `${source.path} ends inside a block of type 0x${type.toString(16)} at byte ${fileEnd} (the block starts at byte ${source.offset()})`,
  );
}
