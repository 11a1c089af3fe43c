/**
 * IP fragment reassembly, for IPv4 and IPv6 alike: fragments are kept by
 * datagram (addresses, identification, protocol) until the last one is in and
 * the offsets cover the whole datagram without a hole; then the datagram's
 * payload is handed back once, whole. Overlapping fragments keep the bytes of
 * the one that starts earlier. Memory is bounded: at most MAX_PENDING
 * datagrams wait (the oldest is given up first), none longer than
 * MAX_AGE_MS of capture time, none larger than an IP datagram can be, none
 * with more than MAX_PARTS fragments (further ones are dropped). An exact
 * duplicate (same offset and length as one held) is ignored. The bytes
 * covered so far are counted as fragments arrive, so that the datagram is
 * put together once, when the last fragment is in and no byte is missing.
 */

const MAX_PENDING = 1024;
const MAX_AGE_MS = 60_000;
const MAX_DATAGRAM = 65_535;
/** As many fragments as 8-byte units fit in the largest datagram. */
const MAX_PARTS = 8192;

interface Part {
  offset: number;
  data: Buffer;
}

interface Pending {
  parts: Part[];
  /** `offset:length` of every part held, for ignoring exact duplicates. */
  seen: Set<string>;
  /** The bytes covered so far, as disjoint [start, end) ranges in order. */
  covered: [number, number][];
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
    const shape = `${offset}:${data.length}`;
    if (!more) entry.total = offset + data.length;
    if (!entry.seen.has(shape)) {
      if (entry.parts.length >= MAX_PARTS) {
        this.dropped++;
        return undefined;
      }
      entry.seen.add(shape);
      entry.parts.push({ offset, data: Buffer.from(data) });
      cover(entry.covered, offset, offset + data.length);
    }
    if (entry.total === undefined || !coversFromZero(entry.covered, entry.total)) return undefined;
    this.#pending.delete(key);
    return assemble(entry.parts, entry.total);
  }

  #entry(key: string, time: number): Pending {
    const existing = this.#pending.get(key);
    if (existing) return existing;
    if (this.#pending.size >= MAX_PENDING) this.#evictOldest();
    const entry: Pending = { parts: [], seen: new Set(), covered: [], total: undefined, firstTime: time };
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

/** Adds [start, end) to the disjoint, ordered ranges, merging the ones it touches. */
function cover(ranges: [number, number][], start: number, end: number): void {
  if (end <= start) return;
  let first = 0;
  while (first < ranges.length && (ranges[first]?.[1] ?? 0) < start) first++;
  let last = first;
  let from = start;
  let to = end;
  for (let range = ranges[last]; range && range[0] <= end; range = ranges[++last]) {
    from = Math.min(from, range[0]);
    to = Math.max(to, range[1]);
  }
  ranges.splice(first, last - first, [from, to]);
}

/** True when the first range runs from 0 to `total` or beyond. */
function coversFromZero(ranges: [number, number][], total: number): boolean {
  const first = ranges[0];
  return first !== undefined && first[0] === 0 && first[1] >= total;
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
