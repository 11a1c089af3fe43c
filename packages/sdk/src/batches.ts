/**
 * Diagnostics batches: the events held on a device, sealed into envelopes
 * sized to what the collector announced it takes, and kept encrypted at rest
 * beside a queued batch so that a batch refused for its size can be split
 * into smaller ones carrying the same events.
 */
import { AtRest, type Encrypted } from "./at-rest.ts";
import { asDiagnosticsEvent, type DiagnosticsEvent } from "./diagnostics.ts";
import type { Envelope } from "./envelope.ts";
import type { CollectorLimits } from "./region.ts";

/** A diagnostics batch sealed to fit, with its events encrypted at rest for the queue. */
export interface SealedBatch {
  envelope: Envelope;
  /** How many of the events offered it carries (the oldest ones). */
  count: number;
  contents: Encrypted;
}

/** What sealing batches needs from its client. */
export interface BatchOptions {
  /** The device's private key: the events at rest are encrypted under a key derived from it. */
  devicePrivateKey: string;
  /** The app's bound on events per batch. */
  batchSize: number;
  /** The limits the collector announced, once known. */
  limits: () => CollectorLimits | undefined;
  /** Seals a diagnostics payload to the home region, signed by the device. */
  seal: (payload: { events: readonly DiagnosticsEvent[] }) => Promise<Envelope>;
}

// The events of a queued batch, kept to split it: their own key derivation and associated data.
const BATCH_CONTENTS = { info: "queued diagnostics batches", aad: "phonehome/v1 queued diagnostics batch" };
// Most seals tried to fit one batch; each try shrinks it in proportion to how far it was over.
const MAX_FIT_TRIES = 8;

/** Seals, sizes, opens and splits diagnostics batches. */
export class DiagnosticsBatches {
  private readonly contents: AtRest;
  private readonly options: BatchOptions;

  constructor(options: BatchOptions) {
    this.options = options;
    this.contents = new AtRest(options.devicePrivateKey, BATCH_CONTENTS);
  }

  /** The most events a batch may carry: the app's bound, and the collector's when it announces one. */
  maxEvents(): number {
    const { batchSize } = this.options;
    return Math.min(batchSize, this.options.limits()?.maxDiagnosticsEvents ?? batchSize);
  }

  /**
   * Seals the oldest of `events` into one diagnostics batch whose envelope, as it would be sent, fits the
   * collector's largest body: fewer events each try, in proportion to how far over it was. One event that
   * does not fit alone is sealed all the same, to be kept and reported rather than block the events behind it.
   */
  async sealFitting(events: readonly DiagnosticsEvent[]): Promise<SealedBatch> {
    const limit = this.options.limits()?.maxBodyBytes;
    let count = events.length;
    for (let tries = 1; ; tries++) {
      const batch = await this.seal(events.slice(0, count));
      const bytes = Buffer.byteLength(JSON.stringify(batch.envelope));
      if (limit === undefined || bytes <= limit || count === 1) return batch;
      const proportional = Math.floor((count * limit) / bytes);
      // Past MAX_FIT_TRIES by halves, which reach one event soon enough.
      count = Math.max(1, tries < MAX_FIT_TRIES ? Math.min(count - 1, proportional) : Math.floor(count / 2));
    }
  }

  /** Seals `events` as one diagnostics batch, and encrypts them at rest for the queue, bound to its event id. */
  async seal(events: readonly DiagnosticsEvent[]): Promise<SealedBatch> {
    const envelope = await this.options.seal({ events });
    return { envelope, count: events.length, contents: this.contents.encrypt(events, envelope.eventId) };
  }

  /**
   * The smaller batches the events of a batch go into, in their order: after a 413 (`refused`) two
   * halves; against the announced limits (`limits`) batches sealed to fit.
   */
  async split(events: readonly DiagnosticsEvent[], reason: "refused" | "limits"): Promise<SealedBatch[]> {
    const parts: SealedBatch[] = [];
    if (reason === "refused") {
      const half = Math.ceil(events.length / 2);
      parts.push(await this.seal(events.slice(0, half)), await this.seal(events.slice(half)));
      return parts;
    }
    for (let from = 0; from < events.length;) {
      const part = await this.sealFitting(events.slice(from, from + this.maxEvents()));
      parts.push(part);
      from += part.count;
    }
    return parts;
  }

  /** The events a queued batch carries, from its contents kept at rest; undefined when unreadable. */
  open(contents: Encrypted, eventId: string): DiagnosticsEvent[] | undefined {
    try {
      const value = this.contents.decrypt(contents, eventId);
      if (!Array.isArray(value)) return undefined;
      const events = value.map(asDiagnosticsEvent);
      return events.every((e) => e !== undefined) ? (events as DiagnosticsEvent[]) : undefined;
    } catch {
      // Changed on disk, or written under another device key: the batch goes as it is, or not at all.
      return undefined;
    }
  }
}
