/**
 * A capture file read as a stream through a bounded buffer, so that captures
 * larger than memory can be read. The readers parse records synchronously
 * from `buffer` between `pos` and the end, and ask for more with `fill(n)`
 * only when a record is incomplete. The buffer holds at most the unread part
 * of the current record plus the chunks read to complete it: one chunk
 * (1 MiB) in the common case, the largest record otherwise.
 *
 * Buffers are never written to once filled (a fill builds a new one), so a
 * view a reader took of an earlier buffer stays valid.
 */
import { createReadStream, type ReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { CaptureError } from "./errors.ts";

/** Bytes per read from the file. */
export const CHUNK_BYTES = 1 << 20;

/** Called after every chunk read: bytes read so far and the file's size. */
export type ProgressCallback = (bytesRead: number, totalBytes: number) => void;

/** The file behind a reader, its unread bytes, and how far the reading got. */
export class ByteSource {
  readonly path: string;
  readonly totalBytes: number;
  /** The bytes in hand; unread from `pos`. */
  buffer: Buffer = Buffer.alloc(0);
  pos = 0;
  /** File offset of `buffer[0]`. */
  bufferOffset = 0;
  bytesRead = 0;
  peakBufferBytes = 0;
  #stream: ReadStream;
  #chunks: AsyncIterator<Buffer>;
  #onProgress: ProgressCallback | undefined;

  constructor(path: string, totalBytes: number, onProgress?: ProgressCallback, chunkBytes = CHUNK_BYTES) {
    this.path = path;
    this.totalBytes = totalBytes;
    this.#onProgress = onProgress;
    this.#stream = createReadStream(path, { highWaterMark: chunkBytes });
    this.#chunks = this.#stream[Symbol.asyncIterator]();
  }

  /** Unread bytes in hand. */
  available(): number {
    return this.buffer.length - this.pos;
  }

  /** File offset of the next unread byte. */
  offset(): number {
    return this.bufferOffset + this.pos;
  }

  /** Marks `n` bytes as read. */
  skip(n: number): void {
    this.pos += n;
  }

  /** Reads until at least `n` unread bytes are in hand; false when the file ends first. */
  async fill(n: number): Promise<boolean> {
    if (this.available() >= n) return true;
    const parts = this.available() > 0 ? [this.buffer.subarray(this.pos)] : [];
    let have = this.available();
    while (have < n) {
      const chunk = await this.#nextChunk();
      if (!chunk) break;
      parts.push(chunk);
      have += chunk.length;
    }
    this.bufferOffset += this.pos;
    this.buffer = parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts, have);
    this.pos = 0;
    this.peakBufferBytes = Math.max(this.peakBufferBytes, this.buffer.length);
    return have >= n;
  }

  /** Reads at least one more chunk, doubling what is in hand so that a long record costs linear copying; false at the end. */
  async more(): Promise<boolean> {
    const before = this.available();
    await this.fill(Math.max(before * 2, before + 1));
    return this.available() > before;
  }

  /** Stops reading and releases the file. */
  close(): void {
    this.#stream.destroy();
  }

  async #nextChunk(): Promise<Buffer | undefined> {
    let result: IteratorResult<Buffer>;
    try {
      result = await this.#chunks.next();
    } catch (error) {
      throw new CaptureError("capture.unreadable", `${this.path} cannot be read: ${describe(error)}`, {
        cause: error,
      });
    }
    if (result.done) return undefined;
    this.bytesRead += result.value.length;
    this.#onProgress?.(this.bytesRead, this.totalBytes);
    return result.value;
  }
}

/** Opens `path` for reading; a missing or unreadable file is a CaptureError. */
export async function openSource(
  path: string,
  onProgress?: ProgressCallback,
  chunkBytes?: number,
): Promise<ByteSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error("not a regular file");
    size = info.size;
  } catch (error) {
    throw new CaptureError("capture.unreadable", `${path} cannot be read: ${describe(error)}`, {
      cause: error,
    });
  }
  return new ByteSource(path, size, onProgress, chunkBytes);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
