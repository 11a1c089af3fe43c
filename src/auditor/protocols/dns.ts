/**
 * DNS messages (over UDP, or over TCP with the 2-byte length prefix) read with
 * `dns-packet`, kept to what the auditor needs: the names asked for and the
 * A, AAAA and CNAME answers. `DnsNames` turns answers back into the name a
 * person would recognise for an address: the one that was queried, reached by
 * following CNAME chains backwards.
 */
import dnsPacket from "dns-packet";

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
  questions: string[];
  answers: DnsAnswer[];
}

/** Header sanity bounds: a real message asks few questions and carries a bounded number of records. */
const MAX_QUESTIONS = 16;
const MAX_RECORDS = 512;
const HOST_NAME = /^[a-z0-9_*-]([a-z0-9_.*-]{0,252})?$/i;

/** The questions and answers of a DNS payload, or null when it is not DNS. Never throws. */
export function parseDns(payload: Uint8Array, overTcp: boolean): DnsMessage | null {
  const data = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const messages = overTcp ? tcpMessages(data) : [data];
  const result: DnsMessage = { questions: [], answers: [] };
  let parsed = 0;
  for (const message of messages) {
    const one = parseMessage(message);
    if (one === null) break;
    result.questions.push(...one.questions);
    result.answers.push(...one.answers);
    parsed += 1;
  }
  return parsed === 0 ? null : result;
}

/** The length-prefixed messages of a TCP stream; a cut-off last message is dropped. */
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
  return { questions, answers };
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

/** IPv4 as is; IPv6 in RFC 5952 form (lower case, longest zero run compressed, mapped IPv4 dotted). */
export function normaliseIp(ip: string): string {
  if (!ip.includes(":")) return ip;
  let compact: string;
  try {
    compact = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compact);
  if (mapped === null) return compact;
  const high = parseInt(mapped[1] ?? "0", 16);
  const low = parseInt(mapped[2] ?? "0", 16);
  return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
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
