/**
 * Real frames, for the writers (tests and benchmarks): Ethernet (with VLAN
 * tags, padded to 60 bytes), raw IP, SLL, SLL2 and BSD null link layers;
 * IPv4 (with options, fragments) and IPv6 (with extension headers and
 * fragments); TCP and UDP with correct checksums (or zero, when asked: zero
 * is "no checksum" for UDP over IPv4 and is left unchecked by Wireshark's
 * defaults for the rest) and correct lengths throughout.
 */
import { parseIp } from "../src/capture/address.ts";
import type { Endpoint } from "../src/types.ts";

/** Link layers the writers can produce. */
export type LinkKind = "ethernet" | "raw" | "ipv4" | "ipv6" | "sll" | "sll2" | "null";

/** LINKTYPE_* numbers of the link layers. */
export const LINK_TYPES: Record<LinkKind, number> = {
  ethernet: 1,
  raw: 101,
  ipv4: 228,
  ipv6: 229,
  sll: 113,
  sll2: 276,
  null: 0,
};

export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;

/** TCP flags by name. */
export interface TcpFlags {
  syn?: boolean;
  ack?: boolean;
  fin?: boolean;
  rst?: boolean;
  psh?: boolean;
}

/** One TCP segment. */
export interface TcpSegmentSpec {
  src: Endpoint;
  dst: Endpoint;
  seq: number;
  ack?: number;
  flags: TcpFlags;
  payload?: Uint8Array;
}

/** How to build an IP packet. */
export interface IpOptions {
  /** IPv4 identification, or the IPv6 fragment header's identification. */
  id?: number;
  /** IPv4 options, padded to a multiple of 4 bytes with end-of-options. */
  ipv4Options?: Uint8Array;
  /** IPv6 extension headers before the payload, by next-header number: 0 hop-by-hop, 43 routing, 60 destination options. */
  ipv6Extensions?: number[];
  /** Makes the packet one fragment: its payload starts at `offset` bytes (a multiple of 8) of the datagram. */
  fragment?: { offset: number; more: boolean };
}

const EMPTY = new Uint8Array(0);
const ETHERNET_MIN_FRAME = 60;

/** TCP header (20 bytes) and payload, with its checksum unless `checksums` is false. */
export function tcpSegment(spec: TcpSegmentSpec, checksums = true): Buffer {
  const payload = spec.payload ?? EMPTY;
  const segment = Buffer.alloc(20 + payload.length);
  segment.writeUInt16BE(spec.src.port, 0);
  segment.writeUInt16BE(spec.dst.port, 2);
  segment.writeUInt32BE(spec.seq >>> 0, 4);
  segment.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  segment[12] = 5 << 4;
  segment[13] = flagBits(spec.flags);
  segment.writeUInt16BE(65535, 14);
  segment.set(payload, 20);
  if (checksums)
    segment.writeUInt16BE(transportChecksum(spec.src.ip, spec.dst.ip, PROTOCOL_TCP, segment), 16);
  return segment;
}

function flagBits(flags: TcpFlags): number {
  return (
    (flags.fin ? 0x01 : 0) |
    (flags.syn ? 0x02 : 0) |
    (flags.rst ? 0x04 : 0) |
    (flags.psh ? 0x08 : 0) |
    (flags.ack ? 0x10 : 0)
  );
}

/** UDP header (8 bytes) and payload, with its checksum unless `checksums` is false. */
export function udpDatagram(src: Endpoint, dst: Endpoint, payload: Uint8Array, checksums = true): Buffer {
  const datagram = Buffer.alloc(8 + payload.length);
  datagram.writeUInt16BE(src.port, 0);
  datagram.writeUInt16BE(dst.port, 2);
  datagram.writeUInt16BE(datagram.length, 4);
  datagram.set(payload, 8);
  if (checksums)
    datagram.writeUInt16BE(transportChecksum(src.ip, dst.ip, PROTOCOL_UDP, datagram) || 0xffff, 6);
  return datagram;
}

/** The TCP/UDP checksum over the pseudo-header (addresses, protocol, length) and the segment. */
function transportChecksum(src: string, dst: string, protocol: number, segment: Uint8Array): number {
  const source = parseIp(src);
  const destination = parseIp(dst);
  let sum = sum16(source) + sum16(destination) + protocol;
  sum += source.length === 4 ? segment.length : Math.floor(segment.length / 65536) + (segment.length % 65536);
  return fold(sum16(segment, sum));
}

/** The one's-complement sum of 16-bit big-endian words, not yet folded. */
function sum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = bytes.length - (bytes.length % 2);
  for (let i = 0; i < even; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  if (even < bytes.length) sum += (bytes[even] ?? 0) << 8;
  return sum;
}

function fold(sum: number): number {
  let folded = sum;
  while (folded > 0xffff) folded = (folded % 65536) + Math.floor(folded / 65536);
  return ~folded & 0xffff;
}

/** An IPv4 or IPv6 packet (by the addresses' family) around `payload`. */
export function ipPacket(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
  options: IpOptions = {},
): Buffer {
  const source = parseIp(src);
  const destination = parseIp(dst);
  return source.length === 4
    ? ipv4Packet(source, destination, protocol, payload, options)
    : ipv6Packet(source, destination, protocol, payload, options);
}

function ipv4Packet(
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  payload: Uint8Array,
  options: IpOptions,
): Buffer {
  const ipOptions = options.ipv4Options ?? EMPTY;
  const headerLength = 20 + Math.ceil(ipOptions.length / 4) * 4;
  const packet = Buffer.alloc(headerLength + payload.length);
  packet[0] = 0x40 | (headerLength / 4);
  packet.writeUInt16BE(packet.length, 2);
  packet.writeUInt16BE((options.id ?? 1) & 0xffff, 4);
  const fragment = options.fragment;
  packet.writeUInt16BE(fragment ? (fragment.more ? 0x2000 : 0) | (fragment.offset / 8) : 0x4000, 6);
  packet[8] = 64;
  packet[9] = protocol;
  packet.set(source, 12);
  packet.set(destination, 16);
  packet.set(ipOptions, 20);
  packet.writeUInt16BE(fold(sum16(packet.subarray(0, headerLength))), 10);
  packet.set(payload, headerLength);
  return packet;
}

function ipv6Packet(
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  payload: Uint8Array,
  options: IpOptions,
): Buffer {
  const chain = [...(options.ipv6Extensions ?? []), ...(options.fragment ? [44] : [])];
  const headers = chain.map((type, i) => extensionHeader(type, chain[i + 1] ?? protocol, options));
  const extensions = Buffer.concat(headers);
  const packet = Buffer.alloc(40 + extensions.length + payload.length);
  packet.writeUInt32BE(0x60000000, 0);
  packet.writeUInt16BE(extensions.length + payload.length, 4);
  packet[6] = chain[0] ?? protocol;
  packet[7] = 64;
  packet.set(source, 8);
  packet.set(destination, 24);
  packet.set(extensions, 40);
  packet.set(payload, 40 + extensions.length);
  return packet;
}

/** An 8-byte extension header: options padded with PadN, an empty routing header, or the fragment header. */
function extensionHeader(type: number, next: number, options: IpOptions): Buffer {
  const header = Buffer.alloc(8);
  header[0] = next;
  if (type === 44) {
    const fragment = options.fragment ?? { offset: 0, more: false };
    header.writeUInt16BE(fragment.offset | (fragment.more ? 1 : 0), 2);
    header.writeUInt32BE((options.id ?? 1) >>> 0, 4);
  } else if (type === 43) {
    header[2] = 253; // routing type reserved for experiments (RFC 4727), 0 segments left
  } else {
    header[2] = 1; // PadN option of 4 zero bytes
    header[3] = 4;
  }
  return header;
}

/** The datagram `payload` split into IP fragments of `fragmentSize` bytes (rounded down to a multiple of 8). */
export function ipFragments(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
  fragmentSize: number,
  options: IpOptions = {},
): Buffer[] {
  const size = Math.max(8, fragmentSize - (fragmentSize % 8));
  const fragments: Buffer[] = [];
  for (let offset = 0; offset < payload.length; offset += size) {
    const more = offset + size < payload.length;
    const part = payload.subarray(offset, offset + size);
    fragments.push(ipPacket(src, dst, protocol, part, { ...options, fragment: { offset, more } }));
  }
  return fragments;
}

/** The IP packet in a frame of the link layer; `vlan` tags (Ethernet only, outermost first). */
export function linkFrame(kind: LinkKind, ip: Uint8Array, vlan: number[] = []): Buffer {
  const ipv6 = (ip[0] ?? 0) >> 4 === 6;
  const etherType = ipv6 ? 0x86dd : 0x0800;
  if (kind === "ethernet") return ethernetFrame(ip, etherType, vlan);
  if (kind === "sll") return withHeader(sllHeader(etherType), ip);
  if (kind === "sll2") return withHeader(sll2Header(etherType), ip);
  if (kind === "null") return withHeader(nullHeader(ipv6), ip);
  return Buffer.from(ip);
}

function ethernetFrame(ip: Uint8Array, etherType: number, vlan: number[]): Buffer {
  const header = Buffer.alloc(14 + 4 * vlan.length);
  header.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  vlan.forEach((id, i) => {
    // 802.1ad: the outer tag of a double-tagged frame is an S-tag.
    header.writeUInt16BE(vlan.length > 1 && i === 0 ? 0x88a8 : 0x8100, 12 + 4 * i);
    header.writeUInt16BE(id & 0x0fff, 14 + 4 * i);
  });
  header.writeUInt16BE(etherType, 12 + 4 * vlan.length);
  const frame = withHeader(header, ip);
  return frame.length >= ETHERNET_MIN_FRAME ? frame : Buffer.concat([frame], ETHERNET_MIN_FRAME);
}

function sllHeader(etherType: number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt16BE(0, 0); // sent to us
  header.writeUInt16BE(1, 2); // ARPHRD_ETHER
  header.writeUInt16BE(6, 4);
  header.set([2, 0, 0, 0, 0, 1], 6);
  header.writeUInt16BE(etherType, 14);
  return header;
}

function sll2Header(etherType: number): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(etherType, 0);
  header.writeUInt32BE(1, 4); // interface index
  header.writeUInt16BE(1, 8); // ARPHRD_ETHER
  header[10] = 0; // sent to us
  header[11] = 6;
  header.set([2, 0, 0, 0, 0, 1], 12);
  return header;
}

/** BSD loopback: the address family in the (little-endian) writer's byte order; 30 is macOS's AF_INET6. */
function nullHeader(ipv6: boolean): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(ipv6 ? 30 : 2, 0);
  return header;
}

function withHeader(header: Uint8Array, ip: Uint8Array): Buffer {
  return Buffer.concat([header, ip]);
}
