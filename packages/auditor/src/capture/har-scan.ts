/**
 * A HAR file split into its entries while it streams, so that a HAR larger
 * than memory can be read like a pcap: a small scanner follows the JSON's
 * structure (objects, arrays, strings, the keys of the first two levels)
 * without building it, and hands each element of `log.entries` to
 * JSON.parse on its own. Only the entry being read (and a string being
 * scanned) is held in the buffer; strings are skipped with indexOf, so the
 * bulk of a HAR (bodies) costs no per-byte work here.
 */
import { CaptureError } from "./errors.ts";
import { notACapture } from "./detect.ts";
import { MAX_RECORD_BYTES } from "./records.ts";
import type { ByteSource } from "./source.ts";

/** One entry of `log.entries`: its 1-based number, the byte it starts at, and its parsed JSON. */
export interface HarEntry {
  index: number;
  offset: number;
  value: unknown;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** The entries of a HAR, a batch per buffer's worth, in file order; `maxHeld` bounds what one entry or key may hold. */
export async function* harEntries(
  source: ByteSource,
  maxHeld = MAX_RECORD_BYTES,
): AsyncGenerator<HarEntry[]> {
  const scanner = new HarScanner(source.path, maxHeld);
  for (;;) {
    const batch: HarEntry[] = [];
    try {
      scanner.scan(source.buffer, source.bufferOffset, batch);
    } catch (error) {
      if (batch.length > 0) yield batch; // the entries complete before the bad one
      throw error;
    }
    source.skip(scanner.keepFrom() - source.offset());
    if (batch.length > 0) yield batch;
    if (scanner.closed() || !(await source.more())) break;
  }
  scanner.finish(source.bufferOffset + source.buffer.length);
}

/** The scanner's state between buffers; offsets are file offsets. */
class HarScanner {
  #path: string;
  /** Open containers, OPEN_OBJECT or OPEN_ARRAY, outermost first. */
  #stack: number[] = [];
  /** The latest key read in each open object of the first two levels. */
  #keys: (string | undefined)[] = [];
  #expectKey = false;
  #inString = false;
  #stringStart = 0;
  /** The string being scanned is a key of the first two levels, parsed (so held) whole. */
  #keyString = false;
  /** Where the trailing backslashes of a string not held start (they decide whether a quote at the next buffer's start is escaped). */
  #backslashesFrom = 0;
  #maxHeld: number;
  #cursor = 0;
  /** Where the entry being read starts, or -1 between entries. */
  #entryStart = -1;
  #entries = 0;
  #sawEntries = false;
  #rootClosed = false;

  constructor(path: string, maxHeld: number) {
    this.#path = path;
    this.#maxHeld = maxHeld;
  }

  /** Scans `buffer` (which starts at file offset `base`) from where the last scan stopped, adding complete entries to `found`. */
  scan(buffer: Buffer, base: number, found: HarEntry[]): void {
    let i = this.#cursor - base;
    while (i < buffer.length && !this.closed()) {
      if (this.#inString) {
        i = this.#skipString(buffer, base, i);
        continue;
      }
      const entry = this.#structure(buffer, base, i);
      if (entry) found.push(entry);
      i++;
    }
    this.#cursor = base + i;
    if (this.#inString && !this.#keyString) this.#backslashesFrom = base + trailingRun(buffer, i);
    if (this.#entryStart >= 0 && this.#cursor - this.#entryStart > this.#maxHeld) {
      throw new CaptureError(
        "capture.unreadable",
        `${this.#path}: HAR entry ${this.#entries + 1} at byte ${this.#entryStart} is larger than ${this.#maxHeld} bytes`,
      );
    }
    if (this.#cursor - this.keepFrom() > this.#maxHeld) {
      throw new CaptureError(
        "capture.unreadable",
        `${this.#path} is not valid HAR: more than ${mebibytes(this.#maxHeld)} in one value at byte ${this.keepFrom()}`,
      );
    }
  }

  /**
   * The first file offset still needed: the entry being read, a key being
   * read, or the trailing backslashes of another string (whose bytes are not
   * needed: a log.comment of any size is not held); else the cursor.
   */
  keepFrom(): number {
    let keep = this.#cursor;
    if (this.#entryStart >= 0) keep = Math.min(keep, this.#entryStart);
    if (this.#inString) keep = Math.min(keep, this.#keyString ? this.#stringStart : this.#backslashesFrom);
    return keep;
  }

  /** True once the top-level object has closed. */
  closed(): boolean {
    return this.#rootClosed;
  }

  /** At the end of the file: refuses JSON that was no HAR, or that stops short. */
  finish(fileEnd: number): void {
    if (!this.#sawEntries) throw notACapture(this.#path, "JSON without log.entries");
    if (this.#entryStart >= 0) {
      throw new CaptureError(
        "capture.truncated",
        `${this.#path} ends inside entry ${this.#entries + 1} at byte ${fileEnd} (the entry starts at byte ${this.#entryStart})`,
      );
    }
    if (this.#stack.length > 0) {
      throw new CaptureError(
        "capture.truncated",
        `${this.#path} ends at byte ${fileEnd} before its JSON closes`,
      );
    }
  }

  /** Finds the string's closing quote: a quote after an even run of backslashes. Returns where to go on. */
  #skipString(buffer: Buffer, base: number, from: number): number {
    const quote = buffer.indexOf(QUOTE, from);
    if (quote < 0) return buffer.length;
    let backslashes = 0;
    while (
      quote - backslashes - 1 > this.#stringStart - base &&
      buffer[quote - backslashes - 1] === BACKSLASH
    ) {
      backslashes++;
    }
    if (backslashes % 2 === 0) this.#endString(buffer, this.#stringStart - base, quote);
    return quote + 1;
  }

  #endString(buffer: Buffer, start: number, end: number): void {
    this.#inString = false;
    if (!this.#keyString) return;
    try {
      this.#keys[this.#stack.length - 1] = JSON.parse(buffer.toString("utf8", start, end + 1)) as string;
    } catch (error) {
      throw new CaptureError(
        "capture.unreadable",
        `${this.#path} is not valid HAR: ${(error as Error).message} at byte ${this.#stringStart}`,
        { cause: error },
      );
    }
  }

  /** True when a string starting now is a key of the first two levels (which names log and log.entries). */
  #isKey(): boolean {
    const depth = this.#stack.length;
    return this.#expectKey && depth <= 2 && this.#stack[depth - 1] === OPEN_OBJECT;
  }

  /** Follows one byte outside strings; returns the entry it completes, if any. */
  #structure(buffer: Buffer, base: number, i: number): HarEntry | undefined {
    const byte = buffer[i];
    if (byte === QUOTE) {
      this.#inString = true;
      this.#stringStart = base + i;
      this.#keyString = this.#isKey();
      this.#backslashesFrom = base + i + 1;
    } else if (byte === OPEN_OBJECT) {
      if (this.#atEntries()) this.#entryStart = base + i;
      this.#open(OPEN_OBJECT);
    } else if (byte === OPEN_ARRAY) {
      if (this.#stack.length === 2 && this.#keys[0] === "log" && this.#keys[1] === "entries")
        this.#sawEntries = true;
      this.#open(OPEN_ARRAY);
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      this.#close(byte === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY, base + i);
      if (byte === CLOSE_OBJECT && this.#entryStart >= 0 && this.#stack.length === 3) {
        return this.#entry(buffer, base, i + 1);
      }
    } else if (byte === COMMA) {
      this.#expectKey = this.#stack.at(-1) === OPEN_OBJECT;
    } else if (byte === COLON) {
      this.#expectKey = false;
    }
    return undefined;
  }

  /** True when an object opening now is an element of log.entries. */
  #atEntries(): boolean {
    const [root, log, entries] = this.#stack;
    return (
      this.#stack.length === 3 &&
      root === OPEN_OBJECT &&
      log === OPEN_OBJECT &&
      entries === OPEN_ARRAY &&
      this.#keys[0] === "log" &&
      this.#keys[1] === "entries"
    );
  }

  #open(container: number): void {
    this.#keys[this.#stack.length] = undefined;
    this.#stack.push(container);
    this.#expectKey = container === OPEN_OBJECT;
  }

  #close(container: number, offset: number): void {
    if (this.#stack.pop() !== container) {
      throw new CaptureError(
        "capture.unreadable",
        `${this.#path} is not valid JSON: unbalanced at byte ${offset}`,
      );
    }
    this.#expectKey = false;
    this.#rootClosed = this.#stack.length === 0;
  }

  #entry(buffer: Buffer, base: number, end: number): HarEntry {
    const offset = this.#entryStart;
    const index = ++this.#entries;
    this.#entryStart = -1;
    try {
      return { index, offset, value: JSON.parse(buffer.toString("utf8", offset - base, end)) };
    } catch (error) {
      throw new CaptureError(
        "capture.unreadable",
        `${this.#path}: HAR entry ${index} at byte ${offset} is not valid JSON (${(error as Error).message})`,
        { cause: error },
      );
    }
  }
}

/** Where the run of backslashes that ends `buffer` before `end` starts (`end` when there is none). */
function trailingRun(buffer: Buffer, end: number): number {
  let at = end;
  while (at > 0 && buffer[at - 1] === BACKSLASH) at--;
  return at;
}

function mebibytes(bytes: number): string {
  return bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${bytes} bytes`;
}
