/**
 * The held events: diagnostics recorded on the device and not yet sealed into
 * a batch — all of them while the owner's consent is unknown, and, once it is
 * granted, those recorded since the last flush.
 *
 * They cannot be sealed to the region key when recorded: a batch is one seal,
 * and the device could not open single seals again to batch them. So each
 * event is encrypted at rest (`at-rest.ts`: AES-256-GCM under a key derived
 * from the device's private key): a held file is no more readable than the
 * identity file next to it, and nothing about the owner lies in clear on disk.
 *
 * Layout: `<dir>/<12-digit sequence>.json`, one event per file, written like
 * the queue's (temp file, fsync, rename, fsync the directory), so a crash
 * leaves an event wholly there or not at all. Bounded by count and bytes; when
 * full, the oldest events are dropped to make room for the new one, and the
 * caller is told how many.
 */
import { mkdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { AtRest, isEncrypted } from "./at-rest.ts";
import { asDiagnosticsEvent, type DiagnosticsEvent } from "./diagnostics.ts";
import { SdkError } from "./errors.ts";
import { scanSequenced, syncDir, writeFileAtomic } from "./files.ts";

/** Default bound of held events: months of hourly figures. */
export const DEFAULT_HELD_MAX_EVENTS = 2000;
/** Default bound of held bytes (an event file is about 350 bytes). */
export const DEFAULT_HELD_MAX_BYTES = 1024 * 1024;
/** Smallest byte bound accepted: every valid event must fit on its own. */
export const MIN_HELD_MAX_BYTES = 4096;

/** Bounds and hooks of the held store. */
export interface HeldEventsOptions {
  /** Directory of the held events; created (mode 0700) if missing. */
  dir: string;
  /** The device's Ed25519 private key seed, base64url: the at-rest key is derived from it. */
  devicePrivateKey: string;
  /** At most this many events; default 2000. */
  maxEvents?: number;
  /** At most this many bytes of event files; default 1 MiB, at least 4096. */
  maxBytes?: number;
  /** Called when an event file cannot be read or opened; the file is renamed to `*.corrupt` and skipped. */
  onCorrupt?: (file: string, reason: string) => void;
}

/** A held event with its file id and size. */
export interface HeldEvent {
  /** File name without `.json`; id order is recording order. */
  id: string;
  event: DiagnosticsEvent;
  bytes: number;
}

/** Counts of events and bytes. */
export interface HeldCount {
  events: number;
  bytes: number;
}

const HELD_FILE = /^(\d{12})\.json$/;
// The role's key derivation and associated data, as held files have always been written.
const ROLE = { info: "held diagnostics events", aad: "phonehome/v1 held diagnostics event" };

interface Entry {
  id: string;
  file: string;
  seq: number;
  bytes: number;
}

/** The bounded, crash-safe, encrypted store of held diagnostics events. */
export class HeldEvents {
  readonly dir: string;
  readonly maxEvents: number;
  readonly maxBytes: number;
  private readonly cipher: AtRest;
  private readonly onCorrupt: ((file: string, reason: string) => void) | undefined;
  private ready: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: HeldEventsOptions) {
    this.dir = options.dir;
    this.maxEvents = options.maxEvents ?? DEFAULT_HELD_MAX_EVENTS;
    this.maxBytes = options.maxBytes ?? DEFAULT_HELD_MAX_BYTES;
    if (!Number.isInteger(this.maxEvents) || this.maxEvents < 1) {
      throw new SdkError("sdk.options_invalid", "diagnostics maxEvents must be a positive integer");
    }
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < MIN_HELD_MAX_BYTES) {
      throw new SdkError(
        "sdk.options_invalid",
        `diagnostics maxBytes must be an integer of at least ${MIN_HELD_MAX_BYTES}`,
      );
    }
    this.cipher = new AtRest(options.devicePrivateKey, ROLE);
    this.onCorrupt = options.onCorrupt;
  }

  /**
   * Durably adds an event. When a bound would be passed, the oldest held events are dropped first (written
   * first, dropped after: a failed write drops nothing); returns what was dropped.
   */
  add(event: DiagnosticsEvent): Promise<{ dropped: HeldCount }> {
    return this.serialised(async () => {
      const body = `${JSON.stringify({ format: 1, ...this.cipher.encrypt(event) })}\n`;
      const bytes = Buffer.byteLength(body);
      if (bytes > this.maxBytes) {
        throw new SdkError("sdk.event_invalid", `event of ${bytes} bytes exceeds maxBytes ${this.maxBytes}`);
      }
      const entries = await this.scan();
      let count = entries.length;
      let total = entries.reduce((sum, e) => sum + e.bytes, 0);
      const victims: Entry[] = [];
      for (const e of entries) {
        if (count + 1 <= this.maxEvents && total + bytes <= this.maxBytes) break;
        victims.push(e);
        count -= 1;
        total -= e.bytes;
      }
      const seq = (entries.at(-1)?.seq ?? 0) + 1;
      await writeFileAtomic(join(this.dir, `${String(seq).padStart(12, "0")}.json`), body, 0o600);
      if (victims.length > 0) {
        for (const v of victims) await unlink(join(this.dir, v.file)).catch(ignoreMissing);
        await syncDir(this.dir);
      }
      return { dropped: { events: victims.length, bytes: victims.reduce((sum, v) => sum + v.bytes, 0) } };
    });
  }

  /** The oldest `limit` events, in recording order (unreadable files are quarantined and skipped). */
  oldest(limit: number): Promise<HeldEvent[]> {
    return this.serialised(async () => {
      const out: HeldEvent[] = [];
      for (const e of await this.scan()) {
        if (out.length >= limit) break;
        const event = await this.read(e);
        if (event !== undefined) out.push({ id: e.id, event, bytes: e.bytes });
      }
      return out;
    });
  }

  /** Removes events by id (once they are sealed into a queued batch, or discarded). */
  remove(ids: readonly string[]): Promise<void> {
    return this.serialised(async () => {
      if (ids.length === 0) return;
      for (const id of ids) await unlink(join(this.dir, `${id}.json`)).catch(ignoreMissing);
      await syncDir(this.dir);
    });
  }

  /** Removes every held event; returns how many there were. */
  clear(): Promise<HeldCount> {
    return this.serialised(async () => {
      const entries = await this.scan();
      for (const e of entries) await unlink(join(this.dir, e.file)).catch(ignoreMissing);
      if (entries.length > 0) await syncDir(this.dir);
      return { events: entries.length, bytes: entries.reduce((sum, e) => sum + e.bytes, 0) };
    });
  }

  /** Number of events and bytes held. */
  stats(): Promise<HeldCount> {
    return this.serialised(async () => {
      const entries = await this.scan();
      return { events: entries.length, bytes: entries.reduce((sum, e) => sum + e.bytes, 0) };
    });
  }

  private decrypt(value: unknown): DiagnosticsEvent | undefined {
    if (typeof value !== "object" || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (v.format !== 1 || !isEncrypted(v)) return undefined;
    return asDiagnosticsEvent(this.cipher.decrypt(v));
  }

  private async read(entry: Entry): Promise<DiagnosticsEvent | undefined> {
    const path = join(this.dir, entry.file);
    let reason: string;
    try {
      const event = this.decrypt(JSON.parse(await readFile(path, "utf8")));
      if (event !== undefined) return event;
      reason = "not a held event";
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      // Includes a failed GCM tag: the file was changed, or written under another device key.
      reason = err instanceof Error ? err.message : String(err);
    }
    await rename(path, `${path}.corrupt`).catch(ignoreMissing);
    this.onCorrupt?.(entry.file, reason);
    return undefined;
  }

  private async scan(): Promise<Entry[]> {
    return (await scanSequenced(this.dir, HELD_FILE)).map(({ id, file, seq, bytes }) => ({
      id,
      file,
      seq,
      bytes,
    }));
  }

  // One operation at a time, so a scan never races an add on the same object.
  private serialised<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
        () => undefined,
        (err: unknown) => {
          this.ready = undefined;
          throw err;
        },
      );
      await this.ready;
      return op();
    });
    this.tail = run.catch(() => {});
    return run;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
}
