/**
 * Public IP addresses: IPv4 and IPv6 addresses that are globally routable,
 * which in a payload usually means the device's own public address as some
 * service saw it. Not reported: the special-purpose ranges of the IANA
 * registries (RFC 6890 and successors: private, loopback, link-local, CGNAT,
 * documentation, benchmarking, multicast, reserved), well-known public DNS
 * resolvers (they are configuration, not the device), dotted numbers glued
 * to letters or to more dots ("v1.2.3.4", "1.2.3.4.5"), single-digit quads
 * such as "1.2.3.4" unless the key says ip, and anything under a version key.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { IdentifierMatch } from "../types.ts";
import type { KeyContext } from "./context.ts";
import { eachMatch, visitIf } from "./match.ts";

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";

/** A dotted quad with no leading zeros, not preceded by a letter, digit or dot, nor followed by more of the same. */
const IPV4 = new RegExp(`(?<![0-9A-Za-z.])${OCTET}(?:\\.${OCTET}){3}(?![0-9A-Za-z]|\\.[0-9A-Za-z])`, "g");

/** A candidate IPv6 address (checked with node:net): hex groups and colons, an optional dotted IPv4 tail. */
const IPV6 =
  /(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:\.\d{1,3}){0,3}(?![0-9A-Za-z:])/g;

const NOT_PUBLIC_V4 = blockList("ipv4", [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
]);

/** Global unicast is 2000::/3; within it, these are not globally routable or are documentation. */
const GLOBAL_V6 = blockList("ipv6", [["2000::", 3]]);
const NOT_PUBLIC_V6 = blockList("ipv6", [
  ["2001::", 23],
  ["2001:db8::", 32],
  ["3fff::", 20],
]);

/** Public resolvers (Cloudflare, Google, Quad9, OpenDNS): addresses every device knows. */
const RESOLVERS = new Set([
  "1.1.1.1",
  "1.0.0.1",
  "8.8.8.8",
  "8.8.4.4",
  "9.9.9.9",
  "149.112.112.112",
  "208.67.222.222",
  "208.67.220.220",
  "2606:4700:4700::1111",
  "2606:4700:4700::1001",
  "2001:4860:4860::8888",
  "2001:4860:4860::8844",
  "2620:fe::fe",
]);

function blockList(family: "ipv4" | "ipv6", subnets: [string, number][]): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, family);
  return list;
}

/** Whether an address (not a text that contains one) is globally routable: not private, loopback, link-local, documentation… */
export function isGloballyRoutable(address: string): boolean {
  if (isIPv4(address)) return !NOT_PUBLIC_V4.check(address, "ipv4");
  if (isIPv6(address)) return GLOBAL_V6.check(address, "ipv6") && !NOT_PUBLIC_V6.check(address, "ipv6");
  return false;
}

/** Every public IPv4 and IPv6 address in `text`. */
export function scanPublicIps(
  text: string,
  context: KeyContext,
  visit: (match: IdentifierMatch) => void,
): void {
  if (context.version || text.length < 7) return;
  if (text.includes(".")) eachMatch(IPV4, text, (found) => visitIf(ipv4Match(found[0], context), visit));
  if (text.indexOf(":") !== text.lastIndexOf(":")) {
    eachMatch(IPV6, text, (found) => visitIf(ipv6Match(found[0]), visit));
  }
}

function ipv4Match(address: string, context: KeyContext): IdentifierMatch | null {
  if (RESOLVERS.has(address) || NOT_PUBLIC_V4.check(address, "ipv4")) return null;
  // "1.2.3.4" and "2.0.1.5" are far more often versions than addresses.
  if (address.length === 7 && !context.ip) return null;
  return { kind: "public-ip", value: address, confidence: "medium", detail: "globally routable IPv4" };
}

function ipv6Match(candidate: string): IdentifierMatch | null {
  if (!isIPv6(candidate) || RESOLVERS.has(candidate.toLowerCase())) return null;
  if (!GLOBAL_V6.check(candidate, "ipv6") || NOT_PUBLIC_V6.check(candidate, "ipv6")) return null;
  return { kind: "public-ip", value: candidate, confidence: "medium", detail: "globally routable IPv6" };
}
