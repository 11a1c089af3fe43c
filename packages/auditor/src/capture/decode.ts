/**
 * Frames to Packets: the link layer (link.ts), IPv4 (options, fragments) or
 * IPv6 (extension headers: hop-by-hop, routing, fragment, destination
 * options, AH, mobility, HIP, shim6), then TCP or UDP. Anything else is
 * counted in the stats and skipped. Fragmented datagrams are reassembled
 * (fragments.ts) and yielded once, as the packet of their last fragment.
 *
 * A frame cut short by the capture's snap length gives what is there: the
 * payload stops where the captured bytes do. Ethernet padding and trailing
 * FCS are cut off by the IP length fields. Payloads are copied out of the read
 * buffer, so that a packet kept for reassembly does not pin a whole chunk.
 */
import { formatIPv4, formatIPv6 } from "./address.ts";
import { FragmentReassembler } from "./fragments.ts";
import { ipOffset, UNSUPPORTED_LINK } from "./link.ts";
import type { CaptureStats } from "./stats.ts";
import type { Packet } from "../types.ts";

const TCP = 6;
const UDP = 17;
/** IPv6 extension headers whose length is (byte 1 + 1) × 8: hop-by-hop, routing, destination options, mobility, HIP, shim6. */
const IPV6_EXTENSIONS = new Set([0, 43, 60, 135, 139, 140]);
const IPV6_FRAGMENT = 44;
const IPV6_AUTHENTICATION = 51;
const EMPTY = new Uint8Array(0);

/** Where a datagram's transport header is: `buffer[start, end)`, with its addresses. */
interface Datagram {
  buffer: Buffer;
  start: number;
  end: number;
  src: string;
  dst: string;
}

/** Decodes frames one at a time, counting what it skips in `stats`. */
export class PacketDecoder {
  readonly stats: CaptureStats;
  #fragments = new FragmentReassembler();

  constructor(stats: CaptureStats) {
    this.stats = stats;
  }

  /** The packet in one frame, or undefined when it carries no TCP/UDP (or only a fragment of it, so far). */
  decode(index: number, time: number, linkType: number, frame: Buffer): Packet | undefined {
    this.stats.records++;
    const offset = ipOffset(linkType, frame);
    if (offset === UNSUPPORTED_LINK) return this.#skip("unsupportedLink");
    if (offset < 0 || offset >= frame.length) return this.#skip("nonIp");
    const version = (frame[offset] ?? 0) >> 4;
    if (version === 4) return this.#ipv4(frame, offset, index, time);
    if (version === 6) return this.#ipv6(frame, offset, index, time);
    return this.#skip("nonIp");
  }

  #ipv4(frame: Buffer, at: number, index: number, time: number): Packet | undefined {
    if (frame.length - at < 20) return this.#skip("malformed");
    const headerLength = ((frame[at] ?? 0) & 0x0f) * 4;
    const totalLength = frame.readUInt16BE(at + 2);
    // A total length of 0 is what TCP segmentation offload leaves in captures: use the frame.
    const end = totalLength === 0 ? frame.length : Math.min(frame.length, at + totalLength);
    if (headerLength < 20 || at + headerLength > end) return this.#skip("malformed");
    const protocol = frame[at + 9] ?? 0;
    if (protocol !== TCP && protocol !== UDP) return this.#skip("otherTransport");
    const src = formatIPv4(frame, at + 12);
    const dst = formatIPv4(frame, at + 16);
    const flags = frame.readUInt16BE(at + 6);
    const more = (flags & 0x2000) !== 0;
    const fragmentOffset = (flags & 0x1fff) * 8;
    const datagram = { buffer: frame, start: at + headerLength, end, src, dst };
    if (!more && fragmentOffset === 0) return this.#transport(protocol, datagram, index, time);
    const key = `4 ${src} ${dst} ${frame.readUInt16BE(at + 4)} ${protocol}`;
    const whole = this.#defragment(key, fragmentOffset, more, datagram, time);
    return whole ? this.#transport(protocol, whole, index, time) : undefined;
  }

  #ipv6(frame: Buffer, at: number, index: number, time: number): Packet | undefined {
    if (frame.length - at < 40) return this.#skip("malformed");
    const payloadLength = frame.readUInt16BE(at + 4);
    // A payload length of 0 is a jumbogram (or offload): use the frame.
    const end = payloadLength === 0 ? frame.length : Math.min(frame.length, at + 40 + payloadLength);
    const src = formatIPv6(frame, at + 8);
    const dst = formatIPv6(frame, at + 24);
    let datagram: Datagram | undefined = { buffer: frame, start: at + 40, end, src, dst };
    let next = frame[at + 6] ?? 0;
    while (next !== TCP && next !== UDP) {
      if (!isIPv6Extension(next)) return this.#skip("otherTransport");
      if (datagram.start + 8 > datagram.end) return this.#skip("malformed");
      const following = datagram.buffer[datagram.start] ?? 0;
      datagram = next === IPV6_FRAGMENT ? this.#ipv6Fragment(datagram, time) : pastExtension(next, datagram);
      if (!datagram) return undefined;
      next = following;
    }
    return this.#transport(next, datagram, index, time);
  }

  /** Past a fragment header: the rest of the packet for an atomic fragment, else the whole datagram once complete. */
  #ipv6Fragment(datagram: Datagram, time: number): Datagram | undefined {
    const { buffer, start, src, dst } = datagram;
    const field = buffer.readUInt16BE(start + 2);
    const rest = { ...datagram, start: start + 8 };
    if ((field & 0xfff9) === 0) return rest; // offset 0 and no more fragments (RFC 6946)
    const key = `6 ${src} ${dst} ${buffer.readUInt32BE(start + 4)}`;
    return this.#defragment(key, field & 0xfff8, (field & 1) !== 0, rest, time);
  }

  /** Adds a fragment; returns the whole datagram (as its own buffer) once complete. */
  #defragment(
    key: string,
    offset: number,
    more: boolean,
    part: Datagram,
    time: number,
  ): Datagram | undefined {
    this.stats.fragments++;
    const before = this.#fragments.dropped;
    const whole = this.#fragments.add(key, offset, more, part.buffer.subarray(part.start, part.end), time);
    this.stats.fragmentsDropped += this.#fragments.dropped - before;
    if (!whole) return undefined;
    this.stats.reassembled++;
    return { buffer: whole, start: 0, end: whole.length, src: part.src, dst: part.dst };
  }

  #transport(protocol: number, datagram: Datagram, index: number, time: number): Packet | undefined {
    return protocol === TCP ? this.#tcp(datagram, index, time) : this.#udp(datagram, index, time);
  }

  #tcp({ buffer, start, end, src, dst }: Datagram, index: number, time: number): Packet | undefined {
    // Ports, sequence and acknowledgement numbers and flags: the first 14 bytes are the least we can use.
    if (end - start < 14) return this.#skip("malformed");
    const headerLength = ((buffer[start + 12] ?? 0) >> 4) * 4;
    if (headerLength < 20) return this.#skip("malformed");
    const flags = buffer[start + 13] ?? 0;
    this.stats.packets++;
    return {
      time,
      index,
      transport: "tcp",
      src: { ip: src, port: buffer.readUInt16BE(start) },
      dst: { ip: dst, port: buffer.readUInt16BE(start + 2) },
      tcp: {
        seq: buffer.readUInt32BE(start + 4),
        ack: buffer.readUInt32BE(start + 8),
        syn: (flags & 0x02) !== 0,
        ack_: (flags & 0x10) !== 0,
        fin: (flags & 0x01) !== 0,
        rst: (flags & 0x04) !== 0,
      },
      payload: copy(buffer, Math.min(start + headerLength, end), end),
    };
  }

  #udp({ buffer, start, end, src, dst }: Datagram, index: number, time: number): Packet | undefined {
    if (end - start < 8) return this.#skip("malformed");
    const length = buffer.readUInt16BE(start + 4);
    // A length of 0 is a UDP jumbogram (RFC 2675): the IP payload length rules.
    const payloadEnd = length >= 8 ? Math.min(end, start + length) : end;
    this.stats.packets++;
    return {
      time,
      index,
      transport: "udp",
      src: { ip: src, port: buffer.readUInt16BE(start) },
      dst: { ip: dst, port: buffer.readUInt16BE(start + 2) },
      payload: copy(buffer, start + 8, payloadEnd),
    };
  }

  #skip(counter: "nonIp" | "otherTransport" | "unsupportedLink" | "malformed"): undefined {
    this.stats[counter]++;
    return undefined;
  }
}

function isIPv6Extension(next: number): boolean {
  return IPV6_EXTENSIONS.has(next) || next === IPV6_AUTHENTICATION || next === IPV6_FRAGMENT;
}

/** Past an extension header: AH counts its length in 4-byte units less 2, the others in 8-byte units less 1. */
function pastExtension(next: number, datagram: Datagram): Datagram {
  const units = datagram.buffer[datagram.start + 1] ?? 0;
  const length = next === IPV6_AUTHENTICATION ? (units + 2) * 4 : (units + 1) * 8;
  return { ...datagram, start: datagram.start + length };
}

/** The bytes [start, end) as their own memory (Buffer's pool for small ones). */
function copy(buffer: Buffer, start: number, end: number): Uint8Array {
  return end > start ? Buffer.from(buffer.subarray(start, end)) : EMPTY;
}
