/**
 * One direction of a TCP connection: its segments by relative offset, and
 * what is known of its start (the SYN) and end (the FIN).
 *
 * Offsets are relative to the anchor — the SYN's sequence number + 1, or,
 * without a SYN, the first sequence number seen — as a signed 32-bit
 * difference, which makes wraparound at 2^32 invisible. Without a SYN a
 * segment may land before the anchor (it was sent earlier but captured
 * later); the stream then starts at the lowest offset seen. With a SYN,
 * bytes before it are discarded.
 *
 * Segments are kept as received and put in order only when the stream is
 * assembled: sorted by offset (stable, so the first received wins a tie),
 * overlapping bytes taken from the segment that starts earlier, holes skipped
 * and counted (not zero-filled), one Buffer.concat for the whole direction.
 * Duplicates are merged away when they pile up, so memory stays near the limit.
 */

/** One received segment's payload at its offset. */
interface Segment {
  rel: number;
  data: Uint8Array;
}

/** The direction's bytes in order, the holes skipped, and what the limit cut off. */
export interface AssembledStream {
  data: Uint8Array;
  gaps: number;
  truncated: number;
}

/** A stretch of the stream without holes: where it starts and its pieces in order. */
interface Run {
  rel: number;
  pieces: Uint8Array[];
}

/** A walk over the sorted segments: the runs between holes, the bytes of the holes, where it ends. */
interface Walk {
  runs: Run[];
  gaps: number;
  end: number;
}

/** One direction's segments and state. */
export class TcpDirection {
  synSeen = false;
  #anchor: number | undefined;
  #segments: Segment[] = [];
  #sorted = true;
  #stored = 0;
  #finRel: number | undefined;
  #highestEnd = 0;
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** True once a FIN came this way. */
  hasFin(): boolean {
    return this.#finRel !== undefined;
  }

  /** The SYN's sequence number, which anchors the stream at seq + 1 (moving any data seen before it). */
  syn(seq: number): void {
    if (this.synSeen) return;
    const anchor = (seq + 1) >>> 0;
    if (this.#anchor !== undefined) this.#shift((this.#anchor - anchor) | 0);
    this.#anchor = anchor;
    this.synSeen = true;
  }

  /** True when a SYN with this sequence number would start another connection than this one's. */
  isOtherSyn(seq: number): boolean {
    return this.synSeen && this.#anchor !== (seq + 1) >>> 0;
  }

  /** A segment's payload starting at sequence number `seq`. */
  data(seq: number, payload: Uint8Array): void {
    let rel = this.#relative(seq);
    let data = payload;
    if (rel < (this.synSeen ? 0 : -this.#limit)) {
      if (!this.synSeen || rel + data.length <= 0) return;
      data = data.subarray(-rel);
      rel = 0;
    }
    this.#highestEnd = Math.max(this.#highestEnd, rel + data.length);
    if (rel >= this.#limit) return;
    if (rel + data.length > this.#limit) data = data.subarray(0, this.#limit - rel);
    const last = this.#segments.at(-1);
    if (last && rel < last.rel) this.#sorted = false;
    this.#segments.push({ rel, data });
    this.#stored += data.length;
    if (this.#stored > 3 * this.#limit) this.#compact();
  }

  /** The FIN at `seq`, after `payloadLength` bytes of its own. */
  fin(seq: number, payloadLength: number): void {
    this.#finRel = this.#relative(seq) + payloadLength;
  }

  /** True when the FIN is in and every byte before it (up to the limit) too: nothing more can come this way. */
  isComplete(): boolean {
    if (this.#finRel === undefined) return false;
    const walk = this.#walk();
    return walk.gaps === 0 && walk.end >= Math.min(this.#finRel, this.#limit);
  }

  /** The stream: holes skipped and counted, including bytes missing before the FIN. */
  assemble(): AssembledStream {
    const walk = this.#walk();
    const finEnd = this.#finRel === undefined ? 0 : Math.min(this.#finRel, this.#limit);
    return {
      data: Buffer.concat(walk.runs.flatMap((run) => run.pieces)),
      gaps: walk.gaps + Math.max(0, finEnd - walk.end),
      truncated: Math.max(0, this.#highestEnd - this.#limit),
    };
  }

  #relative(seq: number): number {
    if (this.#anchor === undefined) this.#anchor = seq;
    return (seq - this.#anchor) | 0;
  }

  #shift(delta: number): void {
    for (const segment of this.#segments) segment.rel += delta;
    if (this.#finRel !== undefined) this.#finRel += delta;
    this.#highestEnd += delta;
  }

  /** Sorts the segments (once) and walks them. Without a SYN the stream starts where its data does. */
  #walk(): Walk {
    if (!this.#sorted) {
      this.#segments.sort((a, b) => a.rel - b.rel);
      this.#sorted = true;
    }
    const first = this.#segments[0];
    let cursor = this.synSeen || !first ? 0 : first.rel;
    const runs: Run[] = [];
    let run: Run | undefined;
    let gaps = 0;
    for (const { rel, data } of this.#segments) {
      const end = rel + data.length;
      if (end <= cursor) continue;
      if (rel > cursor || !run) {
        gaps += Math.max(0, rel - cursor);
        cursor = Math.max(cursor, rel);
        run = { rel: cursor, pieces: [] };
        runs.push(run);
      }
      run.pieces.push(cursor === rel ? data : data.subarray(cursor - rel));
      cursor = end;
    }
    return { runs, gaps, end: cursor };
  }

  /** Replaces the segments by one per run: duplicates gone, holes kept, so later segments can still fill them. */
  #compact(): void {
    const { runs } = this.#walk();
    this.#segments = runs.map((run) => ({ rel: run.rel, data: Buffer.concat(run.pieces) }));
    this.#stored = this.#segments.reduce((sum, segment) => sum + segment.data.length, 0);
  }
}
