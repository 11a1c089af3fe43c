/**
 * `@phonehome/auditor/testing`: writers of real pcap and pcapng captures, and
 * the frames they are built of, and valid check digits (`withLuhn`), for tests and benchmarks of the auditor and of
 * what it audits. Not part of the auditor itself.
 */
export {
  CaptureWriter,
  pcapngWriter,
  pcapWriter,
  type TcpSessionSpec,
  type WriterOptions,
} from "./writer.ts";
export {
  ipFragments,
  ipPacket,
  LINK_TYPES,
  type IpOptions,
  type LinkKind,
  linkFrame,
  tcpSegment,
  type TcpSegmentSpec,
  udpDatagram,
} from "./frames.ts";
export { withLuhn } from "../src/identifiers/luhn.ts";
