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
 * Segments are kept in order of offset and never overlap: of a segment that
 * arrives, only the bytes not already held are kept (copied out when it is
 * cut, so that a few new bytes do not pin a whole retransmission), so where
 * retransmissions disagree the bytes received first win, and duplicates cost
 * nothing. A direction thus never holds more than its limit: bytes at
 * offsets beyond it are dropped, and so are new bytes once `limit` are held
 * (which only happens without a SYN, when data before the first sequence
 * number seen arrives late); both are counted as truncated. The stream is
 * assembled once: holes skipped and counted (not zero-filled), their places
 * in the data noted, one Buffer.concat for the whole direction.
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
  /** Offsets in `data` where missing bytes were skipped (0 < offset < data.length): the bytes either side were not adjacent. */
  holes: number[];
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

/** Bytes of an arriving segment not yet held, and where they go in the segment list. */
interface NewPiece {
  rel: number;
  data: Uint8Array;
  index: number;
}

/** One direction's segments and state. */
export class TcpDirection {
  synSeen = false;
  #anchor: number | undefined;
  /** Sorted by offset, never overlapping. */
  #segments: Segment[] = [];
  #stored = 0;
  /** New bytes dropped because `limit` bytes were already held. */
  #overBudget = 0;
  #finRel: number | undefined;
  #highestEnd = 0;
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The payload bytes held: never more than the limit. */
  heldBytes(): number {
    return this.#stored;
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
    if (data.length === 0) return;
    const pieces = this.#newPieces(rel, data);
    const whole = pieces.length === 1 && pieces[0]?.data.length === data.length;
    // Within the limit, the first new bytes by offset are kept.
    let room = this.#limit - this.#stored;
    for (const piece of pieces) {
      const kept = Math.max(0, Math.min(piece.data.length, room));
      this.#overBudget += piece.data.length - kept;
      if (kept < piece.data.length) piece.data = piece.data.subarray(0, kept);
      room -= kept;
    }
    // Inserted last first, so that the indices of the earlier ones still hold.
    for (let i = pieces.length - 1; i >= 0; i--) {
      const piece = pieces[i];
      if (!piece || piece.data.length === 0) continue;
      const segment = { rel: piece.rel, data: whole ? piece.data : new Uint8Array(piece.data) };
      if (piece.index === this.#segments.length) this.#segments.push(segment);
      else this.#segments.splice(piece.index, 0, segment);
      this.#stored += segment.data.length;
    }
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
    const holes: number[] = [];
    let length = 0;
    for (const run of walk.runs) {
      if (length > 0) holes.push(length);
      for (const piece of run.pieces) length += piece.length;
    }
    return {
      data: Buffer.concat(
        walk.runs.flatMap((run) => run.pieces),
        length,
      ),
      gaps: walk.gaps + Math.max(0, finEnd - walk.end),
      holes,
      truncated: Math.max(0, this.#highestEnd - this.#limit) + this.#overBudget,
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

  /**
   * The parts of [rel, rel + data.length) no held segment covers, in order,
   * each with the index it is to be inserted at: a binary search for the
   * first held segment that ends after `rel`, then a walk over those it overlaps.
   */
  #newPieces(rel: number, data: Uint8Array): NewPiece[] {
    const segments = this.#segments;
    const end = rel + data.length;
    let low = 0;
    let high = segments.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const segment = segments[middle];
      if (segment && segment.rel + segment.data.length <= rel) low = middle + 1;
      else high = middle;
    }
    const pieces: NewPiece[] = [];
    let at = rel;
    let index = low;
    for (let segment = segments[index]; segment && segment.rel < end; segment = segments[++index]) {
      if (segment.rel > at) pieces.push({ rel: at, data: data.subarray(at - rel, segment.rel - rel), index });
      at = Math.max(at, segment.rel + segment.data.length);
    }
    if (at < end) pieces.push({ rel: at, data: data.subarray(at - rel), index });
    return pieces;
  }

  /** Walks the segments in order. Without a SYN the stream starts where its data does. */
  #walk(): Walk {
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
}
