/**
 * pcap and pcapng writers, for tests and benchmarks. They write real frames
 * (frames.ts) with correct lengths and checksums, either to memory
 * (`toBuffer()`) or streamed to a file through a 1 MiB buffer (`path`), so a
 * benchmark can write hundreds of megabytes without holding them.
 *
 *   const w = pcapngWriter({ path });
 *   w.tcpSession({ client, server, request, response, time });
 *   w.udp(time, src, dst, payload);
 *   w.close();
 *
 * A session is the handshake, the request in segments of `segmentSize`
 * (optionally shuffled, retransmitted, or with segments left out), the
 * server's ACK, the response likewise, the client's ACK and the FIN exchange.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import {
  ipPacket,
  LINK_TYPES,
  type LinkKind,
  linkFrame,
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  tcpSegment,
  type TcpFlags,
  type TcpSegmentSpec,
  udpDatagram,
} from "./frames.ts";
import type { Endpoint } from "../src/types.ts";

/** How to write. */
export interface WriterOptions {
  /** Stream to this file; without it the capture is kept in memory for `toBuffer()`. */
  path?: string;
  /** Link layer of the (first) interface; default Ethernet. */
  link?: LinkKind;
  /** VLAN tags on Ethernet frames, outermost first. */
  vlan?: number[];
  /** Big-endian headers (pcap) or first section (pcapng); default little-endian. */
  bigEndian?: boolean;
  /** Nanosecond timestamps (pcap's a1b23c4d magic, pcapng's if_tsresol 9); default microseconds. */
  nanoseconds?: boolean;
  /** Frames longer than this are cut (captured length < original length). */
  snaplen?: number;
  /** Compute TCP/UDP checksums (default true); false writes zero, which is faster. */
  checksums?: boolean;
}

/** One TCP connection to write. */
export interface TcpSessionSpec {
  client: Endpoint;
  server: Endpoint;
  request: Uint8Array;
  response: Uint8Array;
  /** Time of the first packet, ms since the epoch. */
  time: number;
  /** Time between packets, ms; default 0.05. */
  step?: number;
  /** Payload bytes per data segment; default 1460. */
  segmentSize?: number;
  /** Initial sequence numbers; default 1000000 and 2000000 (set near 2^32 to test wraparound). */
  isn?: { client: number; server: number };
  /** Write the SYN, SYN/ACK, ACK; default true. */
  handshake?: boolean;
  /** How the connection ends; default "fin". */
  close?: "fin" | "rst" | "none";
  /** Send each direction's data segments in a (seeded) random order. */
  shuffle?: boolean;
  /** Also send exact duplicates of some segments and retransmits that overlap two segments. */
  retransmit?: boolean;
  /** Seed of the shuffle; default 1. */
  seed?: number;
  /** Data segments (0-based, per direction) to leave out, making holes. */
  omit?: { client?: number[]; server?: number[] };
  interfaceId?: number;
}

/** Where records go: a file through a buffer, or memory. */
class Sink {
  bytesWritten = 0;
  #fd: number | undefined;
  #pending = Buffer.allocUnsafe(1 << 20);
  #used = 0;
  #parts: Buffer[] = [];

  constructor(path?: string) {
    if (path !== undefined) this.#fd = openSync(path, "w");
  }

  write(bytes: Uint8Array): void {
    this.bytesWritten += bytes.length;
    if (this.#used + bytes.length > this.#pending.length) this.flush();
    if (bytes.length > this.#pending.length) {
      this.#out(Buffer.from(bytes));
      return;
    }
    this.#pending.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  flush(): void {
    if (this.#used === 0) return;
    this.#out(Buffer.from(this.#pending.subarray(0, this.#used)));
    this.#used = 0;
  }

  close(): void {
    this.flush();
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  toBuffer(): Buffer {
    this.flush();
    return Buffer.concat(this.#parts);
  }

  #out(bytes: Buffer): void {
    if (this.#fd === undefined) {
      this.#parts.push(bytes);
      return;
    }
    let done = 0;
    while (done < bytes.length) done += writeSync(this.#fd, bytes, done, bytes.length - done);
  }
}

/** An interface of the capture: its link layer, VLAN tags and timestamp resolution. */
interface WriterInterface {
  link: LinkKind;
  vlan: number[];
  nanoseconds: boolean;
}

/** How a file format frames records: pcap or pcapng. */
interface RecordFormat {
  start(littleEndian: boolean, first: WriterInterface): Buffer[];
  addInterface(found: WriterInterface, littleEndian: boolean): Buffer[];
  record(
    time: number,
    frame: Uint8Array,
    original: number,
    interfaceId: number,
    found: WriterInterface,
  ): Buffer[];
}

/** A capture being written; pcapWriter and pcapngWriter make one. */
export class CaptureWriter {
  #sink: Sink;
  #format: RecordFormat;
  #interfaces: WriterInterface[];
  #littleEndian: boolean;
  #snaplen: number;
  #checksums: boolean;

  constructor(format: RecordFormat, options: WriterOptions) {
    this.#format = format;
    this.#sink = new Sink(options.path);
    this.#littleEndian = options.bigEndian !== true;
    this.#snaplen = options.snaplen ?? 262144;
    this.#checksums = options.checksums ?? true;
    this.#interfaces = [
      {
        link: options.link ?? "ethernet",
        vlan: options.vlan ?? [],
        nanoseconds: options.nanoseconds === true,
      },
    ];
    this.#writeAll(format.start(this.#littleEndian, this.#interfaces[0] as WriterInterface));
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.#sink.bytesWritten;
  }

  /** pcapng only: declares another interface; returns its id. */
  addInterface(link: LinkKind, options: { vlan?: number[]; nanoseconds?: boolean } = {}): number {
    const found = { link, vlan: options.vlan ?? [], nanoseconds: options.nanoseconds === true };
    this.#writeAll(this.#format.addInterface(found, this.#littleEndian));
    this.#interfaces.push(found);
    return this.#interfaces.length - 1;
  }

  /** pcapng only: starts a new section (optionally in the other byte order) declaring the same interfaces. */
  newSection(bigEndian = !this.#littleEndian): void {
    this.#littleEndian = !bigEndian;
    const [first, ...rest] = this.#interfaces;
    if (!first) return;
    this.#writeAll(this.#format.start(this.#littleEndian, first));
    for (const found of rest) this.#writeAll(this.#format.addInterface(found, this.#littleEndian));
  }

  /** Writes a frame already built for the interface's link layer. */
  frame(time: number, frame: Uint8Array, interfaceId = 0): void {
    const found = this.#interface(interfaceId);
    const captured = frame.length > this.#snaplen ? frame.subarray(0, this.#snaplen) : frame;
    this.#writeAll(this.#format.record(time, captured, frame.length, interfaceId, found));
  }

  /** Writes an IP packet in the interface's link layer. */
  ip(time: number, packet: Uint8Array, interfaceId = 0): void {
    const found = this.#interface(interfaceId);
    this.frame(time, linkFrame(found.link, packet, found.vlan), interfaceId);
  }

  /** Writes one TCP segment. */
  tcp(time: number, spec: TcpSegmentSpec, interfaceId = 0): void {
    const segment = tcpSegment(spec, this.#checksums);
    this.ip(time, ipPacket(spec.src.ip, spec.dst.ip, PROTOCOL_TCP, segment), interfaceId);
  }

  /** Writes one UDP datagram. */
  udp(time: number, src: Endpoint, dst: Endpoint, payload: Uint8Array, interfaceId = 0): void {
    const datagram = udpDatagram(src, dst, payload, this.#checksums);
    this.ip(time, ipPacket(src.ip, dst.ip, PROTOCOL_UDP, datagram), interfaceId);
  }

  /** Writes a whole TCP connection; returns the time of its last packet. */
  tcpSession(spec: TcpSessionSpec): number {
    return this.tcpSessions([spec]);
  }

  /** Writes concurrent TCP connections, their packets interleaved by time; returns the time of the last. */
  tcpSessions(specs: TcpSessionSpec[]): number {
    const planned = specs.flatMap((spec) => new SessionPlan(spec).segments());
    planned.sort((a, b) => a.time - b.time);
    for (const { time, segment, interfaceId } of planned) this.tcp(time, segment, interfaceId);
    return planned.reduce((latest, { time }) => Math.max(latest, time), 0);
  }

  /** Flushes and closes the file (if any). */
  close(): void {
    this.#sink.close();
  }

  /** The capture written so far (memory mode). */
  toBuffer(): Buffer {
    return this.#sink.toBuffer();
  }

  #interface(id: number): WriterInterface {
    const found = this.#interfaces[id];
    if (!found) throw new RangeError(`no interface ${id}`);
    return found;
  }

  #writeAll(parts: Buffer[]): void {
    for (const part of parts) this.#sink.write(part);
  }
}

/** One planned TCP segment of a session. */
interface PlannedSegment {
  time: number;
  segment: TcpSegmentSpec;
  interfaceId: number | undefined;
}

/** The segments of one TCP session, in the order they are sent, each with its time. */
class SessionPlan {
  #spec: TcpSessionSpec;
  #time: number;
  #step: number;
  #planned: PlannedSegment[] = [];

  constructor(spec: TcpSessionSpec) {
    this.#spec = spec;
    this.#time = spec.time;
    this.#step = spec.step ?? 0.05;
  }

  segments(): PlannedSegment[] {
    const { request, response } = this.#spec;
    const isn = this.#spec.isn ?? { client: 1_000_000, server: 2_000_000 };
    const clientData = isn.client + 1;
    const serverData = isn.server + 1;
    if (this.#spec.handshake !== false) {
      this.#send(true, isn.client, 0, { syn: true });
      this.#send(false, isn.server, clientData, { syn: true, ack: true });
      this.#send(true, clientData, serverData, { ack: true });
    }
    this.#data(true, request, clientData, serverData);
    this.#send(false, serverData, clientData + request.length, { ack: true });
    this.#data(false, response, serverData, clientData + request.length);
    const clientEnd = clientData + request.length;
    const serverEnd = serverData + response.length;
    this.#send(true, clientEnd, serverEnd, { ack: true });
    if (this.#spec.close === "rst") this.#send(true, clientEnd, serverEnd, { rst: true, ack: true });
    if (this.#spec.close === undefined || this.#spec.close === "fin") {
      this.#send(true, clientEnd, serverEnd, { fin: true, ack: true });
      this.#send(false, serverEnd, clientEnd + 1, { fin: true, ack: true });
      this.#send(true, clientEnd + 1, serverEnd + 1, { ack: true });
    }
    return this.#planned;
  }

  #send(fromClient: boolean, seq: number, ack: number, flags: TcpFlags, payload?: Uint8Array): void {
    const { client, server } = this.#spec;
    const [src, dst] = fromClient ? [client, server] : [server, client];
    const segment = { src, dst, seq: seq >>> 0, ack: ack >>> 0, flags, payload };
    this.#planned.push({ time: this.#time, segment, interfaceId: this.#spec.interfaceId });
    this.#time += this.#step;
  }

  /** One direction's data: split, then holes, retransmits and shuffling as asked. */
  #data(fromClient: boolean, bytes: Uint8Array, seqBase: number, ack: number): void {
    const size = this.#spec.segmentSize ?? 1460;
    const omitted = new Set((fromClient ? this.#spec.omit?.client : this.#spec.omit?.server) ?? []);
    let segments: { offset: number; data: Uint8Array }[] = [];
    for (let offset = 0; offset < bytes.length; offset += size) {
      segments.push({ offset, data: bytes.subarray(offset, offset + size) });
    }
    if (this.#spec.retransmit) segments = [...segments, ...retransmits(segments)];
    segments = segments.filter((segment) => !omitted.has(segment.offset / size));
    if (this.#spec.shuffle) segments = shuffled(segments, this.#spec.seed ?? 1);
    for (const segment of segments) {
      this.#send(fromClient, seqBase + segment.offset, ack, { ack: true, psh: true }, segment.data);
    }
  }
}

/** Every third segment again, and a segment straddling each fourth and the next (half of each). */
function retransmits(
  segments: { offset: number; data: Uint8Array }[],
): { offset: number; data: Uint8Array }[] {
  const copies: { offset: number; data: Uint8Array }[] = [];
  segments.forEach((segment, i) => {
    if (i % 3 === 0) copies.push(segment);
    const next = segments[i + 1];
    if (i % 4 === 1 && next) {
      const start = segment.offset + Math.floor(segment.data.length / 2);
      const end = next.offset + Math.ceil(next.data.length / 2);
      const whole = Buffer.concat([segment.data, next.data]);
      copies.push({ offset: start, data: whole.subarray(start - segment.offset, end - segment.offset) });
    }
  });
  return copies;
}

/** Fisher–Yates with mulberry32, so a seed gives the same order every run. */
function shuffled<T>(items: T[], seed: number): T[] {
  const result = [...items];
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j] as T, result[i] as T];
  }
  return result;
}

/** Seconds and the fraction in micro- or nanoseconds of a time in ms, rounded to the resolution. */
function splitTime(time: number, nanoseconds: boolean): { seconds: number; fraction: number } {
  const units = nanoseconds ? 1e9 : 1e6;
  let seconds = Math.floor(time / 1000);
  let fraction = Math.round((time - seconds * 1000) * (units / 1000));
  if (fraction >= units) {
    seconds++;
    fraction -= units;
  }
  return { seconds, fraction };
}

/** The classic pcap format (one link type for the whole file). */
class PcapFormat implements RecordFormat {
  #littleEndian = true;
  #nanoseconds = false;

  start(littleEndian: boolean, first: WriterInterface): Buffer[] {
    this.#littleEndian = littleEndian;
    this.#nanoseconds = first.nanoseconds;
    const header = Buffer.alloc(24);
    const w = writers(header, littleEndian);
    w.u32(first.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    w.u16(2, 4);
    w.u16(4, 6);
    w.u32(262144, 16);
    w.u32(LINK_TYPES[first.link], 20);
    return [header];
  }

  addInterface(): Buffer[] {
    throw new TypeError("a pcap file has one interface; use pcapngWriter for more");
  }

  record(time: number, frame: Uint8Array, original: number): Buffer[] {
    const header = Buffer.alloc(16);
    const w = writers(header, this.#littleEndian);
    const { seconds, fraction } = splitTime(time, this.#nanoseconds);
    w.u32(seconds, 0);
    w.u32(fraction, 4);
    w.u32(frame.length, 8);
    w.u32(original, 12);
    return [header, Buffer.from(frame.buffer, frame.byteOffset, frame.length)];
  }
}

/** pcapng: a section header, interface descriptions, enhanced packet blocks. */
class PcapngFormat implements RecordFormat {
  #littleEndian = true;

  start(littleEndian: boolean, first: WriterInterface): Buffer[] {
    this.#littleEndian = littleEndian;
    const header = Buffer.alloc(28);
    const w = writers(header, littleEndian);
    w.u32(0x0a0d0d0a, 0);
    w.u32(28, 4);
    w.u32(0x1a2b3c4d, 8);
    w.u16(1, 12);
    w.u16(0, 14);
    header.fill(0xff, 16, 24); // section length unknown
    w.u32(28, 24);
    return [header, ...this.addInterface(first, littleEndian)];
  }

  /** An IDB with if_tsresol (6 or 9) and the end of options. */
  addInterface(found: WriterInterface, littleEndian: boolean): Buffer[] {
    const block = Buffer.alloc(32);
    const w = writers(block, littleEndian);
    w.u32(1, 0);
    w.u32(32, 4);
    w.u16(LINK_TYPES[found.link], 8);
    w.u32(262144, 12);
    w.u16(9, 16); // if_tsresol
    w.u16(1, 18);
    block[20] = found.nanoseconds ? 9 : 6;
    w.u32(32, 28); // opt_endofopt (4 zero bytes at 24) then the length again
    return [block];
  }

  record(
    time: number,
    frame: Uint8Array,
    original: number,
    interfaceId: number,
    found: WriterInterface,
  ): Buffer[] {
    const padded = Math.ceil(frame.length / 4) * 4;
    const total = 32 + padded;
    const header = Buffer.alloc(28);
    const w = writers(header, this.#littleEndian);
    const [high, low] = ticks(time, found.nanoseconds);
    w.u32(6, 0);
    w.u32(total, 4);
    w.u32(interfaceId, 8);
    w.u32(high, 12);
    w.u32(low, 16);
    w.u32(frame.length, 20);
    w.u32(original, 24);
    const trailer = Buffer.alloc(padded - frame.length + 4);
    writers(trailer, this.#littleEndian).u32(total, trailer.length - 4);
    return [header, Buffer.from(frame.buffer, frame.byteOffset, frame.length), trailer];
  }
}

/** The 64-bit timestamp in micro- or nanoseconds, as high and low 32 bits. */
function ticks(time: number, nanoseconds: boolean): [number, number] {
  const { seconds, fraction } = splitTime(time, nanoseconds);
  const total = BigInt(seconds) * (nanoseconds ? 1_000_000_000n : 1_000_000n) + BigInt(fraction);
  return [Number(total >> 32n), Number(total & 0xffffffffn)];
}

function writers(buffer: Buffer, littleEndian: boolean) {
  return {
    u16: (value: number, at: number) =>
      littleEndian ? buffer.writeUInt16LE(value, at) : buffer.writeUInt16BE(value, at),
    u32: (value: number, at: number) =>
      littleEndian ? buffer.writeUInt32LE(value, at) : buffer.writeUInt32BE(value, at),
  };
}

/** A pcap writer (one link type; micro- or nanosecond magic; either byte order). */
export function pcapWriter(options: WriterOptions = {}): CaptureWriter {
  return new CaptureWriter(new PcapFormat(), options);
}

/** A pcapng writer (interfaces of several link types, sections of either byte order). */
export function pcapngWriter(options: WriterOptions = {}): CaptureWriter {
  return new CaptureWriter(new PcapngFormat(), options);
}
