/**
 * readPackets and readFlows: a capture file, detected by content, streamed
 * through a bounded buffer and decoded in batches (one per buffer's worth of
 * records), so that the per-packet cost is synchronous parsing; the async
 * machinery runs once per batch. A file that ends inside a record yields
 * every complete packet (and, for readFlows, every flow assembled from them)
 * before the `capture.truncated` error; a corrupt one likewise before
 * `capture.unreadable`.
 */
import { PacketDecoder } from "./decode.ts";
import { detectFormat, SNIFF_BYTES } from "./detect.ts";
import { isCaptureError } from "./errors.ts";
import { exchangeFlow, exchangePacketCount, exchangePackets, harExchange, type HarExchange } from "./har.ts";
import { harEntries } from "./har-scan.ts";
import { pcapPackets } from "./pcap.ts";
import { pcapngPackets } from "./pcapng.ts";
import { type AssemblerOptions, type AssemblerStats, FlowAssembler } from "./reassembly.ts";
import { type ByteSource, openSource, type ProgressCallback } from "./source.ts";
import { type CaptureStats, emptyStats } from "./stats.ts";
import type { Flow, Packet } from "../types.ts";

/** How to read a capture. */
export interface ReadOptions {
  /** Called after every chunk read with the bytes read so far and the file's size; the last call has them equal. */
  onProgress?: ProgressCallback;
  /** Bytes per read (default 1 MiB); the read buffer holds about one chunk beyond the record being read. */
  chunkBytes?: number;
}

/** The packets of a capture, with the counters of what was skipped. */
export interface PacketStream extends AsyncIterable<Packet> {
  readonly stats: CaptureStats;
}

/** The flows of a capture, with the counters of the reading and of the assembly. */
export interface FlowStream extends AsyncIterable<Flow> {
  readonly stats: CaptureStats;
  readonly assembly: AssemblerStats;
}

/** A batch from a capture: decoded packets, or HAR exchanges (which become packets or flows directly). */
type Batch = { packets: Packet[] } | { exchanges: HarExchange[] };

/**
 * Detects pcap (both byte orders, micro- and nanosecond magic), pcapng (any
 * byte order, several sections and interfaces, each with its link type and
 * if_tsresol) or HAR (JSON with log.entries) by content, not by file name,
 * and yields its packets in capture order, reading the file as a stream.
 * Not a capture: CaptureError("capture.unreadable"); cut off inside a record:
 * every complete packet, then CaptureError("capture.truncated"); a corrupt
 * length: CaptureError("capture.unreadable") naming the byte offset.
 */
export function readPackets(path: string, options: ReadOptions = {}): PacketStream {
  const stats = emptyStats();
  return {
    stats,
    async *[Symbol.asyncIterator]() {
      for await (const batch of readBatches(path, options, stats)) {
        yield* "packets" in batch ? batch.packets : batch.exchanges.flatMap(exchangePackets);
      }
    },
  };
}

/**
 * readPackets through a FlowAssembler: flows as they complete, then the rest
 * at the end. HAR entries become flows directly. When reading fails part way
 * (a truncated or corrupt file), the flows assembled so far are yielded
 * before the error.
 */
export function readFlows(path: string, options: ReadOptions & AssemblerOptions = {}): FlowStream {
  const stats = emptyStats();
  let assembler = new FlowAssembler(options);
  return {
    stats,
    get assembly() {
      return assembler.stats;
    },
    async *[Symbol.asyncIterator]() {
      assembler = new FlowAssembler(options);
      try {
        for await (const batch of readBatches(path, options, stats)) {
          yield* "packets" in batch
            ? batch.packets.flatMap((p) => assembler.push(p))
            : batch.exchanges.map(exchangeFlow);
        }
      } catch (error) {
        if (isCaptureError(error)) yield* assembler.finish();
        throw error;
      }
      yield* assembler.finish();
    },
  };
}

async function* readBatches(path: string, options: ReadOptions, stats: CaptureStats): AsyncGenerator<Batch> {
  Object.assign(stats, emptyStats()); // a stream iterated again counts afresh
  const source = await openSource(path, options.onProgress, options.chunkBytes);
  try {
    await source.fill(SNIFF_BYTES);
    const format = detectFormat(source.buffer.subarray(source.pos, source.pos + SNIFF_BYTES), path);
    stats.format = format;
    if (format === "har") {
      yield* harBatches(source, stats);
    } else {
      const decoder = new PacketDecoder(stats);
      const decode = decoder.decode.bind(decoder);
      const batches = format === "pcap" ? pcapPackets(source, decode) : pcapngPackets(source, decode);
      for await (const packets of batches) yield { packets };
    }
    await drain(source);
  } finally {
    stats.peakBufferBytes = source.peakBufferBytes;
    source.close();
  }
}

async function* harBatches(source: ByteSource, stats: CaptureStats): AsyncGenerator<Batch> {
  for await (const entries of harEntries(source)) {
    const exchanges: HarExchange[] = [];
    for (const entry of entries) {
      stats.records++;
      const exchange = harExchange(entry.value, entry.index);
      if (exchange) exchanges.push(exchange);
      else stats.skippedEntries++;
    }
    stats.packets += exchanges.reduce((sum, x) => sum + exchangePacketCount(x), 0);
    yield { exchanges };
  }
}

/** Reads what is left after the last record (a HAR's closing brackets) so that progress reaches the total. */
async function drain(source: ByteSource): Promise<void> {
  source.skip(source.available());
  while (await source.more()) source.skip(source.available());
}
