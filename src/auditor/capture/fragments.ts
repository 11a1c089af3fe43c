/**
 * IP fragment reassembly, for IPv4 and IPv6 alike: fragments are kept by
 * datagram (addresses, identification, protocol) until the last one is in and
 * the offsets cover the whole datagram without a hole; then the datagram's
 * payload is handed back once, whole. Overlapping fragments keep the bytes of
 * the one that starts earlier. Memory is bounded: at most MAX_PENDING
 * datagrams wait (the oldest is given up first), none longer than
 * MAX_AGE_MS of capture time, none larger than an IP datagram can be.
 */

const MAX_PENDING = 1024;
const MAX_AGE_MS = 60_000;
const MAX_DATAGRAM = 65_535;

interface Part {
  offset: number;
  data: Buffer;
}

interface Pending {
  parts: Part[];
  /** Known once the last fragment (no "more fragments" flag) arrives. */
  total: number | undefined;
  firstTime: number;
}

/** Datagrams being rebuilt from their fragments. */
export class FragmentReassembler {
  /** Fragments given up on: evicted, too old, or beyond the largest datagram. */
  dropped = 0;
  #pending = new Map<string, Pending>();

  /** Adds one fragment's payload; returns the datagram's whole payload when this fragment completes it. */
  add(key: string, offset: number, more: boolean, data: Buffer, time: number): Buffer | undefined {
    this.#expire(time);
    const entry = this.#entry(key, time);
    if (offset + data.length > MAX_DATAGRAM) {
      this.#giveUp(key, entry.parts.length + 1);
      return undefined;
    }
    entry.parts.push({ offset, data: Buffer.from(data) });
    if (!more) entry.total = offset + data.length;
    if (entry.total === undefined) return undefined;
    const whole = assemble(entry.parts, entry.total);
    if (whole) this.#pending.delete(key);
    return whole;
  }

  #entry(key: string, time: number): Pending {
    const existing = this.#pending.get(key);
    if (existing) return existing;
    if (this.#pending.size >= MAX_PENDING) this.#evictOldest();
    const entry: Pending = { parts: [], total: undefined, firstTime: time };
    this.#pending.set(key, entry);
    return entry;
  }

  /** Gives up datagrams older than MAX_AGE_MS; the Map keeps insertion order, so the oldest come first. */
  #expire(time: number): void {
    for (const [key, entry] of this.#pending) {
      if (time - entry.firstTime <= MAX_AGE_MS) return;
      this.#giveUp(key, entry.parts.length);
    }
  }

  #evictOldest(): void {
    for (const [key, entry] of this.#pending) {
      this.#giveUp(key, entry.parts.length);
      return;
    }
  }

  #giveUp(key: string, fragments: number): void {
    this.#pending.delete(key);
    this.dropped += fragments;
  }
}

/** The payload from offset 0 to `total` when the parts cover it, else undefined. */
function assemble(parts: Part[], total: number): Buffer | undefined {
  const sorted = [...parts].sort((a, b) => a.offset - b.offset);
  const pieces: Buffer[] = [];
  let cursor = 0;
  for (const part of sorted) {
    if (part.offset > cursor) return undefined;
    const end = part.offset + part.data.length;
    if (end <= cursor) continue;
    pieces.push(part.data.subarray(cursor - part.offset));
    cursor = end;
  }
  return cursor >= total ? Buffer.concat(pieces, total) : undefined;
}
