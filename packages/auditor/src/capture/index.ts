/**
 * The capture-reading half of the traffic auditor: pcap, pcapng and HAR files
 * to Packets (readPackets) and to reassembled Flows (FlowAssembler,
 * readFlows). Writers of captures for tests and benchmarks are in
 * ../../test (`@phonehome/auditor/testing`). This file is the folder's only
 * public surface.
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
