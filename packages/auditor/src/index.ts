/**
 * `@phonehome/auditor`: the traffic auditor. It reads a pcap, pcapng or HAR
 * capture, reassembles its flows, decodes what a device sent and reports the
 * identifiers that left it, in what form, to whom, in which country and over
 * what transport. It imports nothing of the phonehome server: `phonehome
 * audit` (src/traffic-audit) gives it a policy taken from the configuration.
 * This file is the package's only public surface.
 */
export {
  type AuditPolicy,
  type AuditResult,
  Auditor,
  approvedHosts,
  type FlowSummary,
  MAX_LISTED_FLOWS,
  SERVER_BYTES,
} from "./analyse.ts";
export {
  CaptureError,
  type CaptureErrorCode,
  type CaptureStats,
  FlowAssembler,
  isCaptureError,
  readFlows,
  readPackets,
  type ReadOptions,
} from "./capture/index.ts";
export { defaultGeoIpFile, type GeoIp, openGeoIp } from "./geoip.ts";
export {
  knownIdentifiers,
  type KnownIdentifier,
  parseKnownIdentifiers,
  redact,
} from "./identifiers/index.ts";
export { normaliseIp } from "./protocols/index.ts";
export { renderReport, type ReportContext, type ReportFormat, RULES, tally } from "./report.ts";
export {
  type Endpoint,
  type Finding,
  type FindingRule,
  type Flow,
  type IdentifierKind,
  type Packet,
  SEVERITY_ORDER,
  type Severity,
} from "./types.ts";
