/**
 * IP addresses between raw bytes and text. IPv6 is written per RFC 5952:
 * lower-case hex, no leading zeros, the longest run of two or more zero
 * groups (the first, on a tie) shortened to `::`, and IPv4-mapped addresses
 * (::ffff:0:0/96) with their last 32 bits dotted (section 5). node:net parses
 * text but has no formatter for raw bytes, hence this small one.
 */

/** Dotted-quad text of the 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 text of the 16 bytes at `offset`. */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  const groups = readGroups(bytes, offset);
  if (isIPv4Mapped(groups)) return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  const [runStart, runLength] = longestZeroRun(groups);
  if (runLength < 2) return groups.map(hex).join(":");
  const head = groups.slice(0, runStart).map(hex).join(":");
  const tail = groups
    .slice(runStart + runLength)
    .map(hex)
    .join(":");
  return `${head}::${tail}`;
}

function readGroups(bytes: Uint8Array, offset: number): number[] {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[offset + i] ?? 0) << 8) | (bytes[offset + i + 1] ?? 0));
  return groups;
}

function isIPv4Mapped(groups: number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
}

/** [start, length] of the first longest run of zero groups. */
function longestZeroRun(groups: number[]): [number, number] {
  let best: [number, number] = [0, 0];
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0 && i - start > best[1]) best = [start, i - start];
    start = -1;
  }
  return best;
}

function hex(group: number): string {
  return group.toString(16);
}

/** The 4 or 16 bytes of an IPv4 or IPv6 address in text; throws a TypeError on anything else. */
export function parseIp(text: string): Uint8Array {
  const v4 = parseIPv4(text);
  if (v4) return v4;
  const v6 = parseIPv6(text);
  if (v6) return v6;
  throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
}

/** The canonical text of an address (brackets allowed around IPv6), or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIPv4(bare);
  if (v4) return formatIPv4(v4, 0);
  const v6 = parseIPv6(bare);
  return v6 ? formatIPv6(v6, 0) : undefined;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return Uint8Array.from(parts.map(Number));
}

function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? "");
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

/** Hex groups of one side of `::`; a dotted IPv4 tail counts as two groups. */
function parseGroups(text: string): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (!v4) return undefined;
      groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/** `10.0.0.2:51000`, `[2001:db8::1]:443`; a HAR endpoint without an address shows `host` instead. */
export function endpointText(endpoint: { ip: string; port: number }, host = ""): string {
  const name = endpoint.ip === "" ? host : endpoint.ip;
  return name.includes(":") ? `[${name}]:${endpoint.port}` : `${name}:${endpoint.port}`;
}
