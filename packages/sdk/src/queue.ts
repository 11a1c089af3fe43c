/**
 * A bounded on-disk queue of sealed envelopes: nothing is lost while the
 * device is offline or the process dies.
 *
 * Layout: one directory, one JSON file per message, named
 * `<12-digit sequence>-<k|d>.json` so that a directory listing sorted by name
 * is the delivery order, and the `k`eep/`d`roppable class can be read without
 * opening the file. A message is written to a temporary file, fsynced, then
 * renamed into place, and the directory is fsynced: after a crash a message is
 * either wholly there or not there at all. Files are never rewritten, so a
 * retry sends the very same bytes (same eventId: the collector stores it once).
 *
 * Files hold what goes on the wire — the clear header (no personal data) and
 * the sealed payload — and, for a diagnostics batch, its events encrypted at
 * rest under the device's key (`at-rest.ts`), so that the device can split the
 * batch should a collector refuse its size. Nothing readable about the owner
 * is ever at rest here.
 *
 * One process owns a queue directory at a time; within a process, operations
 * on one `DiskQueue` object are serialised.
 */
import { mkdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Encrypted, isEncrypted } from "./at-rest.ts";
import type { Envelope } from "./envelope.ts";
import { SdkError } from "./errors.ts";
import { scanSequenced, syncDir, writeFileAtomic } from "./files.ts";

/** A message waiting in the queue. */
export interface QueuedMessage {
  /** Its file name without `.json`; order of ids is delivery order. */
  id: string;
  /** Collector path it is POSTed to, e.g. `/v1/activations`. */
  path: string;
  /** The sealed, signed envelope, exactly as it will be sent. */
  envelope: Envelope;
  /** Whether the queue may evict it to make room (best-effort data such as diagnostics). */
  droppable: boolean;
  /** When it was queued, RFC 3339 UTC. */
  enqueuedAt: string;
  /** Size of its file in bytes (counts against `maxBytes`). */
  bytes: number;
  /** How many events it carries: a diagnostics batch carries many, anything else one. */
  events: number;
  /** What was sealed, encrypted at rest by the caller (a diagnostics batch's events), if it was kept. */
  contents?: Encrypted;
}

/** How a message is queued. */
export interface EnqueueOptions {
  /** Whether the queue may evict it to make room; default false. */
  droppable?: boolean;
  /** How many events it carries; default 1. */
  events?: number;
  /** What was sealed, encrypted at rest, kept beside the envelope (never sent). */
  contents?: Encrypted;
  /** Id of a message not to evict to make room for this one (the batch it is split from). */
  spare?: string;
}

/** Bounds and hooks of a queue. */
export interface DiskQueueOptions {
  /** The queue directory; created (mode 0700) if missing. */
  dir: string;
  /** At most this many messages; default 1000. */
  maxMessages?: number;
  /** At most this many bytes of message files; default 8 MiB. */
  maxBytes?: number;
  /** Time source for `enqueuedAt`, epoch milliseconds; default `Date.now`. */
  now?: () => number;
  /** Called when a message file cannot be read; the file is renamed to `*.corrupt` and skipped. */
  onCorrupt?: (file: string, reason: string) => void;
}

/** What `enqueue` did. */
export interface EnqueueResult {
  message: QueuedMessage;
  /** Droppable messages evicted (oldest first) to make room. */
  evicted: QueuedMessage[];
}

/** Default bounds: generous for a phone, small enough never to matter for its storage. */
export const DEFAULT_MAX_MESSAGES = 1000;
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

const MESSAGE_FILE = /^(\d{12})-([kd])\.json$/;
// A message's target is a collector API path; never a URL (the host comes only from the home descriptor).
const TARGET_PATH = /^\/v1(\/[a-z0-9][a-z0-9_-]*)+$/;

interface Entry {
  id: string;
  file: string;
  seq: number;
  droppable: boolean;
  bytes: number;
}

/** The bounded, crash-safe, ordered message queue. */
export class DiskQueue {
  readonly dir: string;
  readonly maxMessages: number;
  readonly maxBytes: number;
  private readonly now: () => number;
  private readonly onCorrupt: ((file: string, reason: string) => void) | undefined;
  private ready: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: DiskQueueOptions) {
    this.dir = options.dir;
    this.maxMessages = options.maxMessages ?? DEFAULT_MAX_MESSAGES;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isInteger(this.maxMessages) || this.maxMessages < 1) {
      throw new SdkError("sdk.options_invalid", "queue maxMessages must be a positive integer");
    }
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1) {
      throw new SdkError("sdk.options_invalid", "queue maxBytes must be a positive integer");
    }
    this.now = options.now ?? Date.now;
    this.onCorrupt = options.onCorrupt;
  }

  /**
   * Durably appends a message. When the bounds are reached, the oldest droppable messages are evicted to
   * make room; if that is not enough, it refuses with `sdk.queue_full` and changes nothing.
   */
  enqueue(path: string, envelope: Envelope, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    return this.serialised(async () => {
      if (!TARGET_PATH.test(path)) {
        throw new SdkError(
          "sdk.queue_invalid",
          `target path ${JSON.stringify(path)} is not a collector path like /v1/...`,
        );
      }
      const droppable = options.droppable ?? false;
      const events = options.events ?? 1;
      if (!Number.isInteger(events) || events < 1) {
        throw new SdkError("sdk.queue_invalid", "a message carries a positive whole number of events");
      }
      const enqueuedAt = new Date(this.now()).toISOString();
      const { contents } = options;
      const body = `${JSON.stringify({ format: 1, path, enqueuedAt, events, envelope, contents })}\n`;
      const bytes = Buffer.byteLength(body);
      const entries = await this.scan();
      let count = entries.length;
      let total = entries.reduce((sum, e) => sum + e.bytes, 0);
      const victims: Entry[] = [];
      for (const e of entries) {
        if (count + 1 <= this.maxMessages && total + bytes <= this.maxBytes) break;
        if (!e.droppable || e.id === options.spare) continue;
        victims.push(e);
        count -= 1;
        total -= e.bytes;
      }
      if (count + 1 > this.maxMessages || total + bytes > this.maxBytes) {
        throw new SdkError(
          "sdk.queue_full",
          `queue ${this.dir} is full (${entries.length}/${this.maxMessages} messages, ` +
            `${total}+${bytes}/${this.maxBytes} bytes) and holds nothing that may be dropped`,
          { eventId: envelope.eventId },
        );
      }
      const evicted: QueuedMessage[] = [];
      for (const v of victims) {
        const m = await this.read(v);
        if (m !== undefined) evicted.push(m);
      }
      const last = entries.at(-1);
      const seq = (last === undefined ? 0 : last.seq) + 1;
      const id = `${String(seq).padStart(12, "0")}-${droppable ? "d" : "k"}`;
      // Write first: if the write fails (disk full), nothing was evicted for nothing.
      await writeFileAtomic(join(this.dir, `${id}.json`), body, 0o600);
      if (victims.length > 0) {
        for (const v of victims) await unlink(join(this.dir, v.file)).catch(ignoreMissing);
        await syncDir(this.dir);
      }
      const message: QueuedMessage = { id, path, envelope, droppable, enqueuedAt, bytes, events };
      if (contents !== undefined) message.contents = contents;
      return { message, evicted };
    });
  }

  /** All queued messages in delivery order. */
  list(): Promise<QueuedMessage[]> {
    return this.serialised(async () => {
      const out: QueuedMessage[] = [];
      for (const e of await this.scan()) {
        const m = await this.read(e);
        if (m !== undefined) out.push(m);
      }
      return out;
    });
  }

  /** Removes a delivered (or permanently refused) message; true if it was there. */
  remove(id: string): Promise<boolean> {
    return this.serialised(async () => {
      const entry = (await this.scan()).find((e) => e.id === id);
      if (entry === undefined) return false;
      await unlink(join(this.dir, entry.file)).catch(ignoreMissing);
      await syncDir(this.dir);
      return true;
    });
  }

  /** Number of messages and bytes queued. */
  stats(): Promise<{ messages: number; bytes: number }> {
    return this.serialised(async () => {
      const entries = await this.scan();
      return { messages: entries.length, bytes: entries.reduce((sum, e) => sum + e.bytes, 0) };
    });
  }

  // Operations run one after another, so a scan never races an enqueue of the same object.
  private serialised<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
        () => undefined,
        (err: unknown) => {
          this.ready = undefined; // let a later call try again (e.g. storage mounted late)
          throw err;
        },
      );
      await this.ready;
      return op();
    });
    this.tail = run.catch(() => {});
    return run;
  }

  private async scan(): Promise<Entry[]> {
    return (await scanSequenced(this.dir, MESSAGE_FILE)).map(({ id, file, seq, bytes, match }) => ({
      id,
      file,
      seq,
      bytes,
      droppable: match[2] === "d",
    }));
  }

  private async read(entry: Entry): Promise<QueuedMessage | undefined> {
    const path = join(this.dir, entry.file);
    let reason: string;
    try {
      const parsed: unknown = JSON.parse(await readFile(path, "utf8"));
      const message = toMessage(parsed, entry);
      if (message !== undefined) return message;
      reason = "not a queued message";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      reason = err instanceof Error ? err.message : String(err);
    }
    // Keep the bytes for a post-mortem, but out of the delivery order so one bad file cannot block the queue.
    await rename(path, `${path}.corrupt`).catch(ignoreMissing);
    this.onCorrupt?.(entry.file, reason);
    return undefined;
  }
}

function toMessage(value: unknown, entry: Entry): QueuedMessage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.format !== 1 || typeof v.path !== "string" || typeof v.enqueuedAt !== "string") return undefined;
  const env = v.envelope;
  if (typeof env !== "object" || env === null) return undefined;
  const e = env as Record<string, unknown>;
  const strings = ["collection", "eventId", "device", "region", "kid", "build", "sentAt", "enc", "ct", "sig"];
  if (strings.some((k) => typeof e[k] !== "string")) return undefined;
  if (typeof e.v !== "number" || typeof e.schemaVersion !== "number") return undefined;
  const message: QueuedMessage = {
    id: entry.id,
    path: v.path,
    envelope: env as Envelope,
    droppable: entry.droppable,
    enqueuedAt: v.enqueuedAt,
    bytes: entry.bytes,
    events: typeof v.events === "number" && Number.isInteger(v.events) && v.events >= 1 ? v.events : 1,
  };
  // Files written before batches kept their contents have none: such a batch cannot be split.
  if (isEncrypted(v.contents)) message.contents = v.contents;
  return message;
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
}
