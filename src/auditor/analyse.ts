/**
 * The auditor's judgement: each reassembled flow is recognised (HTTP by
 * content, TLS hellos, DNS, raw TCP/UDP), what the device sent is decoded
 * into leaves, the leaves are searched for identifiers, and every privacy
 * problem becomes a Finding: identifiers in plain, encoded or hashed form,
 * transport without encryption, HTTP to a bare address, weak TLS, data sent
 * to a country or a host the device's region does not allow, and the China
 * Telecom self-registration protocol.
 *
 * Names of servers learnt from DNS may arrive after the flows that used
 * them, so host naming and the host and country checks run in `finish()`.
 */
import { isIP } from "node:net";
import { decode, httpLeaves } from "./decode/index.ts";
import type { GeoIp } from "./geoip.ts";
import { findIdentifiers, isGloballyRoutable, redact } from "./identifiers/index.ts";
import {
  DnsNames,
  type HttpRequest,
  normaliseIp,
  parseDns,
  parseHttp,
  parseTlsHellos,
  type TlsHellos,
} from "./protocols/index.ts";
import type { Finding, FindingRule, Flow, IdentifierKind, IdentifierMatch, Leaf, Severity } from "./types.ts";

/** What the device's region allows, and what the user knows of the device. */
export interface AuditPolicy {
  /** The region the device belongs to, for the messages; null when not told. */
  region: string | null;
  /** Countries data may go to; null: the country check is off. */
  allowedCountries: ReadonlySet<string> | null;
  /** Hosts data may go to (`name`, `*.domain`, `name:port`, `ip`, `ip:port`); null: the host check is off. */
  approvedHosts: readonly string[] | null;
  /** Addresses whose country the user states (a lab's local server standing in for a foreign one). */
  assumedCountries: ReadonlyMap<string, string>;
  /** The device's own identifiers, also found hashed. */
  known: { find(text: string): IdentifierMatch[] } | null;
}

/** One flow as the report lists it. */
export interface FlowSummary {
  id: string;
  protocol: Finding["transport"];
  client: string;
  server: string;
  host: string | null;
  country: string | null;
  firstTime: number;
  bytesOut: number;
  bytesIn: number;
  requests: number;
  tls: { sni: string | null; version: string | null } | null;
  /** Kinds of identifier the device sent in this flow. */
  identifiers: IdentifierKind[];
  /** What could not be read: gaps in the capture, data beyond the limits. */
  notes: string[];
}

export interface AuditResult {
  findings: Finding[];
  flows: FlowSummary[];
  httpRequests: number;
  geoip: GeoIp["source"];
}

/** How much of a flow that is neither HTTP nor TLS is scanned, per direction. */
const RAW_SCAN_BYTES = 1024 * 1024;

const SEVERITIES: Severity[] = ["critical", "high", "medium", "low", "info"];

/** Identifiers that single out a device or a subscriber for good. */
const STRONG = new Set<IdentifierKind>(["imei", "imeisv", "meid", "imsi", "iccid", "msisdn", "gps", "known"]);
const WEAK = new Set<IdentifierKind>(["public-ip"]);

const LABELS: Record<IdentifierKind, string> = {
  imei: "IMEI",
  imeisv: "IMEISV",
  meid: "MEID",
  esn: "ESN",
  imsi: "IMSI",
  iccid: "ICCID (SIM serial)",
  msisdn: "phone number",
  mac: "MAC address",
  bssid: "Wi-Fi BSSID",
  gps: "GPS position",
  "cell-id": "cell id",
  "android-id": "Android ID",
  "advertising-id": "advertising id",
  email: "e-mail address",
  "public-ip": "public IP address",
  serial: "serial number",
  known: "known identifier",
};

/** Keys of the China Telecom self-registration message (base64 of JSON, POSTed to zzhc.vnet.cn:9999). */
const CTCC_KEYS = new Set([
  "REGVER",
  "MEID",
  "MODEL",
  "SWVER",
  "SIM1CDMAIMSI",
  "SIM1ICCID",
  "SIM1LTEIMSI",
  "SIM1CELLID",
  "SIM2CDMAIMSI",
  "SIM2ICCID",
  "SIM2LTEIMSI",
  "IMEI1",
  "IMEI2",
  "MACID",
  "ACCESSTYPE",
  "UETYPE",
]);
const CTCC_HOST = /(^|\.)zzhc\.vnet\.cn$/i;

function lower(severity: Severity, steps = 1): Severity {
  return SEVERITIES[Math.min(SEVERITIES.length - 1, SEVERITIES.indexOf(severity) + steps)] ?? "info";
}

/** How bad sending this identifier is, in this form, over this transport. */
function identifierSeverity(match: IdentifierMatch, rule: FindingRule, cleartext: boolean): Severity {
  let severity: Severity = STRONG.has(match.kind) ? "high" : WEAK.has(match.kind) ? "medium" : "high";
  if (STRONG.has(match.kind) && cleartext && rule !== "hashed-identifier") severity = "critical";
  if (rule === "hashed-identifier") severity = cleartext ? "high" : "medium";
  if (match.detail?.includes("randomised") === true) severity = lower(severity, 2);
  if (match.confidence === "low") severity = lower(severity);
  return severity;
}

/** A finding waiting for its flow's host name and country, with how often the flow repeated it. */
interface Pending {
  flow: FlowState;
  finding: Omit<Finding, "host" | "country" | "count">;
  count: number;
}

interface FlowState {
  summary: FlowSummary;
  /** Host named by the flow itself (HTTP Host, TLS SNI, HAR URL), before DNS. */
  ownHost: string | null;
  serverIp: string;
  port: number;
  sentIdentifiers: boolean;
  transport: Finding["transport"];
  /** This flow's findings so far, by what makes them the same. */
  pending: Map<string, Pending>;
}

/** Reads flows one by one; `finish()` answers the findings. */
export class Auditor {
  readonly #policy: AuditPolicy;
  readonly #geoip: GeoIp;
  readonly #dns = new DnsNames();
  readonly #flows: FlowState[] = [];
  readonly #findings = new Map<string, Finding>();
  /** Findings that wait for the flow's host name, by flow id. */
  readonly #pending: Pending[] = [];
  #httpRequests = 0;

  constructor(policy: AuditPolicy, geoip: GeoIp) {
    this.#policy = policy;
    this.#geoip = geoip;
  }

  /** Judges one flow. */
  add(flow: Flow): void {
    const state = this.#state(flow);
    this.#flows.push(state);
    if (flow.transport === "udp") return this.#udp(flow, state);
    const http = parseHttp(flow.clientData, flow.serverData);
    if (http !== null && http.requests.length > 0) return this.#http(flow, state, http.requests);
    const tls = flow.har === undefined ? parseTlsHellos(flow.clientData, flow.serverData) : null;
    if (tls !== null) return this.#tls(flow, state, tls);
    this.#raw(flow, state, flow.clientData.subarray(0, RAW_SCAN_BYTES), "tcp");
  }

  /** Names hosts, checks destinations, and answers every finding, worst first. */
  finish(): AuditResult {
    for (const state of this.#flows) {
      const host = state.ownHost ?? this.#dns.nameFor(state.serverIp);
      state.summary.host = host;
      state.summary.country = this.#country(state.serverIp);
      if (state.transport !== "dns" && state.summary.bytesOut > 0) this.#destination(state);
    }
    for (const { flow, finding, count } of this.#pending) {
      this.#record({ ...finding, host: flow.summary.host, country: flow.summary.country, count });
    }
    const findings = [...this.#findings.values()].sort(
      (a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || a.time - b.time,
    );
    return {
      findings,
      flows: this.#flows.map((s) => s.summary),
      httpRequests: this.#httpRequests,
      geoip: this.#geoip.source,
    };
  }

  #country(ip: string): string | null {
    if (ip === "") return null;
    return this.#policy.assumedCountries.get(ip) ?? this.#geoip.country(ip);
  }

  #state(flow: Flow): FlowState {
    const notes: string[] = [];
    if (flow.gaps.client + flow.gaps.server > 0) {
      notes.push(`${flow.gaps.client + flow.gaps.server} bytes missing from the capture`);
    }
    if (flow.truncated !== undefined) {
      notes.push(`${flow.truncated.client + flow.truncated.server} bytes beyond the flow limit not read`);
    }
    const serverIp = normaliseIp(flow.server.ip);
    return {
      summary: {
        id: flow.id,
        protocol: flow.transport,
        client: `${flow.client.ip}:${flow.client.port}`,
        server: `${flow.server.ip}:${flow.server.port}`,
        host: null,
        country: null,
        firstTime: flow.firstTime,
        bytesOut: flow.clientData.length,
        bytesIn: flow.serverData.length,
        requests: 0,
        tls: null,
        identifiers: [],
        notes,
      },
      ownHost: flow.har?.host ?? null,
      serverIp,
      port: flow.server.port,
      sentIdentifiers: false,
      transport: flow.transport,
      pending: new Map(),
    };
  }

  #udp(flow: Flow, state: FlowState): void {
    const datagrams = flow.datagrams ?? [];
    let dns = false;
    for (const d of datagrams) {
      const message = parseDns(d.payload, false);
      if (message !== null) {
        dns = true;
        if (!d.fromClient) this.#dns.record(message.answers);
      }
    }
    if (dns) {
      state.transport = state.summary.protocol = "dns";
      return;
    }
    let scanned = 0;
    for (const d of datagrams) {
      if (!d.fromClient || scanned > RAW_SCAN_BYTES) continue;
      scanned += d.payload.length;
      this.#leaves(state, decode(d.payload, ["udp"]), d.time, true);
    }
  }

  #http(flow: Flow, state: FlowState, requests: HttpRequest[]): void {
    const encrypted = flow.har?.scheme === "https";
    state.transport = state.summary.protocol = encrypted ? "https" : "http";
    state.summary.requests = requests.length;
    this.#httpRequests += requests.length;
    for (const request of requests) {
      const hostName = request.host;
      if (state.ownHost === null && hostName !== null && isIP(hostName) === 0) state.ownHost = hostName;
      const time = flow.firstTime;
      const leaves = httpLeaves(request);
      const found = this.#leaves(state, leaves, time, !encrypted);
      if (!encrypted && isGloballyRoutable(state.serverIp) && (hostName === null || isIP(hostName) !== 0)) {
        this.#later(state, {
          rule: "http-to-bare-ip",
          severity: found > 0 ? "high" : "medium",
          message: `HTTP ${request.method} to the bare address ${state.serverIp}: no name, no certificate, nothing to hold the operator to`,
          time,
        });
      }
      this.#signature(state, leaves, hostName, time, request.method);
    }
    if (!encrypted && state.sentIdentifiers) {
      this.#later(state, {
        rule: "cleartext-transport",
        severity: "high",
        message: `personal data (${state.summary.identifiers.map((k) => LABELS[k]).join(", ")}) sent over plain HTTP, readable by anyone on the path`,
        time: flow.firstTime,
      });
    }
  }

  #tls(flow: Flow, state: FlowState, tls: TlsHellos): void {
    state.transport = state.summary.protocol = "tls";
    const hello = tls.clientHello;
    const offered = hello === undefined ? [] : [...hello.supportedVersions, hello.legacyVersion];
    const version = tls.serverHello?.version ?? offered.sort().at(-1) ?? null;
    const sni = hello?.sni ?? null;
    state.summary.tls = { sni, version };
    if (sni !== null) state.ownHost = sni;
    if (version !== null && (version.startsWith("SSL") || version === "TLS 1.0" || version === "TLS 1.1")) {
      this.#later(state, {
        rule: "weak-tls",
        severity: "high",
        message: `${tls.serverHello === undefined ? "offers at most" : "negotiated"} ${version}: below TLS 1.2, which is broken or deprecated`,
        time: flow.firstTime,
      });
    }
    if (hello !== undefined && sni === null) {
      this.#later(state, {
        rule: "tls-without-sni",
        severity: "low",
        message: "TLS without a server name (SNI): which service this is cannot be checked",
        time: flow.firstTime,
      });
    }
  }

  #raw(flow: Flow, state: FlowState, data: Uint8Array, step: string): void {
    if (data.length === 0) return;
    const found = this.#leaves(state, decode(data, [step]), flow.firstTime, true);
    if (found > 0) {
      this.#later(state, {
        rule: "cleartext-transport",
        severity: "high",
        message: `personal data (${state.summary.identifiers.map((k) => LABELS[k]).join(", ")}) sent over unencrypted ${step.toUpperCase()}`,
        time: flow.firstTime,
      });
    }
  }

  /** Searches leaves for identifiers; records a finding per identifier and answers how many. */
  #leaves(state: FlowState, leaves: Leaf[], time: number, cleartext: boolean): number {
    // The same identifier seen at several depths of one place (the raw body, then the decoded
    // field) is reported once, at the deepest path, which says how it was hidden; found in two
    // places (the query and the body), it is reported for each.
    const found = new Map<string, { match: IdentifierMatch; leaf: Leaf }[]>();
    for (const leaf of leaves) {
      const matches = findIdentifiers(leaf.text, leaf.key === undefined ? {} : { key: leaf.key });
      if (this.#policy.known !== null) matches.push(...this.#policy.known.find(leaf.text));
      for (const match of matches) {
        const id = `${match.kind}\u0000${match.value}\u0000${match.hashOf ?? ""}`;
        const places = found.get(id) ?? [];
        if (places.some((p) => extends_(p.leaf.path, leaf.path))) continue;
        const kept = places.filter((p) => !extends_(leaf.path, p.leaf.path));
        kept.push({ match, leaf });
        found.set(id, kept);
      }
    }
    const best = [...found.values()].flat();
    for (const { match, leaf } of best) {
      const rule: FindingRule =
        match.hashOf !== undefined
          ? "hashed-identifier"
          : leaf.encoded
            ? "encoded-identifier"
            : "plaintext-identifier";
      const form =
        rule === "hashed-identifier"
          ? `as ${match.hashOf}`
          : rule === "encoded-identifier"
            ? "encoded (not encrypted)"
            : "in plain text";
      if (!state.summary.identifiers.includes(match.kind)) state.summary.identifiers.push(match.kind);
      state.sentIdentifiers = true;
      this.#later(state, {
        rule,
        severity: identifierSeverity(match, rule, cleartext),
        message: `${LABELS[match.kind]} sent ${form}${match.detail === undefined ? "" : ` (${match.detail})`}`,
        time,
        identifier: match.kind,
        path: leaf.path.join(" -> "),
        evidence: redact(match.kind, match.value),
      });
      if (match.kind === "imsi" && match.country !== undefined) this.#simCountry(state, match, time);
    }
    return best.length;
  }

  /** The SIM's home country (from the IMSI) against where its data went. */
  #simCountry(state: FlowState, match: IdentifierMatch, time: number): void {
    const destination = this.#country(state.serverIp);
    if (destination === null || destination === match.country) return;
    this.#later(state, {
      rule: "sim-country",
      severity: "high",
      message: `the SIM is from ${match.country} (IMSI ${match.detail ?? ""}) and its numbers went to ${destination}`,
      time,
      identifier: "imsi",
      evidence: redact("imsi", match.value),
    });
  }

  /** The China Telecom self-registration protocol: its host, or its message's keys. */
  #signature(state: FlowState, leaves: Leaf[], host: string | null, time: number, method: string): void {
    const keys = new Set<string>();
    for (const leaf of leaves) {
      const last = leaf.path[leaf.path.length - 1];
      // The message's keys are top-level JSON keys: `json.REGVER`, nothing longer to parse.
      if (last !== undefined && last.startsWith("json.") && CTCC_KEYS.has(last.slice(5)))
        keys.add(last.slice(5));
    }
    const matched = [...keys];
    if (matched.length < 3 && !(host !== null && CTCC_HOST.test(host))) return;
    this.#later(state, {
      rule: "ctcc-self-registration",
      severity: "critical",
      message: [
        `China Telecom self-registration: ${method}`,
        matched.length >= 3 ? ` with ${matched.slice(0, 6).join(", ")}` : "",
        host !== null && CTCC_HOST.test(host) ? ` to ${host}` : "",
        "; this client reports the phone and its SIM cards to the carrier",
      ].join(""),
      time,
    });
  }

  /** Country and host of a flow that sent something, against the policy. */
  #destination(state: FlowState): void {
    const { summary } = state;
    const allowed = this.#policy.allowedCountries;
    const time = summary.firstTime;
    if (allowed !== null && summary.country !== null && !allowed.has(summary.country)) {
      this.#pending.push({
        flow: state,
        count: 1,
        finding: {
          rule: "cross-border",
          severity: state.sentIdentifiers ? "critical" : "medium",
          message: `${state.sentIdentifiers ? "personal data" : "data"} sent to ${summary.country}, outside the countries allowed${this.#policy.region === null ? "" : ` for region ${this.#policy.region}`} (${[...allowed].join(", ")})`,
          flow: summary.id,
          time,
          ip: state.serverIp,
          port: state.port,
          transport: state.transport,
        },
      });
    }
    const approved = this.#policy.approvedHosts;
    if (approved !== null && !hostApproved(approved, summary.host, state.serverIp, state.port)) {
      this.#pending.push({
        flow: state,
        count: 1,
        finding: {
          rule: "unapproved-host",
          severity: state.sentIdentifiers ? "high" : "medium",
          message: `${summary.host ?? state.serverIp} is not an approved destination (the region's collectors and approved third parties)`,
          flow: summary.id,
          time,
          ip: state.serverIp,
          port: state.port,
          transport: state.transport,
        },
      });
    }
  }

  #later(
    state: FlowState,
    finding: Omit<Finding, "host" | "country" | "count" | "flow" | "ip" | "port" | "transport">,
  ): void {
    // Repeats within a flow (a keep-alive connection sending the same IMEI in every request)
    // are counted here, so a long capture keeps one entry per distinct finding per flow.
    const key = [finding.rule, finding.identifier, finding.path, finding.evidence].join("\u0000");
    const seen = state.pending.get(key);
    if (seen !== undefined) {
      seen.count += 1;
      return;
    }
    const entry: Pending = {
      flow: state,
      finding: {
        ...finding,
        flow: state.summary.id,
        ip: state.serverIp,
        port: state.port,
        transport: state.transport,
      },
      count: 1,
    };
    state.pending.set(key, entry);
    this.#pending.push(entry);
  }

  #record(finding: Finding): void {
    const key = [
      finding.rule,
      finding.host,
      finding.ip,
      finding.port,
      finding.identifier,
      finding.path,
      finding.evidence,
    ].join("\u0000");
    const seen = this.#findings.get(key);
    if (seen === undefined) this.#findings.set(key, finding);
    else seen.count += finding.count;
  }
}

/** Whether `deeper` continues `path` (the same place, decoded further), or is it. */
function extends_(deeper: string[], path: string[]): boolean {
  return deeper.length >= path.length && path.every((step, i) => deeper[i] === step);
}

/** Whether `host` (or the address) on `port` is among the approved entries. */
export function hostApproved(
  approved: readonly string[],
  host: string | null,
  ip: string,
  port: number,
): boolean {
  const names = [host, ip].filter((n): n is string => n !== null && n !== "").map((n) => n.toLowerCase());
  return approved.some((raw) => {
    const entry = raw.toLowerCase();
    const portMatch = /^(.*):(\d+)$/.exec(entry.startsWith("[") ? entry.replace(/^\[(.*)\]/, "$1") : entry);
    const bare = isIP(entry) === 6 ? entry : portMatch === null ? entry : (portMatch[1] ?? "");
    const wantPort = isIP(entry) === 6 || portMatch === null ? null : Number(portMatch[2]);
    if (wantPort !== null && wantPort !== port) return false;
    return names.some((n) => (bare.startsWith("*.") ? n.endsWith(bare.slice(1)) : n === bare));
  });
}
