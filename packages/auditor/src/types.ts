/**
 * The traffic auditor's vocabulary, shared by its parts: what a capture yields
 * (packets, then reassembled flows), what decoding yields (leaves with the
 * path that reached them), what the identifier recognisers yield (matches),
 * and what the report is made of (findings).
 *
 *   capture/    pcap, pcapng, HAR → Packet → Flow (TCP reassembly, UDP datagrams)
 *   protocols/  Flow → HTTP messages, TLS hellos, DNS answers, raw payloads
 *   decode/     bytes → Leaf[] (URL/form, JSON, base64, hex, gzip, recursively)
 *   identifiers/ Leaf text → IdentifierMatch[] (validated, not only patterns)
 *   analyse.ts  all of the above → Finding[]
 *   report/     Finding[] → terminal, JSON, SARIF, HTML
 */

/** One end of a conversation. `ip` is the textual address (IPv4 dotted, IPv6 RFC 5952). */
export interface Endpoint {
  ip: string;
  port: number;
}

/** A packet as the capture readers yield it: the transport payload with its addresses. */
export interface Packet {
  /** Capture time, milliseconds since the epoch (fractional: microseconds kept). */
  time: number;
  /** 1-based index of the packet (or HAR entry) in the capture. */
  index: number;
  transport: "tcp" | "udp";
  src: Endpoint;
  dst: Endpoint;
  /** TCP only. */
  tcp?: { seq: number; ack: number; syn: boolean; ack_: boolean; fin: boolean; rst: boolean };
  payload: Uint8Array;
}

/** A reassembled conversation: a TCP connection, or the UDP datagrams between two endpoints. */
export interface Flow {
  /** Stable within one capture: `tcp 10.0.0.2:51000 → 1.2.3.4:9999` style label. */
  id: string;
  transport: "tcp" | "udp";
  /** Who opened it (the SYN's sender; for UDP, the first datagram's sender). */
  client: Endpoint;
  server: Endpoint;
  firstTime: number;
  lastTime: number;
  /** The client's bytes in order, without gaps filled (a gap is noted in `gaps`). */
  clientData: Uint8Array;
  serverData: Uint8Array;
  /** For UDP: each datagram separately, in capture order. */
  datagrams?: { fromClient: boolean; time: number; payload: Uint8Array }[];
  /** Byte counts lost to missing segments, per direction. */
  gaps: { client: number; server: number };
  /**
   * TCP: the offsets in clientData / serverData at which missing bytes were
   * skipped (0 < offset < length, ascending): the bytes either side of one
   * were not adjacent on the wire, so nothing should be read across it.
   * Absent when neither direction has such a hole.
   */
  holes?: { client: number[]; server: number[] };
  /** Byte counts not kept because a direction went beyond the assembler's limit; absent when nothing was cut. */
  truncated?: { client: number; server: number };
  /**
   * Set when the flow was made from a HAR entry: the data is the HTTP/1.1
   * serialisation of what the browser recorded above TLS, so an "https" flow
   * carries plaintext HTTP; `host` is the URL's host (the server's ip may be "").
   */
  har?: { scheme: "http" | "https"; host: string };
}

/** A value reached by decoding, with the path of decodings and keys that led to it. */
export interface Leaf {
  /** e.g. ["body", "base64", "json.SIM1ICCID"] — rendered joined by " -> ". */
  path: string[];
  /** The nearest key or parameter name, lower-cased, when the value sat under one. */
  key?: string;
  text: string;
  /** True when at least one decoding step (base64, hex, gzip, URL) was needed to reach it. */
  encoded: boolean;
}

export type IdentifierKind =
  | "imei"
  | "imeisv"
  | "meid"
  | "esn"
  | "imsi"
  | "iccid"
  | "msisdn"
  | "mac"
  | "bssid"
  | "gps"
  | "cell-id"
  | "android-id"
  | "advertising-id"
  | "email"
  | "public-ip"
  | "serial"
  | "known";

export type Confidence = "high" | "medium" | "low";

export interface IdentifierMatch {
  kind: IdentifierKind;
  /** The value as found (the auditor redacts it before any report). */
  value: string;
  confidence: Confidence;
  /** ISO 3166-1 alpha-2 when the identifier names a country (IMSI's MCC, ICCID's country code, MSISDN). */
  country?: string;
  /** Short explanation: "Luhn valid", "MCC 460 (CN)", "locally administered (randomised)", "5 decimals ≈ 1 m". */
  detail?: string;
  /** For known identifiers: "sha256 of imei", "md5 of serial"… */
  hashOf?: string;
}

export type Severity = "critical" | "high" | "medium" | "low" | "info";

/** Severities, worst first. */
export const SEVERITY_ORDER: readonly Severity[] = ["critical", "high", "medium", "low", "info"];

export type FindingRule =
  | "plaintext-identifier"
  | "encoded-identifier"
  | "hashed-identifier"
  | "cross-border"
  | "sim-country"
  | "unapproved-host"
  | "cleartext-transport"
  | "http-to-bare-ip"
  | "weak-tls"
  | "tls-without-sni"
  | "ctcc-self-registration";

export interface Finding {
  rule: FindingRule;
  severity: Severity;
  /** One sentence a person can act on. */
  message: string;
  flow: string;
  /** Milliseconds since the epoch. */
  time: number;
  host: string | null;
  ip: string;
  port: number;
  /** ISO 3166-1 alpha-2 of the destination address, or null when the database does not know it. */
  country: string | null;
  transport: "http" | "https" | "tls" | "tcp" | "udp" | "dns";
  identifier?: IdentifierKind;
  /** The decoding path, joined by " -> ". */
  path?: string;
  /** Redacted: never the whole identifier. */
  evidence?: string;
  /** How many times the same finding (rule, destination, identifier, path, evidence) was seen; the first one is described. */
  count: number;
}
