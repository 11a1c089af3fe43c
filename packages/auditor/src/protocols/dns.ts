/**
 * DNS messages (over UDP, or over TCP with the 2-byte length prefix) read with
 * `dns-packet`, kept to what the auditor needs: the names asked for and the
 * A, AAAA and CNAME answers. `DnsNames` turns answers back into the name a
 * person would recognise for an address: the one that was queried, reached by
 * following CNAME chains backwards. `response` (the QR bit) lets a caller
 * learn answers from responses whichever side of the flow carried them.
 */
import dnsPacket from "dns-packet";
import { canonicalIp } from "../capture/index.ts";
import { asBuffer } from "../decode/bytes.ts";

/** One address or alias record from an answer section. */
export interface DnsAnswer {
  /** The owner name, lower-cased, without the trailing dot. */
  name: string;
  type: "A" | "AAAA" | "CNAME";
  /** The address (IPv6 in RFC 5952 form) or, for CNAME, the target name lower-cased. */
  data: string;
}

/** What a DNS message (or a TCP stream of them) asked and answered. */
export interface DnsMessage {
  /** True when the QR bit says response: of the one UDP message, or of every message of a TCP stream. */
  response: boolean;
  questions: string[];
  answers: DnsAnswer[];
}

/** Header sanity bounds: a real message asks few questions and carries a bounded number of records. */
const MAX_QUESTIONS = 16;
const MAX_RECORDS = 512;
/** The QR bit of the header flags: set in responses. */
const QR = 0x8000;
const HOST_NAME = /^[a-z0-9_*-]([a-z0-9_.*-]{0,252})?$/i;

/**
 * The questions and answers of a DNS payload, or null when it is not DNS.
 * Over TCP, every length-prefixed message up to the first that is cut off or
 * not DNS is read; null when not even the first is. Never throws.
 */
export function parseDns(payload: Uint8Array, overTcp: boolean): DnsMessage | null {
  const data = asBuffer(payload);
  const messages = overTcp ? tcpMessages(data) : [data];
  const result: DnsMessage = { response: true, questions: [], answers: [] };
  let parsed = 0;
  for (const message of messages) {
    const one = parseMessage(message);
    if (one === null) break;
    result.response &&= one.response;
    result.questions.push(...one.questions);
    result.answers.push(...one.answers);
    parsed += 1;
  }
  return parsed === 0 ? null : result;
}

/** The length-prefixed messages of a TCP stream; a cut-off last message (a capture that ends mid-message) is dropped. */
function tcpMessages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos + 2 <= data.length) {
    const length = data.readUInt16BE(pos);
    if (length === 0 || pos + 2 + length > data.length) break;
    out.push(data.subarray(pos + 2, pos + 2 + length));
    pos += 2 + length;
  }
  return out;
}

function parseMessage(data: Buffer): DnsMessage | null {
  if (!plausibleHeader(data)) return null;
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(data);
  } catch {
    return null;
  }
  const questions = (packet.questions ?? []).map((q) => normaliseName(q.name));
  if (questions.some((q) => !HOST_NAME.test(q) && q !== "")) return null;
  const answers: DnsAnswer[] = [];
  for (const answer of packet.answers ?? []) {
    const kept = keepAnswer(answer);
    if (kept !== null) answers.push(kept);
  }
  const response = (data.readUInt16BE(2) & QR) !== 0;
  return { response, questions, answers };
}

/** Opcode QUERY, a few questions, bounded record counts: garbage rarely passes. */
function plausibleHeader(data: Buffer): boolean {
  if (data.length < 12) return false;
  const flags = data.readUInt16BE(2);
  const opcode = (flags >> 11) & 0x0f;
  const questions = data.readUInt16BE(4);
  const records = data.readUInt16BE(6) + data.readUInt16BE(8) + data.readUInt16BE(10);
  if (opcode !== 0 || questions > MAX_QUESTIONS || records > MAX_RECORDS) return false;
  return questions + records > 0;
}

function keepAnswer(answer: dnsPacket.Answer): DnsAnswer | null {
  if (answer.type !== "A" && answer.type !== "AAAA" && answer.type !== "CNAME") return null;
  if (typeof answer.data !== "string") return null;
  const name = normaliseName(answer.name);
  if (answer.type === "CNAME") return { name, type: "CNAME", data: normaliseName(answer.data) };
  return { name, type: answer.type, data: normaliseIp(answer.data) };
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A dotted quad without leading zeros: already canonical. */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** Lower-case hex groups and colons only (no dotted tail). */
const LOWER_HEX_COLONS = /^[0-9a-f:]+$/;
/** A group with a leading zero, two zero groups written out, or a zero group beside "::" (RFC 5952 compresses those). */
const NOT_CANONICAL_GROUPS = /(?:^|:)0[0-9a-f]|(?:^|:)0:0(?::|$)|(?:^|:)0::|::0(?::|$)/;

/**
 * An address in canonical text (capture's canonicalIp: IPv4 dotted, IPv6 per
 * RFC 5952 with mapped IPv4 dotted), brackets removed; anything else lower-cased.
 * An address already in that form is returned without parsing.
 */
export function normaliseIp(ip: string): string {
  if (isCanonical(ip)) return ip;
  return canonicalIp(ip) ?? ip.toLowerCase();
}

/**
 * IPv4 without leading zeros; IPv6 in lower case without leading zeros,
 * without written-out zero runs, without "::" standing for a single group,
 * and not IPv4-mapped. False only means "parse it".
 */
function isCanonical(ip: string): boolean {
  if (!ip.includes(":")) return CANONICAL_IPV4.test(ip);
  if (!LOWER_HEX_COLONS.test(ip) || ip.includes("::ffff:") || NOT_CANONICAL_GROUPS.test(ip)) return false;
  const compressed = ip.indexOf("::");
  if (compressed < 0) return ip.split(":").length === 8;
  if (ip.indexOf("::", compressed + 1) >= 0) return false;
  // "::" must stand for two or more zero groups: at most 6 written.
  const written = ip.split(":").filter((group) => group !== "").length;
  return written <= 6;
}

/**
 * Address → name, learnt from DNS answers. Later answers win for an address
 * several names resolved to; `namesFor` lists them all.
 */
export class DnsNames {
  /** Address → the owner names of its A/AAAA records, most recent last. */
  readonly #owners = new Map<string, string[]>();
  /** CNAME target → the alias that pointed to it. */
  readonly #aliasOf = new Map<string, string>();

  /** Learns from the answers of one message. */
  record(answers: DnsAnswer[]): void {
    for (const answer of answers) {
      if (answer.type === "CNAME") {
        if (answer.data !== answer.name) this.#aliasOf.set(answer.data, answer.name);
        continue;
      }
      const ip = normaliseIp(answer.data);
      const owners = (this.#owners.get(ip) ?? []).filter((n) => n !== answer.name);
      owners.push(answer.name);
      this.#owners.set(ip, owners);
    }
  }

  /** The queried name that led to this address (CNAMEs followed back), or null when never seen. */
  nameFor(ip: string): string | null {
    const owners = this.#owners.get(normaliseIp(ip));
    const latest = owners?.[owners.length - 1];
    return latest === undefined ? null : this.#queried(latest);
  }

  /** Every queried name seen for this address, most recent last. */
  namesFor(ip: string): string[] {
    const names = (this.#owners.get(normaliseIp(ip)) ?? []).map((n) => this.#queried(n));
    return [...new Set(names.reverse())].reverse();
  }

  /** Follows CNAMEs backwards from `name` to the start of the chain; a loop stops where it closes. */
  #queried(name: string): string {
    const seen = new Set([name]);
    let current = name;
    for (;;) {
      const alias = this.#aliasOf.get(current);
      if (alias === undefined || seen.has(alias)) return current;
      seen.add(alias);
      current = alias;
    }
  }
}
