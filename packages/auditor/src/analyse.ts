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
 * them, so host naming and the host and country checks of the listed flows
 * run in `finish()`; a flow past the listed ones is settled as it comes.
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
import {
  type Finding,
  type FindingRule,
  type Flow,
  type IdentifierKind,
  type IdentifierMatch,
  type Leaf,
  SEVERITY_ORDER,
  type Severity,
} from "./types.ts";

/** What the device's region allows, and what the user knows of the device. */
export interface AuditPolicy {
  /** The region the device belongs to, for the messages; null when not told. */
  region: string | null;
  /** Countries data may go to; null: the country check is off. */
  allowedCountries: ReadonlySet<string> | null;
  /** Hosts data may go to (`name`, `*.domain`, `name:port`, `ip`, `[ipv6]:port`); null: the host check is off. */
  approvedHosts: readonly string[] | null;
  /** Addresses (canonical form) whose country the user states: a lab's local server standing in for a foreign one. */
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
  /** What could not be read: gaps in the capture, data beyond the limits, a flow that failed. */
  notes: string[];
}

export interface AuditResult {
  findings: Finding[];
  /** The first MAX_LISTED_FLOWS flows; the rest are judged the same way and counted in `unlistedFlows`. */
  flows: FlowSummary[];
  unlistedFlows: number;
  httpRequests: number;
  geoip: GeoIp["source"];
}

/** How much of a flow that is neither HTTP nor TLS is scanned: the first mebibyte the device sent. */
const RAW_SCAN_BYTES = 1024 * 1024;

/** How much of what servers send the auditor keeps: enough for TLS ServerHellos and HTTP heads. */
export const SERVER_BYTES = 256 * 1024;

/**
 * Flows listed one by one in the report; later ones are judged as they come
 * (named from the DNS answers seen before them) and only counted, so a
 * capture of millions of connections does not hold them all.
 */
export const MAX_LISTED_FLOWS = 10_000;

/** Identifiers that single out a device or a subscriber for good. */
const STRONG = new Set<IdentifierKind>(["imei", "imeisv", "meid", "imsi", "iccid", "msisdn", "gps", "known"]);
/** Identifiers that say little alone: a public address is in every packet's header anyway. */
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
  const at = Math.min(SEVERITY_ORDER.length - 1, SEVERITY_ORDER.indexOf(severity) + steps);
  return SEVERITY_ORDER[at] ?? "info";
}

/** How bad sending this identifier is, in this form, over this transport (docs/traffic-audit.md#findings). */
function identifierSeverity(match: IdentifierMatch, rule: FindingRule, cleartext: boolean): Severity {
  let severity: Severity = WEAK.has(match.kind) ? "medium" : "high";
  if (STRONG.has(match.kind) && cleartext && rule !== "hashed-identifier") severity = "critical";
  if (rule === "hashed-identifier") severity = cleartext ? "high" : "medium";
  if (match.detail?.includes("randomised") === true) severity = lower(severity, 2);
  if (match.confidence === "low") severity = lower(severity);
  return severity;
}

const serious = (severity: Severity) => severity === "critical" || severity === "high";

/** A finding waiting for its flow's host name and country, with how often the flow repeated it. */
interface Pending {
  finding: Omit<Finding, "host" | "country" | "count">;
  count: number;
}

interface FlowState {
  summary: FlowSummary;
  /** Host named by the flow itself (HTTP Host, TLS SNI, HAR URL), before DNS. */
  ownHost: string | null;
  serverIp: string;
  port: number;
  /** True once an identifier of high severity or worse was sent: it raises the flow's other findings. */
  sentIdentifiers: boolean;
  transport: Finding["transport"];
  /** This flow's findings so far, by what makes them the same. */
  pending: Map<string, Pending>;
}

type Later = Omit<Finding, "host" | "country" | "count" | "flow" | "ip" | "port" | "transport">;

/** Reads flows one by one; `finish()` answers the findings. */
export class Auditor {
  readonly #policy: AuditPolicy;
  readonly #geoip: GeoIp;
  readonly #approved: ((host: string | null, ip: string, port: number) => boolean) | null;
  readonly #dns = new DnsNames();
  /** Listed flows, judged for host and country in `finish()`, when every DNS answer is known. */
  readonly #flows: FlowState[] = [];
  readonly #findings = new Map<string, Finding>();
  #unlisted = 0;
  #httpRequests = 0;

  constructor(policy: AuditPolicy, geoip: GeoIp) {
    this.#policy = policy;
    this.#geoip = geoip;
    this.#approved = policy.approvedHosts === null ? null : approvedHosts(policy.approvedHosts);
  }

  /** Judges one flow. A flow whose bytes trip a fault is noted as unread; the audit goes on. */
  add(flow: Flow): void {
    const state = this.#state(flow);
    try {
      this.#judge(flow, state);
    } catch (error) {
      state.summary.notes.push(
        `could not be read: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (this.#flows.length < MAX_LISTED_FLOWS) this.#flows.push(state);
    else {
      this.#settle(state);
      this.#unlisted += 1;
    }
  }

  /** Names hosts, checks destinations, and answers every finding, worst first. */
  finish(): AuditResult {
    for (const state of this.#flows) this.#settle(state);
    const findings = [...this.#findings.values()].sort(
      (a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || a.time - b.time,
    );
    return {
      findings,
      flows: this.#flows.map((s) => s.summary),
      unlistedFlows: this.#unlisted,
      httpRequests: this.#httpRequests,
      geoip: this.#geoip.source,
    };
  }

  #judge(flow: Flow, state: FlowState): void {
    if (flow.transport === "udp") return this.#udp(flow, state);
    if (flow.server.port === 53 && this.#dnsOverTcp(flow, state)) return;
    // Where the capture missed bytes, what follows is read on its own: parsing stops at a hole,
    // and bytes from either side of one must not be read as one value.
    const runs = split(flow.clientData, flow.holes?.client ?? []);
    for (const [i, run] of runs.entries()) {
      const http = parseHttp(run, i === 0 ? flow.serverData : EMPTY, { responseBodies: false });
      if (http !== null && http.requests.length > 0) {
        this.#http(flow, state, http.requests);
        continue;
      }
      const tls = i === 0 && flow.har === undefined ? parseTlsHellos(run, flow.serverData) : null;
      if (tls !== null) return this.#tls(flow, state, tls);
      this.#raw(state, run.subarray(0, RAW_SCAN_BYTES), flow.firstTime, "TCP");
    }
  }

  /** The flow's host (its own, else from DNS) and country; its destination checked; its findings recorded. */
  #settle(state: FlowState): void {
    const { summary } = state;
    summary.host = state.ownHost ?? this.#dns.nameFor(state.serverIp);
    summary.country = this.#country(state.serverIp);
    if (state.transport !== "dns" && summary.bytesOut > 0) this.#destination(state);
    for (const { finding, count } of state.pending.values()) {
      this.#record({ ...finding, host: summary.host, country: summary.country, count });
    }
    state.pending.clear();
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
    if (flow.truncated !== undefined && flow.truncated.client > 0) {
      notes.push(`${flow.truncated.client} bytes the device sent beyond the flow limit not read`);
    }
    return {
      summary: {
        id: flow.id,
        protocol: flow.transport,
        client: `${flow.client.ip}:${flow.client.port}`,
        server: `${flow.server.ip}:${flow.server.port}`,
        host: null,
        country: null,
        firstTime: flow.firstTime,
        // A UDP flow's totals come from its datagrams (#udp), without joining them.
        bytesOut: flow.transport === "udp" ? 0 : flow.clientData.length,
        bytesIn: flow.transport === "udp" ? 0 : flow.serverData.length + (flow.truncated?.server ?? 0),
        requests: 0,
        tls: null,
        identifiers: [],
        notes,
      },
      ownHost: flow.har?.host ?? null,
      serverIp: flow.server.ip === "" ? "" : normaliseIp(flow.server.ip),
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
      if (d.fromClient) state.summary.bytesOut += d.payload.length;
      else state.summary.bytesIn += d.payload.length;
      const message = parseDns(d.payload, false);
      if (message === null) continue;
      dns = true;
      this.#dns.record(message.answers); // only responses carry answers, whichever side sent them
    }
    if (dns) {
      state.transport = state.summary.protocol = "dns";
      return;
    }
    let scanned = 0;
    let found = 0;
    for (const d of datagrams) {
      if (!d.fromClient) continue;
      if (scanned > RAW_SCAN_BYTES) continue;
      scanned += d.payload.length;
      const leaves = decode(d.payload, ["udp"]);
      found += this.#leaves(state, leaves, d.time, true);
      this.#signature(state, leaves, null, d.time, "UDP");
    }
    if (found > 0) this.#cleartext(state, flow.firstTime, "unencrypted UDP");
  }

  /** DNS over TCP (length-prefixed messages): answers learnt, nothing else to judge. */
  #dnsOverTcp(flow: Flow, state: FlowState): boolean {
    const answers = parseDns(flow.serverData, true);
    if (answers === null && parseDns(flow.clientData, true) === null) return false;
    if (answers !== null) this.#dns.record(answers.answers);
    state.transport = state.summary.protocol = "dns";
    return true;
  }

  #http(flow: Flow, state: FlowState, requests: HttpRequest[]): void {
    const encrypted = flow.har?.scheme === "https";
    state.transport = state.summary.protocol = encrypted ? "https" : "http";
    state.summary.requests += requests.length;
    this.#httpRequests += requests.length;
    let found = 0;
    for (const request of requests) {
      const hostName = request.host;
      if (state.ownHost === null && hostName !== null && isIP(hostName) === 0) state.ownHost = hostName;
      const time = flow.firstTime;
      const leaves = httpLeaves(request);
      const here = this.#leaves(state, leaves, time, !encrypted);
      found += here;
      if (!encrypted && isGloballyRoutable(state.serverIp) && (hostName === null || isIP(hostName) !== 0)) {
        this.#later(state, {
          rule: "http-to-bare-ip",
          severity: here > 0 ? "high" : "medium",
          message: `HTTP ${request.method} to the bare address ${state.serverIp}: no name, no certificate, nothing to hold the operator to`,
          time,
        });
      }
      this.#signature(state, leaves, hostName, time, `HTTP ${request.method}`);
    }
    if (!encrypted && found > 0) this.#cleartext(state, flow.firstTime, "plain HTTP");
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

  /** A TCP stream or datagram that is neither HTTP nor TLS, scanned as it is. */
  #raw(state: FlowState, data: Uint8Array, time: number, carrier: "TCP"): void {
    if (data.length === 0) return;
    const leaves = decode(data, [carrier.toLowerCase()]);
    if (this.#leaves(state, leaves, time, true) > 0) this.#cleartext(state, time, `unencrypted ${carrier}`);
    this.#signature(state, leaves, null, time, carrier);
  }

  #cleartext(state: FlowState, time: number, carrier: string): void {
    this.#later(state, {
      rule: "cleartext-transport",
      severity: "high",
      message: `personal data (${state.summary.identifiers.map((k) => LABELS[k]).join(", ")}) sent over ${carrier}, readable by anyone on the path`,
      time,
    });
  }

  /** Searches leaves for identifiers; records a finding per identifier and answers how many. */
  #leaves(state: FlowState, leaves: Leaf[], time: number, cleartext: boolean): number {
    // One value is one identifier: seen at several depths of one place (the raw body, then the
    // decoded field, where its key also tells its kind) it is reported once, at the deepest path,
    // which says how it was hidden; found in two places (the query and the body), once for each.
    const found = new Map<string, { match: IdentifierMatch; leaf: Leaf }[]>();
    for (const leaf of leaves) {
      const matches = findIdentifiers(leaf.text, leaf.key === undefined ? {} : { key: leaf.key });
      if (this.#policy.known !== null) matches.push(...this.#policy.known.find(leaf.text));
      for (const match of matches) {
        const id = `${match.value}\u0000${match.hashOf ?? ""}`;
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
      const severity = identifierSeverity(match, rule, cleartext);
      if (!state.summary.identifiers.includes(match.kind)) state.summary.identifiers.push(match.kind);
      if (serious(severity)) state.sentIdentifiers = true;
      this.#later(state, {
        rule,
        severity,
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
      message: `the SIM is from ${match.country} (by its IMSI) and its numbers went to ${destination}`,
      time,
      identifier: "imsi",
      evidence: redact("imsi", match.value),
    });
  }

  /** The China Telecom self-registration protocol: its host, or its message's keys (JSON, form or query). */
  #signature(state: FlowState, leaves: Leaf[], host: string | null, time: number, carrier: string): void {
    const keys = new Set<string>();
    for (const leaf of leaves) {
      const last = leaf.path[leaf.path.length - 1];
      if (last === undefined) continue;
      const dot = last.indexOf(".");
      // The message's keys are top-level: `json.REGVER`, `form.MEID`, nothing longer to parse.
      if (dot > 0 && CTCC_KEYS.has(last.slice(dot + 1))) keys.add(last.slice(dot + 1));
    }
    const named = host !== null && CTCC_HOST.test(host);
    if (keys.size < 3 && !named) return;
    this.#later(state, {
      rule: "ctcc-self-registration",
      severity: "critical",
      message: [
        `China Telecom self-registration: ${carrier}`,
        keys.size >= 3 ? ` with ${[...keys].slice(0, 6).join(", ")}` : "",
        named ? ` to ${host}` : "",
        "; this client reports the phone and its SIM cards to the carrier",
      ].join(""),
      time,
    });
  }

  /** Country and host of a flow that sent something, against the policy. */
  #destination(state: FlowState): void {
    const { summary } = state;
    const allowed = this.#policy.allowedCountries;
    if (allowed !== null && summary.country !== null && !allowed.has(summary.country)) {
      const region = this.#policy.region === null ? "" : ` for region ${this.#policy.region}`;
      this.#later(state, {
        rule: "cross-border",
        severity: state.sentIdentifiers ? "critical" : "medium",
        message: `${state.sentIdentifiers ? "personal data" : "data"} sent to ${summary.country}, outside the countries allowed${region} (${[...allowed].join(", ")})`,
        time: summary.firstTime,
      });
    }
    if (this.#approved !== null && !this.#approved(summary.host, state.serverIp, state.port)) {
      this.#later(state, {
        rule: "unapproved-host",
        severity: state.sentIdentifiers ? "high" : "medium",
        message: `${summary.host ?? state.serverIp} is not an approved destination (the region's collector and approved third parties)`,
        time: summary.firstTime,
      });
    }
  }

  /** Keeps a finding for the flow's settling; repeats within the flow are counted. */
  #later(state: FlowState, finding: Later): void {
    // A keep-alive connection sending the same IMEI in every request keeps one entry.
    const key = [finding.rule, finding.identifier, finding.path, finding.evidence].join("\u0000");
    const seen = state.pending.get(key);
    if (seen !== undefined) {
      seen.count += 1;
      return;
    }
    state.pending.set(key, {
      finding: {
        ...finding,
        flow: state.summary.id,
        ip: state.serverIp,
        port: state.port,
        transport: state.transport,
      },
      count: 1,
    });
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
    else if (SEVERITY_ORDER.indexOf(finding.severity) < SEVERITY_ORDER.indexOf(seen.severity)) {
      // The same destination, worse this time (personal data went with it): the worse one speaks.
      this.#findings.set(key, { ...finding, count: seen.count + finding.count });
    } else seen.count += finding.count;
  }
}

const EMPTY = new Uint8Array(0);

/** `data` cut at the given offsets (ascending, inside it). */
function split(data: Uint8Array, at: readonly number[]): Uint8Array[] {
  const runs: Uint8Array[] = [];
  let from = 0;
  for (const offset of at) {
    runs.push(data.subarray(from, offset));
    from = offset;
  }
  runs.push(data.subarray(from));
  return runs;
}

/** Whether `deeper` continues `path` (the same place, decoded further), or is it. */
function extends_(deeper: string[], path: string[]): boolean {
  return deeper.length >= path.length && path.every((step, i) => deeper[i] === step);
}

/** One approved-host entry: a name (or `*.domain`) or an address (canonical), with a port or any. */
function parseEntry(raw: string): { host: string; port: number | null } {
  const entry = raw.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed !== null) {
    return {
      host: normaliseIp(bracketed[1] ?? ""),
      port: bracketed[2] === undefined ? null : Number(bracketed[2]),
    };
  }
  if (isIP(entry) !== 0) return { host: normaliseIp(entry), port: null };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  return withPort === null
    ? { host: entry, port: null }
    : { host: withPort[1] ?? "", port: Number(withPort[2]) };
}

/** A matcher of the approved entries: does the flow's host name or address, on its port, match one? */
export function approvedHosts(
  entries: readonly string[],
): (host: string | null, ip: string, port: number) => boolean {
  const parsed = entries.map(parseEntry);
  return (host, ip, port) => {
    const names = [host?.toLowerCase(), ip === "" ? undefined : normaliseIp(ip)].filter(
      (n): n is string => n !== undefined,
    );
    return parsed.some(
      (e) =>
        (e.port === null || e.port === port) &&
        names.some((n) => (e.host.startsWith("*.") ? n.endsWith(e.host.slice(1)) : n === e.host)),
    );
  };
}
