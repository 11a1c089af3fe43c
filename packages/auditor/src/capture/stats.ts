/**
 * What a capture reader counts besides the packets it yields: frames it
 * skipped and why, fragments, and the largest its read buffer grew. A reader
 * fills one of these as it goes; callers read it after (or during) iteration.
 */

/** Counters of one capture read. */
export interface CaptureStats {
  /** Detected by content once the file is opened. */
  format: "pcap" | "pcapng" | "har" | undefined;
  /** Records read: frames of a pcap/pcapng, entries of a HAR. */
  records: number;
  /** Packets yielded (TCP and UDP segments, HAR's synthetic packets). */
  packets: number;
  /** Frames whose link layer carries something other than IPv4/IPv6 (ARP, LLDP…). */
  nonIp: number;
  /** IP packets of another protocol than TCP or UDP (ICMP, ESP, IGMP…). */
  otherTransport: number;
  /** Frames on an interface whose link type is not decoded (pcapng may mix link types). */
  unsupportedLink: number;
  /** Frames too short or inconsistent to decode (a header cut short, a bad header length). */
  malformed: number;
  /** IP fragments seen, datagrams rebuilt from them, and fragments given up on (never completed, or evicted). */
  fragments: number;
  reassembled: number;
  fragmentsDropped: number;
  /** HAR entries that could not become an exchange (no URL, not http/https/ws/wss). */
  skippedEntries: number;
  /** The largest the read buffer grew, in bytes: the memory bound of the reading itself. */
  peakBufferBytes: number;
}

/** Zeroed counters. */
export function emptyStats(): CaptureStats {
  return {
    format: undefined,
    records: 0,
    packets: 0,
    nonIp: 0,
    otherTransport: 0,
    unsupportedLink: 0,
    malformed: 0,
    fragments: 0,
    reassembled: 0,
    fragmentsDropped: 0,
    skippedEntries: 0,
    peakBufferBytes: 0,
  };
}
