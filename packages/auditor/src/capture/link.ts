/**
 * Link layers: where the IP header starts in a frame, by the capture's link
 * type (the LINKTYPE_* numbers of pcap and pcapng). Decoded: Ethernet (1)
 * with any number of 802.1Q / 802.1ad / old QinQ (0x9100) tags; raw IP (101,
 * and 12 and 14, which some systems write for it; 228 IPv4, 229 IPv6); Linux
 * cooked capture SLL (113) and SLL2 (276); BSD loopback/null (0) and
 * OpenBSD loopback (108).
 */

/** The frame carries no IPv4/IPv6 (ARP, LLDP, 802.3 with LLC…). */
export const NOT_IP = -1;
/** The link type is not one this module decodes. */
export const UNSUPPORTED_LINK = -2;

const ETHERNET = 1;
const NULL = 0;
const LOOP = 108;
const SLL = 113;
const SLL2 = 276;
const RAW_LINK_TYPES = new Set([101, 12, 14, 228, 229]);

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TAGS = new Set([0x8100, 0x88a8, 0x9100]);

/** True when frames of this link type can be decoded. */
export function isSupportedLink(linkType: number): boolean {
  return (
    linkType === ETHERNET ||
    linkType === NULL ||
    linkType === LOOP ||
    linkType === SLL ||
    linkType === SLL2 ||
    RAW_LINK_TYPES.has(linkType)
  );
}

/** Offset of the IP header in `frame`, or NOT_IP, or UNSUPPORTED_LINK. */
export function ipOffset(linkType: number, frame: Buffer): number {
  if (linkType === ETHERNET) return afterEtherTypes(frame, 12);
  if (RAW_LINK_TYPES.has(linkType)) return 0;
  if (linkType === SLL) return afterEtherTypes(frame, 14);
  if (linkType === SLL2) return afterEtherTypes(frame, 0, 20);
  if (linkType === NULL || linkType === LOOP) return afterAddressFamily(frame);
  return UNSUPPORTED_LINK;
}

/**
 * Reads the EtherType at `typeAt`, whose payload starts at `payloadAt`. A VLAN
 * tag's payload is its 2-byte TCI and then the inner EtherType, so each tag
 * moves the EtherType to `payloadAt + 2` and the payload 4 bytes on. (SLL2
 * keeps its EtherType at the front of a 20-byte header, hence two offsets.)
 */
function afterEtherTypes(frame: Buffer, typeAt: number, payloadAt = typeAt + 2): number {
  while (typeAt + 2 <= frame.length) {
    const type = frame.readUInt16BE(typeAt);
    if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6)
      return payloadAt <= frame.length ? payloadAt : NOT_IP;
    if (!VLAN_TAGS.has(type)) return NOT_IP;
    typeAt = payloadAt + 2;
    payloadAt += 4;
  }
  return NOT_IP;
}

/** BSD loopback: a 4-byte address family in the capturing host's byte order (IPv6 is 24, 28 or 30 by BSD). */
function afterAddressFamily(frame: Buffer): number {
  if (frame.length < 4) return NOT_IP;
  const family = frame.readUInt32LE(0) > 0xffff ? frame.readUInt32BE(0) : frame.readUInt32LE(0);
  return family === 2 || family === 24 || family === 28 || family === 30 ? 4 : NOT_IP;
}
