/**
 * The capture-reading half of the traffic auditor: pcap, pcapng and HAR files
 * to Packets (readPackets) and to reassembled Flows (FlowAssembler,
 * readFlows); and writers of real pcap/pcapng captures for tests and
 * benchmarks. This file is the folder's only public surface.
 */
export { CaptureError, type CaptureErrorCode, isCaptureError } from "./errors.ts";
export { readFlows, readPackets, type FlowStream, type PacketStream, type ReadOptions } from "./read.ts";
export {
  type AssemblerOptions,
  type AssemblerStats,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BYTES_PER_DIRECTION,
  FlowAssembler,
} from "./reassembly.ts";
export type { CaptureStats } from "./stats.ts";
export { formatIPv4, formatIPv6, canonicalIp } from "./address.ts";
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
