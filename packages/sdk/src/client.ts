/**
 * `PhoneHomeClient`: seals, queues and delivers a device's messages to the
 * collector of its home region, and to nothing else.
 *
 * Order of things, and why:
 * 1. The home URL is checked for transport security when the client is built,
 *    so an `http://` non-loopback descriptor fails before any request.
 * 2. A payload is sealed (HPKE to the home region key) and signed as soon as it
 *    is created, then written to the on-disk queue: from then on only ciphertext
 *    exists, on disk and on the wire.
 * 3. Before the first POST of a process, `GET /v1/region` must announce the
 *    home region and key; otherwise nothing is POSTed at all.
 * 4. Messages are delivered in queue order; a message leaves the queue only
 *    when the collector acknowledged it (2xx, sent after its commit) or refused
 *    it for good (4xx). A retry resends the same envelope, so the collector
 *    stores it once. A refusal for size (413) is not for good: a diagnostics
 *    batch is split into smaller ones carrying the same events (same event
 *    ids), and a message too large on its own stays queued and is reported.
 * 5. Diagnostics events are held on the device (encrypted at rest, see
 *    `held.ts`) and sealed into batches only while the owner's consent is
 *    `granted`, at flush time; a no discards them. Whether a batch may leave is
 *    checked again right before every POST of it, so a no given during a
 *    flush stops the next send.
 * 6. A batch is sized to the limits the collector announces at `GET /v1/region`
 *    (most events, largest body): the SDK measures the envelope it would send
 *    and seals fewer events until it fits, so it is not refused for its size.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ENVELOPE_FORMAT,
  type Envelope,
  type EnvelopeHeader,
  ed25519PrivateKey,
  sealEnvelope,
} from "./envelope.ts";
import { AtRest, type Encrypted } from "./at-rest.ts";
import {
  asDiagnosticsEvent,
  assertConsentState,
  type ConsentRecord,
  type ConsentState,
  DIAGNOSTICS_COLLECTION,
  DIAGNOSTICS_PATH,
  DIAGNOSTICS_SCHEMA_VERSION,
  type DiagnosticsData,
  type DiagnosticsEvent,
  MAX_BATCH_EVENTS,
  readConsent,
  validateDiagnosticsEvent,
  writeConsent,
} from "./diagnostics.ts";
import { isSdkError, SdkError, type ServerError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import { type HeldCount, HeldEvents } from "./held.ts";
import { type DeviceIdentity, validateIdentity } from "./identity.ts";
import { mintOwnerToken } from "./owner-token.ts";
import { DiskQueue, type EnqueueOptions, type QueuedMessage } from "./queue.ts";
import { assertSecureTransport, checkEndpoint, type RegionAnnouncement } from "./region.ts";

/** The path activations are POSTed to. */
export const ACTIVATIONS_PATH = "/v1/activations";
/** The path a collector announces its region at. */
export const REGION_PATH = "/v1/region";
/** Where a device asks for an update, and the collection it asks with. */
export const UPDATE_CHECK_PATH = "/v1/updates/check";
const UPDATE_CHECK = "update.check";
/** Where a device reports an install, and the collection it reports with. */
export const UPDATE_REPORT_PATH = "/v1/updates/report";
const UPDATE_REPORT = "update.report";

/** The home region's answer to an update check. */
export interface UpdateAnswer {
  /** The build to install, or null. */
  update: { build: string; lineage: string } | null;
  /** Why: `newer build`, `up to date`, `not in the rollout yet`, `unknown build`, ... */
  reason: string;
  /** Notices of incidents this answer brought that the device did not have yet: show them to the owner. */
  notices: IncidentNotice[];
}

/** A notice of an incident, from the maker to the owner, kept on the device once received. */
export interface IncidentNotice {
  id: string;
  incident: string;
  title: string;
  body: string;
  sentAt: string;
  receivedAt: string;
}

/** Name of the file, in the queue directory, that keeps the notices of incidents the device received. */
export const NOTICES_FILE = "notices.json";
/** Name of the marker file, in the queue directory, that records an acknowledged activation. */
export const ACTIVATION_MARKER = "activated.json";
/** Subdirectory of the queue directory that holds diagnostics events not yet sealed into a batch. */
export const HELD_DIR = "held";
/** Events per diagnostics envelope unless configured otherwise. */
export const DEFAULT_BATCH_EVENTS = 100;

/** The subset of `fetch` the client uses; the global `fetch` fits. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Time, injectable so tests need not wait. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** Exponential backoff with full jitter: the n-th retry waits `random() * min(maxMs, baseMs * 2^n)`. */
export interface RetryOptions {
  baseMs: number;
  maxMs: number;
  /** Attempts per message within one `flush()` before it gives up for now; default 5. */
  maxAttempts?: number;
}

/** How to build a client. */
export interface PhoneHomeClientOptions {
  identity: DeviceIdentity;
  /** Directory of the on-disk queue, the activation marker, the consent state and the held events; created if missing. */
  queueDir: string;
  retry: RetryOptions;
  /** Bounds of the queue; see `DiskQueue`. */
  queue?: { maxMessages?: number; maxBytes?: number };
  fetch?: FetchLike;
  clock?: Clock;
  /** Uniform in [0, 1); the jitter source. Default `Math.random` (jitter needs spread, not secrecy). */
  random?: () => number;
  /** Per-request timeout in milliseconds; default 15000. A timeout counts as a network error. */
  requestTimeoutMs?: number;
  /** Observer of what the client does; an exception thrown here is ignored. */
  onEvent?: (event: ClientEvent) => void;
  /** Diagnostics: bounds of the held events and the events per envelope; see `recordEvent`. */
  diagnostics?: DiagnosticsOptions;
}

/** Bounds of the diagnostics events held on the device, and the size of the batches sent. */
export interface DiagnosticsOptions {
  /** At most this many held events; when full, the oldest are dropped. Default 2000. */
  maxEvents?: number;
  /** At most this many bytes of held event files (about 350 bytes each); default 1 MiB, at least 4096. */
  maxBytes?: number;
  /**
   * Most events per envelope, 1..500; default 100. An upper bound: batches are made smaller to fit the
   * limits the collector announces (its largest body, its most events per batch).
   */
  batchSize?: number;
}

/** Everything the client reports to `onEvent`. */
export type ClientEvent =
  | { type: "endpoint_verified"; url: string; region: string; kid: string }
  | { type: "endpoint_refused"; url: string; error: SdkError }
  | { type: "queued"; eventId: string; collection: string; path: string; events: number }
  | { type: "evicted"; eventId: string; collection: string; path: string; events: number }
  | { type: "delivered"; eventId: string; collection: string; path: string; status: number; events: number }
  | { type: "retry"; eventId: string; attempt: number; delayMs: number; reason: string }
  | { type: "rejected"; eventId: string; collection: string; path: string; error: SdkError }
  | { type: "deferred"; eventId: string; remaining: number; reason: string }
  | { type: "corrupt"; file: string; reason: string }
  /** Held diagnostics events dropped, oldest first, to make room for a new one (the held bounds). */
  | { type: "dropped"; events: number; bytes: number; reason: "held_full" }
  /** Diagnostics events (held, and in queued batches) discarded because the owner said no. */
  | { type: "discarded"; events: number; reason: "refused" | "withdrawn" }
  /**
   * The collector answered `consent.required` to a batch while the device believed `granted`: the batch stays
   * on the device, and the consent state went back to `unknown` until the owner's decision is set again.
   */
  | { type: "consent_required"; eventId: string; events: number }
  /** A notice of an incident arrived with an update check's answer, and is kept (see `notices()`). */
  | { type: "notice"; id: string; incident: string }
  /**
   * A queued diagnostics batch was replaced by `parts` smaller batches carrying the same events (same event
   * ids), because the collector refused its size (`refused`, a 413) or it exceeds the limits the collector
   * announces (`limits`).
   */
  | { type: "split"; eventId: string; events: number; parts: number; reason: "refused" | "limits" }
  /**
   * A message is too large for the collector even on its own (a batch of one event, or a message that cannot
   * be split): it stays queued, is not sent while it exceeds the announced limits, and is tried again by
   * later flushes (the collector's limit may rise). `error` is `sdk.too_large`.
   */
  | {
      type: "too_large";
      eventId: string;
      collection: string;
      path: string;
      events: number;
      bytes: number;
      error: SdkError;
    };

/** What one `flush()` did. */
export interface FlushResult {
  /** Messages acknowledged and removed. */
  delivered: number;
  /** Messages refused for good and removed. */
  rejected: number;
  /** Messages still queued (a later flush retries them). */
  remaining: number;
}

/** The collector's answer to an activation; loosely typed because the SDK does not interpret it. */
export interface ActivationAnswer {
  activation?: {
    eventId?: string;
    activatedAt?: string;
    warrantyUntil?: string;
    region?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Where the device stands with its activation, as known locally. */
export type ActivationState =
  | { state: "activated"; eventId: string; acknowledgedAt: string; answer: ActivationAnswer }
  | { state: "pending"; eventId: string; enqueuedAt: string }
  | { state: "not_activated" };

/** The `activation` collection, version 1: what a warranty needs and nothing more. */
export interface ActivationPayloadV1 {
  serial: string;
  model: string;
  variant: string;
  market: string;
  build: string;
  /** RFC 3339 UTC. */
  activatedAt: string;
}

/** What `recordEvent` did with an event. */
export type RecordResult =
  /** Kept on the device until consent is granted and a flush sends it; `dropped` older events made room. */
  | { status: "held"; id: string; at: string; dropped: number }
  /** The owner said no: nothing was kept. */
  | { status: "discarded"; reason: "refused" | "withdrawn" };

/** What `setConsent` did. */
export interface ConsentChange {
  state: ConsentState;
  /** Diagnostics events discarded (held ones and those in queued batches); 0 unless the state is a no. */
  discarded: number;
}

/** Where diagnostics stand on the device. */
export interface DiagnosticsState {
  consent: ConsentRecord;
  /** Events recorded and not yet sealed into a batch. */
  held: HeldCount;
  /** Sealed batches waiting in the queue, and the events in them. */
  queued: { batches: number; events: number };
}

/** The owner's decision as the region records it (`PUT /v1/owner/consents/uep.diagnostics`). */
export interface ConsentDecision {
  /** Yes (true) or no (false); a no after a yes withdraws, and the region erases what the yes allowed. */
  granted: boolean;
  /** Version of the notice shown to the owner. */
  noticeVersion: number;
  /** Language of the notice shown, a BCP 47 tag such as `en` or `nb`. */
  language: string;
  /** Where the owner decided. */
  method: "device-settings" | "setup-wizard" | "portal";
}

/** The region's answer to a consent decision: its signed consent receipt; not interpreted by the SDK. */
export type ConsentReceipt = Record<string, unknown>;

type Outcome =
  | { kind: "delivered"; answer: unknown }
  | { kind: "rejected"; error: SdkError }
  /** Still queued, for a reason waiting will not change by itself (too large). */
  | { kind: "kept"; error: SdkError };

type Exchange =
  | { kind: "ok"; status: number; answer: unknown }
  | { kind: "refused"; server: ServerError }
  | { kind: "transient"; reason: string; retryAfterMs: number | undefined };

type Attempt =
  | { kind: "delivered"; status: number; answer: unknown }
  | { kind: "rejected"; error: SdkError }
  | { kind: "transient"; reason: string; retryAfterMs: number | undefined }
  /** Refused for its size (413), or not sent because it exceeds the limits the collector announces. */
  | { kind: "too_large"; reason: "refused" | "limits"; server?: ServerError };

/** A diagnostics batch sealed to fit, with its events encrypted at rest for the queue. */
interface SealedBatch {
  envelope: Envelope;
  /** How many of the events offered it carries (the oldest ones). */
  count: number;
  contents: Encrypted;
}

const DEFAULT_ATTEMPTS = 5;
const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$/;
const CONSENT_METHODS: readonly string[] = ["device-settings", "setup-wizard", "portal"];
const DEFAULT_TIMEOUT_MS = 15_000;
// Outcomes are remembered so a waiting `activate()` learns what a (possibly concurrent) flush did.
const OUTCOMES_KEPT = 256;
// The events of a queued batch, kept to split it: their own key derivation and associated data.
const BATCH_CONTENTS = { info: "queued diagnostics batches", aad: "phonehome/v1 queued diagnostics batch" };
// Most seals tried to fit one batch; each try shrinks it in proportion to how far it was over.
const MAX_FIT_TRIES = 8;

const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** Delivers a device's sealed messages to its home region, with a durable queue and retries. */
export class PhoneHomeClient {
  readonly identity: DeviceIdentity;
  readonly queue: DiskQueue;
  private readonly queueDir: string;
  private readonly baseUrl: string;
  private readonly signingKey: ReturnType<typeof ed25519PrivateKey>;
  private readonly retry: Required<RetryOptions>;
  private readonly fetchFn: FetchLike;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly onEvent: ((event: ClientEvent) => void) | undefined;
  private readonly outcomes = new Map<string, Outcome>();
  private readonly held: HeldEvents;
  private readonly batchSize: number;
  private readonly batchContents: AtRest;
  private endpoint: RegionAnnouncement | undefined;
  private lockTail: Promise<unknown> = Promise.resolve();
  // The consent state as persisted; changed only under the events lock. Undefined until first read.
  private consent: ConsentRecord | undefined;
  // `setConsent` calls not yet persisted: while any is pending, no diagnostics batch is sent.
  private consentCallsPending = 0;
  // Held events, the consent file and batch sealing change one at a time (the network is not in this lock).
  private eventsTail: Promise<unknown> = Promise.resolve();
  // The notices file changes one answer at a time.
  private noticesTail: Promise<unknown> = Promise.resolve();

  constructor(options: PhoneHomeClientOptions) {
    this.identity = Object.freeze({ ...validateIdentity(options.identity) });
    // Refuse an insecure home before anything else can happen; the descriptor is the only endpoint there is.
    assertSecureTransport(this.identity.home.url);
    this.baseUrl = this.identity.home.url.replace(/\/+$/, "");
    this.signingKey = ed25519PrivateKey(this.identity.privateKey, this.identity.publicKey);
    const { baseMs, maxMs } = options.retry;
    const maxAttempts = options.retry.maxAttempts ?? DEFAULT_ATTEMPTS;
    if (!(Number.isFinite(baseMs) && baseMs >= 0 && Number.isFinite(maxMs) && maxMs >= baseMs)) {
      throw new SdkError("sdk.options_invalid", "retry needs 0 <= baseMs <= maxMs (milliseconds)");
    }
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new SdkError("sdk.options_invalid", "retry.maxAttempts must be a positive integer");
    }
    this.retry = { baseMs, maxMs, maxAttempts };
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(Number.isFinite(this.timeoutMs) && this.timeoutMs > 0)) {
      throw new SdkError("sdk.options_invalid", "requestTimeoutMs must be a positive number");
    }
    if (typeof options.queueDir !== "string" || options.queueDir === "") {
      throw new SdkError("sdk.options_invalid", "queueDir must be a directory path");
    }
    this.queueDir = options.queueDir;
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onEvent = options.onEvent;
    this.queue = new DiskQueue({
      dir: options.queueDir,
      maxMessages: options.queue?.maxMessages,
      maxBytes: options.queue?.maxBytes,
      now: () => this.clock.now(),
      onCorrupt: (file, reason) => this.emit({ type: "corrupt", file, reason }),
    });
    this.batchSize = options.diagnostics?.batchSize ?? DEFAULT_BATCH_EVENTS;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > MAX_BATCH_EVENTS) {
      throw new SdkError("sdk.options_invalid", `diagnostics.batchSize must be 1..${MAX_BATCH_EVENTS}`);
    }
    this.batchContents = new AtRest(this.identity.privateKey, BATCH_CONTENTS);
    this.held = new HeldEvents({
      dir: join(options.queueDir, HELD_DIR),
      devicePrivateKey: this.identity.privateKey,
      maxEvents: options.diagnostics?.maxEvents,
      maxBytes: options.diagnostics?.maxBytes,
      onCorrupt: (file, reason) => this.emit({ type: "corrupt", file: `${HELD_DIR}/${file}`, reason }),
    });
  }

  /**
   * Activates the warranty: seals the `activation` v1 payload, queues it durably, and flushes. Resolves with
   * the collector's answer once acknowledged; rejects with `sdk.rejected` (refused for good, dropped from the
   * queue), `sdk.offline` (still queued; a later `flush()` delivers it), `sdk.queue_full`, or an endpoint
   * refusal (still queued, nothing sent). An activation already waiting in the queue is reused, not duplicated.
   */
  async activate(now?: Date): Promise<ActivationAnswer> {
    const eventId = await this.locked(async () => {
      const pending = await this.pendingActivation();
      if (pending !== undefined) return pending.envelope.eventId;
      const at = now ?? new Date(this.clock.now());
      const payload: ActivationPayloadV1 = {
        serial: this.identity.serial,
        model: this.identity.model,
        variant: this.identity.variant,
        market: this.identity.market,
        build: this.identity.build,
        activatedAt: at.toISOString(),
      };
      return this.enqueueSealed("activation", 1, ACTIVATIONS_PATH, payload, false);
    });
    await this.flush();
    const outcome = this.outcomes.get(eventId);
    if (outcome?.kind === "delivered") return asActivationAnswer(outcome.answer);
    if (outcome?.kind === "rejected" || outcome?.kind === "kept") throw outcome.error;
    // Delivered by an earlier flush that this process no longer remembers (e.g. many flushes ago)?
    const state = await this.activationState();
    if (state.state === "activated" && state.eventId === eventId) return state.answer;
    throw new SdkError("sdk.offline", "the collector could not be reached; the activation stays queued", {
      eventId,
      queued: true,
    });
  }

  /** What is known locally about the activation: acknowledged (marker file), waiting in the queue, or neither. */
  async activationState(): Promise<ActivationState> {
    const marker = await this.readMarker();
    if (marker !== undefined) return marker;
    const pending = await this.pendingActivation();
    if (pending !== undefined) {
      return { state: "pending", eventId: pending.envelope.eventId, enqueuedAt: pending.enqueuedAt };
    }
    return { state: "not_activated" };
  }

  /**
   * Delivers queued messages in order, then — while consent is `granted` — seals the held diagnostics events
   * into batches of at most `batchSize` that fit the collector's announced limits (oldest first, original
   * times) and delivers those. A batch the collector refuses for its size is split, never dropped. Verifies
   * the endpoint first (once per client, again after a 413). Transient failures are retried with backoff up
   * to `retry.maxAttempts` per message, then the flush resolves with messages left queued (and events left
   * held). Rejects only when the endpoint is refused (nothing is sent then) or the disk fails.
   */
  flush(): Promise<FlushResult> {
    return this.locked(async () => {
      await this.loadConsent();
      // Messages left queued on purpose for the rest of this flush (no consent, too large on their own), by
      // event id: a queue id is used again once its message is gone.
      const setAside = new Set<string>();
      let round = await this.deliverAll(setAside);
      let { delivered, rejected } = round;
      // One batch at a time: events stay in the held store (bounded, dropping oldest) rather than piling up
      // as sealed batches while the collector is unreachable. The limits a batch must fit come with the
      // region check, so it is made before the first seal.
      while (!round.deferred && (await this.readyToSeal()) && (await this.sealNextBatch())) {
        round = await this.deliverAll(setAside);
        delivered += round.delivered;
        rejected += round.rejected;
      }
      return { delivered, rejected, remaining: (await this.queue.stats()).messages };
    });
  }

  /**
   * Records a `uep.diagnostics` event with a fresh UUID and its original time `at` (default: now), checked
   * against the collection's fields (`sdk.event_invalid` otherwise). Unless the owner said no, it is held on the
   * device (encrypted, bounded: the oldest held events are dropped to make room, reported by a `dropped`
   * event) until consent is `granted` and a `flush()` sends it. After a no it is discarded at once.
   * Touches no network.
   */
  async recordEvent(data: DiagnosticsData, at?: Date): Promise<RecordResult> {
    const now = this.clock.now();
    const event = validateDiagnosticsEvent(randomUUID(), data, at ?? new Date(now), now, this.identity.build);
    return this.eventsLocked(async (): Promise<RecordResult> => {
      const consent = await this.loadConsent();
      if (consent.state === "refused" || consent.state === "withdrawn") {
        return { status: "discarded", reason: consent.state };
      }
      const { dropped } = await this.held.add(event);
      if (dropped.events > 0) {
        this.emit({ type: "dropped", events: dropped.events, bytes: dropped.bytes, reason: "held_full" });
      }
      return { status: "held", id: event.id, at: event.at, dropped: dropped.events };
    });
  }

  /**
   * Records the owner's decision on the device (durably, in `consent.json`). `granted` lets the next `flush()`
   * send the held events; `unknown` holds them again; `refused` and `withdrawn` discard every held event and
   * every queued diagnostics batch (reported by a `discarded` event and in the result) and discard later
   * events as they are recorded. From the moment it is called, no further diagnostics POST begins until it
   * has resolved. Touches no network: telling the region is `sendConsent`'s job.
   */
  async setConsent(state: ConsentState): Promise<ConsentChange> {
    assertConsentState(state);
    const record: ConsentRecord = {
      state,
      changedAt: new Date(this.clock.now()).toISOString(),
      cause: "owner",
    };
    // Counted before waiting for the lock: a flush in progress checks it before every diagnostics POST.
    this.consentCallsPending += 1;
    try {
      return await this.eventsLocked(async () => {
        await mkdir(this.queueDir, { recursive: true, mode: 0o700 });
        await writeConsent(this.queueDir, record);
        this.consent = record;
        if (state !== "refused" && state !== "withdrawn") return { state, discarded: 0 };
        const discarded = await this.discardDiagnostics();
        if (discarded > 0) this.emit({ type: "discarded", events: discarded, reason: state });
        return { state, discarded };
      });
    } finally {
      this.consentCallsPending -= 1;
    }
  }

  /** The consent state as the device knows it, the events held, and the sealed batches waiting. */
  async diagnosticsState(): Promise<DiagnosticsState> {
    const consent = await this.loadConsent();
    const held = await this.held.stats();
    const batches = (await this.queue.list()).filter((m) => m.path === DIAGNOSTICS_PATH);
    return {
      consent: { ...consent },
      held,
      queued: { batches: batches.length, events: batches.reduce((sum, m) => sum + m.events, 0) },
    };
  }

  /**
   * Tells the home region the owner's decision on `uep.diagnostics`: `PUT /v1/owner/consents/uep.diagnostics`
   * with a freshly minted owner token, through the same endpoint check as every delivery, with retries. Resolves
   * with the region's signed consent receipt; rejects with `sdk.rejected` (e.g. `consent.notice_outdated`),
   * `sdk.offline` (nothing is queued: ask again later), `sdk.options_invalid` or an endpoint refusal. It does
   * not change the local state: call `setConsent` too (for a no, first; for a yes, after this resolves).
   */
  async sendConsent(decision: ConsentDecision): Promise<ConsentReceipt> {
    const body = JSON.stringify(validateDecision(decision));
    const path = `/v1/owner/consents/${DIAGNOSTICS_COLLECTION}`;
    // A token per attempt: it is short-lived, and a retry may come minutes later.
    const answer = await this.requestNow("PUT", path, "the consent decision", async () => ({
      body,
      headers: {
        authorization: `Bearer ${await mintOwnerToken(this.identity, { now: new Date(this.clock.now()) })}`,
      },
    }));
    return asRecord(answer);
  }

  /**
   * Asks the home region whether a newer build is open to this device, which
   * runs `installedBuild` (default: the build it left the factory with). Sent
   * now, with retries, never queued: an answer is only worth having now.
   * Resolves with `{ update: { build, lineage } | null, reason }`; rejects with
   * `sdk.offline` when the region cannot be reached, `sdk.rejected` when it refuses.
   */
  async checkForUpdate(installedBuild: string = this.identity.build): Promise<UpdateAnswer> {
    const envelope = await this.seal(UPDATE_CHECK, 1, { build: installedBuild }, installedBuild);
    const answer = asRecord(
      await this.requestNow("POST", UPDATE_CHECK_PATH, "the update check", async () => ({
        body: JSON.stringify(envelope),
        headers: {},
      })),
    );
    const update = answer.update as { build?: unknown; lineage?: unknown } | null | undefined;
    return {
      update:
        update && typeof update.build === "string" && typeof update.lineage === "string"
          ? { build: update.build, lineage: update.lineage }
          : null,
      reason: typeof answer.reason === "string" ? answer.reason : "",
      notices: await this.keepNotices(answer.notices),
    };
  }

  /**
   * Every notice of an incident the device has received, oldest first (kept
   * in `notices.json` in the queue directory). No network.
   */
  async notices(): Promise<IncidentNotice[]> {
    return readNotices(this.queueDir);
  }

  /** Keeps the notices of an answer the device does not hold yet, and answers those. */
  private keepNotices(value: unknown): Promise<IncidentNotice[]> {
    if (!Array.isArray(value) || value.length === 0) return Promise.resolve([]);
    const kept = this.noticesTail.then(async () => {
      const held = await readNotices(this.queueDir);
      const ids = new Set(held.map((n) => n.id));
      const receivedAt = new Date(this.clock.now()).toISOString();
      const fresh: IncidentNotice[] = [];
      for (const item of value) {
        const n = item as Record<string, unknown>;
        const [id, incident, title, body, sentAt] = [n.id, n.incident, n.title, n.body, n.sentAt];
        if (typeof id !== "string" || ids.has(id)) continue;
        if (typeof incident !== "string" || typeof title !== "string" || typeof body !== "string") continue;
        if (typeof sentAt !== "string") continue;
        ids.add(id);
        fresh.push({ id, incident, title, body, sentAt, receivedAt });
      }
      if (fresh.length > 0) {
        const all = [...held, ...fresh];
        await writeFileAtomic(join(this.queueDir, NOTICES_FILE), `${JSON.stringify(all)}\n`, 0o600);
        for (const n of fresh) this.emit({ type: "notice", id: n.id, incident: n.incident });
      }
      return fresh;
    });
    this.noticesTail = kept.catch(() => undefined);
    return kept;
  }

  /**
   * Reports whether installing an offered `build` worked. Sent now, with
   * retries of the same envelope (the region counts it once); resolves when
   * the region has counted it.
   */
  async reportUpdate(build: string, outcome: "installed" | "failed"): Promise<void> {
    const envelope = await this.seal(UPDATE_REPORT, 1, { build, outcome }, build);
    await this.requestNow("POST", UPDATE_REPORT_PATH, "the update report", async () => ({
      body: JSON.stringify(envelope),
      headers: {},
    }));
  }

  /**
   * One request to the home collector now, through the endpoint check, retried
   * with backoff on transient failures; `what` names it in errors. Resolves
   * with the answer's JSON.
   */
  private requestNow(
    method: "POST" | "PUT",
    path: string,
    what: string,
    attemptOf: () => Promise<{ body: string; headers: Record<string, string> }>,
  ): Promise<unknown> {
    return this.locked(async () => {
      for (let attempt = 1; ; attempt++) {
        if (this.endpoint === undefined) {
          const failed = await this.verifyEndpoint();
          if (failed !== undefined) {
            if (attempt >= this.retry.maxAttempts) throw this.offline(path, failed.reason);
            await this.clock.sleep(this.backoff(attempt - 1, failed.retryAfterMs));
            continue;
          }
        }
        const { body, headers } = await attemptOf();
        const result = await this.exchange(method, path, body, headers);
        if (result.kind === "ok") return result.answer;
        if (result.kind === "refused") {
          const { server } = result;
          // Nothing of these is queued: the caller learns it now, and a smaller request is its own business.
          throw new SdkError(
            server.status === 413 ? "sdk.too_large" : "sdk.rejected",
            `${this.urlFor(path)} refused ${what}: ${server.code}: ${server.message}`,
            { server, queued: false },
          );
        }
        if (attempt >= this.retry.maxAttempts) throw this.offline(path, result.reason);
        await this.clock.sleep(this.backoff(attempt - 1, result.retryAfterMs));
      }
    });
  }

  /** How many messages are waiting. */
  async pending(): Promise<number> {
    return (await this.queue.stats()).messages;
  }

  /**
   * Delivers the queue, in order, but for the messages in `setAside` (event ids), to which it adds those it
   * leaves queued on purpose; `deferred` when a message gave up for now (the collector is unreachable). A
   * batch split for its size is replaced by its parts at the end of the queue, which the next pass sends.
   */
  private async deliverAll(
    setAside: Set<string>,
  ): Promise<{ delivered: number; rejected: number; deferred: boolean }> {
    let delivered = 0;
    let rejected = 0;
    for (;;) {
      const messages = (await this.queue.list()).filter((m) => !setAside.has(m.envelope.eventId));
      if (messages.length === 0) return { delivered, rejected, deferred: false };
      for (const message of messages) {
        const { eventId, collection } = message.envelope;
        const gated = message.path === DIAGNOSTICS_PATH;
        for (let attempt = 1; ; attempt++) {
          // Checked before every try, retries included: a no given meanwhile stops the batch here.
          if (gated && !this.mayUpload()) {
            setAside.add(eventId);
            break;
          }
          const result = await this.attempt(message);
          if (result.kind === "delivered") {
            await this.queue.remove(message.id);
            if (collection === "activation") await this.writeMarker(eventId, result.answer);
            this.remember(eventId, { kind: "delivered", answer: result.answer });
            this.emit({
              type: "delivered",
              eventId,
              collection,
              path: message.path,
              status: result.status,
              events: message.events,
            });
            delivered += 1;
            break;
          }
          if (result.kind === "too_large") {
            // Never dropped for its size: split, or kept and reported.
            if (!(await this.splitBatch(message, result.reason))) this.keepTooLarge(message, result);
            setAside.add(eventId);
            break;
          }
          if (gated && result.kind === "rejected" && result.error.server?.code === "consent.required") {
            // The region does not hold a valid yes (not told yet, or the owner said no elsewhere). Dropping the
            // batch would lose events the owner may still allow; sending on would be refused again. Keep it on
            // the device and go back to "unknown" until the owner's decision is set again.
            await this.collectorRequiresConsent();
            this.emit({ type: "consent_required", eventId, events: message.events });
            setAside.add(eventId);
            break;
          }
          if (result.kind === "rejected") {
            // A permanent refusal will not change on retry; keeping it would block every later message.
            await this.queue.remove(message.id);
            this.remember(eventId, { kind: "rejected", error: result.error });
            this.emit({ type: "rejected", eventId, collection, path: message.path, error: result.error });
            rejected += 1;
            break;
          }
          if (attempt >= this.retry.maxAttempts) {
            const remaining = (await this.queue.stats()).messages;
            this.emit({ type: "deferred", eventId, remaining, reason: result.reason });
            return { delivered, rejected, deferred: true };
          }
          const delayMs = this.backoff(attempt - 1, result.retryAfterMs);
          this.emit({ type: "retry", eventId, attempt, delayMs, reason: result.reason });
          await this.clock.sleep(delayMs);
        }
      }
    }
  }

  /**
   * One try at one message: endpoint check (if not yet done), then the POST, unless the message exceeds
   * the limits the collector announces (it would only be refused).
   */
  private async attempt(message: QueuedMessage): Promise<Attempt> {
    if (this.endpoint === undefined) {
      const verified = await this.verifyEndpoint();
      if (verified !== undefined) return verified;
    }
    const body = JSON.stringify(message.envelope);
    if (!this.fits(Buffer.byteLength(body), message.path === DIAGNOSTICS_PATH ? message.events : 1)) {
      return { kind: "too_large", reason: "limits" };
    }
    const result = await this.exchange("POST", message.path, body, {});
    if (result.kind === "ok") return { kind: "delivered", status: result.status, answer: result.answer };
    if (result.kind === "transient") return result;
    const { server } = result;
    if (server.status === 413) {
      // The announced limits were wrong, have changed or were never announced: ask again before the next POST.
      this.endpoint = undefined;
      return { kind: "too_large", reason: "refused", server };
    }
    return {
      kind: "rejected",
      error: new SdkError(
        "sdk.rejected",
        `${this.urlFor(message.path)} refused ${message.envelope.eventId}: ${server.code}: ${server.message}`,
        { server, eventId: message.envelope.eventId, queued: false },
      ),
    };
  }

  /** Whether a body of `bytes` carrying `events` events is within the limits the collector announced. */
  private fits(bytes: number, events: number): boolean {
    const limits = this.endpoint?.limits;
    if (limits?.maxBodyBytes !== undefined && bytes > limits.maxBodyBytes) return false;
    return limits?.maxDiagnosticsEvents === undefined || events <= limits.maxDiagnosticsEvents;
  }

  /** One request with a JSON body to the home collector (after the endpoint check); a redirect is refused. */
  private async exchange(
    method: "POST" | "PUT",
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<Exchange> {
    const url = this.urlFor(path);
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers: { "content-type": "application/json", accept: "application/json", ...headers },
        body,
        // A redirect could lead anywhere; the home URL is the only place a payload may go.
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      return { kind: "transient", reason: describeNetworkError(err), retryAfterMs: undefined };
    }
    const text = await response.text().catch(() => "");
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: "ok", status, answer: parseJson(text) };
    if (status >= 300 && status < 400) {
      throw this.refuse(
        new SdkError("sdk.redirect_refused", `${url} answered ${status} (redirect); not followed`),
      );
    }
    if (isTransientStatus(status)) {
      return {
        kind: "transient",
        reason: `HTTP ${status}`,
        retryAfterMs: retryAfterMs(response, this.clock.now()),
      };
    }
    return { kind: "refused", server: serverError(status, text) };
  }

  /** GETs the region announcement and checks it; a transient failure is returned, a refusal thrown. */
  private async verifyEndpoint(): Promise<Extract<Attempt, { kind: "transient" }> | undefined> {
    const url = this.urlFor(REGION_PATH);
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method: "GET",
        headers: { accept: "application/json" },
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      return { kind: "transient", reason: describeNetworkError(err), retryAfterMs: undefined };
    }
    const text = await response.text().catch(() => "");
    const status = response.status;
    if (isTransientStatus(status)) {
      return {
        kind: "transient",
        reason: `HTTP ${status} on ${REGION_PATH}`,
        retryAfterMs: retryAfterMs(response, this.clock.now()),
      };
    }
    if (status >= 300 && status < 400) {
      throw this.refuse(
        new SdkError("sdk.redirect_refused", `${url} answered ${status} (redirect); not followed`),
      );
    }
    if (status < 200 || status >= 300) {
      throw this.refuse(new SdkError("sdk.endpoint_invalid", `${url} answered HTTP ${status}`));
    }
    try {
      this.endpoint = checkEndpoint(this.identity.home, parseJson(text), this.identity.market);
    } catch (err) {
      throw err instanceof SdkError ? this.refuse(err) : err;
    }
    this.emit({
      type: "endpoint_verified",
      url: this.baseUrl,
      region: this.endpoint.region,
      kid: this.endpoint.kid,
    });
    return undefined;
  }

  private offline(path: string, reason: string): SdkError {
    return new SdkError(
      "sdk.offline",
      `${this.urlFor(path)} could not be reached (${reason}); nothing was sent`,
      {
        queued: false,
      },
    );
  }

  private refuse(error: SdkError): SdkError {
    this.emit({ type: "endpoint_refused", url: this.baseUrl, error });
    return error;
  }

  /** The only way a URL is made: the provisioned home URL plus a fixed API path. */
  private urlFor(path: string): string {
    const url = `${this.baseUrl}${path}`;
    assertSecureTransport(url);
    return url;
  }

  /**
   * Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"). A server's Retry-After (capped at
   * `maxMs`) is a floor the jitter is added to: collectors answer every 503 with the same Retry-After, and
   * devices told the same wait must not all come back in the same instant.
   */
  private backoff(retry: number, retryAfter: number | undefined): number {
    const ceiling = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** retry);
    const jittered = Math.floor(this.random() * ceiling);
    return retryAfter === undefined ? jittered : Math.min(retryAfter, this.retry.maxMs) + jittered;
  }

  /** Seals `payload` to the home region and signs it, as a device running `build` sends it. */
  private seal(
    collection: string,
    schemaVersion: number,
    payload: unknown,
    build = this.identity.build,
  ): Promise<Envelope> {
    const { home } = this.identity;
    const header: EnvelopeHeader = {
      v: ENVELOPE_FORMAT,
      collection,
      schemaVersion,
      eventId: randomUUID(),
      device: this.identity.keyId,
      region: home.region,
      kid: home.kid,
      build,
      sentAt: new Date(this.clock.now()).toISOString(),
    };
    return sealEnvelope(header, payload, home.publicKey, this.signingKey);
  }

  private async enqueueSealed(
    collection: string,
    schemaVersion: number,
    path: string,
    payload: unknown,
    droppable: boolean,
  ): Promise<string> {
    const envelope = await this.seal(collection, schemaVersion, payload);
    await this.enqueue(path, envelope, { droppable });
    return envelope.eventId;
  }

  /** Queues a sealed envelope, reporting what it evicted and that it was queued. */
  private async enqueue(path: string, envelope: Envelope, options: EnqueueOptions): Promise<void> {
    const { evicted } = await this.queue.enqueue(path, envelope, options);
    for (const m of evicted) {
      this.emit({
        type: "evicted",
        eventId: m.envelope.eventId,
        collection: m.envelope.collection,
        path: m.path,
        events: m.events,
      });
    }
    const { collection, eventId } = envelope;
    this.emit({ type: "queued", eventId, collection, path, events: options.events ?? 1 });
  }

  /**
   * Whether a batch may be sealed now with the collector's limits known: verifies the endpoint first if
   * this client has not yet (with retries), when there is something to seal and consent allows it. An
   * endpoint refusal is thrown, as from any delivery.
   */
  private async readyToSeal(): Promise<boolean> {
    if (this.endpoint !== undefined) return true;
    if (!this.mayUpload() || (await this.held.stats()).events === 0) return false;
    for (let attempt = 1; ; attempt++) {
      const failed = await this.verifyEndpoint();
      if (failed === undefined) return true;
      // Unreachable: the events wait where they are, held, for a flush that can send them.
      if (attempt >= this.retry.maxAttempts) return false;
      await this.clock.sleep(this.backoff(attempt - 1, failed.retryAfterMs));
    }
  }

  /** Seals the oldest held events into one batch that fits the limits and queues it, if consent allows. */
  private sealNextBatch(): Promise<boolean> {
    return this.eventsLocked(async () => {
      if (!this.mayUpload()) return false;
      const held = await this.held.oldest(this.maxBatchEvents());
      if (held.length === 0) return false;
      const batch = await this.sealFitting(held.map((h) => h.event));
      try {
        await this.enqueue(DIAGNOSTICS_PATH, batch.envelope, {
          droppable: true,
          events: batch.count,
          contents: batch.contents,
        });
      } catch (err) {
        // The queue is full of messages it may not drop (activations): the events wait, held.
        if (isSdkError(err, "sdk.queue_full")) return false;
        throw err;
      }
      // Queued first, removed after: a crash in between sends these events twice, under the same event ids,
      // and the collector stores each once.
      await this.held.remove(held.slice(0, batch.count).map((h) => h.id));
      return true;
    });
  }

  /**
   * Seals the oldest of `events` into one diagnostics batch whose envelope, as it would be sent, fits the
   * collector's largest body: fewer events each try, in proportion to how far over it was. One event that
   * does not fit alone is sealed all the same, to be kept and reported rather than block the events behind it.
   */
  private async sealFitting(events: readonly DiagnosticsEvent[]): Promise<SealedBatch> {
    const limit = this.endpoint?.limits?.maxBodyBytes;
    let count = events.length;
    for (let tries = 1; ; tries++) {
      const batch = await this.sealBatch(events.slice(0, count));
      const bytes = Buffer.byteLength(JSON.stringify(batch.envelope));
      if (limit === undefined || bytes <= limit || count === 1) return batch;
      const proportional = Math.floor((count * limit) / bytes);
      // Past MAX_FIT_TRIES by halves, which reach one event soon enough.
      count = Math.max(1, tries < MAX_FIT_TRIES ? Math.min(count - 1, proportional) : Math.floor(count / 2));
    }
  }

  /** Seals `events` as one diagnostics batch, and encrypts them at rest for the queue, bound to its event id. */
  private async sealBatch(events: readonly DiagnosticsEvent[]): Promise<SealedBatch> {
    const envelope = await this.seal(DIAGNOSTICS_COLLECTION, DIAGNOSTICS_SCHEMA_VERSION, { events });
    return { envelope, count: events.length, contents: this.batchContents.encrypt(events, envelope.eventId) };
  }

  /**
   * Replaces a queued diagnostics batch the collector refused for its size (or that exceeds its announced
   * limits) by smaller batches of the same events, with their event ids, in their order; each new batch is
   * its own envelope. After a 413 the events are halved; against known limits they are sealed to fit.
   * False when the message cannot be split (not a batch, one event, or its events were not kept).
   */
  private splitBatch(message: QueuedMessage, reason: "refused" | "limits"): Promise<boolean> {
    if (message.path !== DIAGNOSTICS_PATH || message.events < 2 || message.contents === undefined) {
      return Promise.resolve(false);
    }
    const { contents } = message;
    return this.eventsLocked(async () => {
      // A no given since it was listed discarded it (under this lock): nothing to split, nothing to keep.
      if (!(await this.queue.list()).some((m) => m.id === message.id)) return true;
      const events = this.openContents(contents, message.envelope.eventId);
      if (events === undefined || events.length < 2) return false;
      const parts: SealedBatch[] = [];
      if (reason === "refused") {
        const half = Math.ceil(events.length / 2);
        parts.push(await this.sealBatch(events.slice(0, half)), await this.sealBatch(events.slice(half)));
      } else {
        for (let from = 0; from < events.length;) {
          const part = await this.sealFitting(events.slice(from, from + this.maxBatchEvents()));
          parts.push(part);
          from += part.count;
        }
      }
      try {
        // The parts first, the batch after: a crash in between sends some events twice, under the same event
        // ids, and the collector stores each once.
        for (const part of parts) {
          await this.enqueue(DIAGNOSTICS_PATH, part.envelope, {
            droppable: true,
            events: part.count,
            contents: part.contents,
            spare: message.id,
          });
        }
      } catch (err) {
        // No room for the parts beside messages that may not be dropped: the batch stays as it is.
        if (isSdkError(err, "sdk.queue_full")) return false;
        throw err;
      }
      await this.queue.remove(message.id);
      this.emit({
        type: "split",
        eventId: message.envelope.eventId,
        events: message.events,
        parts: parts.length,
        reason,
      });
      return true;
    });
  }

  /** The events a queued batch carries, from its contents kept at rest; undefined when unreadable. */
  private openContents(contents: Encrypted, eventId: string): DiagnosticsEvent[] | undefined {
    try {
      const value = this.batchContents.decrypt(contents, eventId);
      if (!Array.isArray(value)) return undefined;
      const events = value.map(asDiagnosticsEvent);
      return events.every((e) => e !== undefined) ? (events as DiagnosticsEvent[]) : undefined;
    } catch {
      // Changed on disk, or written under another device key: the batch goes as it is, or not at all.
      return undefined;
    }
  }

  /** A message too large to send even alone stays queued; the app is told, and an `activate()` waiting on it. */
  private keepTooLarge(message: QueuedMessage, result: Extract<Attempt, { kind: "too_large" }>): void {
    const { eventId, collection } = message.envelope;
    const bytes = Buffer.byteLength(JSON.stringify(message.envelope));
    const limit = this.endpoint?.limits?.maxBodyBytes;
    const why =
      result.reason === "refused"
        ? `the collector refused its ${bytes} bytes (${result.server?.code ?? "HTTP 413"})`
        : `its ${bytes} bytes${limit === undefined ? "" : ` exceed the collector's ${limit}`}`;
    const error = new SdkError(
      "sdk.too_large",
      `${collection} message ${eventId} (${message.events} event${message.events === 1 ? "" : "s"}) is too large to send: ${why}; it stays queued`,
      { eventId, queued: true, ...(result.server === undefined ? {} : { server: result.server }) },
    );
    this.remember(eventId, { kind: "kept", error });
    // The collector's limits may rise (a new configuration): the next try asks for them again.
    this.endpoint = undefined;
    this.emit({
      type: "too_large",
      eventId,
      collection,
      path: message.path,
      events: message.events,
      bytes,
      error,
    });
  }

  /** The most events a batch may carry: the app's bound, and the collector's when it announces one. */
  private maxBatchEvents(): number {
    return Math.min(this.batchSize, this.endpoint?.limits?.maxDiagnosticsEvents ?? this.batchSize);
  }

  /** Removes every held event and every queued diagnostics batch; returns how many events they were. */
  private async discardDiagnostics(): Promise<number> {
    let events = (await this.held.clear()).events;
    for (const m of await this.queue.list()) {
      if (m.path === DIAGNOSTICS_PATH && (await this.queue.remove(m.id))) events += m.events;
    }
    return events;
  }

  /** The collector answered `consent.required`: back to `unknown`, unless the owner decided meanwhile. */
  private collectorRequiresConsent(): Promise<void> {
    return this.eventsLocked(async () => {
      if (this.consent?.state !== "granted" || this.consentCallsPending > 0) return;
      const record: ConsentRecord = {
        state: "unknown",
        changedAt: new Date(this.clock.now()).toISOString(),
        cause: "collector",
      };
      await writeConsent(this.queueDir, record);
      this.consent = record;
    });
  }

  /** Whether a diagnostics batch may leave the device now. */
  private mayUpload(): boolean {
    return this.consent?.state === "granted" && this.consentCallsPending === 0;
  }

  private async loadConsent(): Promise<ConsentRecord> {
    if (this.consent !== undefined) return this.consent;
    const record = await readConsent(this.queueDir);
    // A `setConsent` may have completed while the file was being read; its state is the newer one.
    this.consent ??= record;
    return this.consent;
  }

  private async pendingActivation(): Promise<QueuedMessage | undefined> {
    return (await this.queue.list()).find(
      (m) => m.path === ACTIVATIONS_PATH && m.envelope.collection === "activation",
    );
  }

  private async writeMarker(eventId: string, answer: unknown): Promise<void> {
    const marker = { eventId, acknowledgedAt: new Date(this.clock.now()).toISOString(), answer };
    await writeFileAtomic(join(this.queueDir, ACTIVATION_MARKER), `${JSON.stringify(marker)}\n`, 0o600);
  }

  private async readMarker(): Promise<ActivationState | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(join(this.queueDir, ACTIVATION_MARKER), "utf8"));
    } catch {
      // Missing or unreadable: the queue (and the idempotent server) remain the truth.
      return undefined;
    }
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const m = parsed as Record<string, unknown>;
    if (typeof m.eventId !== "string" || typeof m.acknowledgedAt !== "string") return undefined;
    return {
      state: "activated",
      eventId: m.eventId,
      acknowledgedAt: m.acknowledgedAt,
      answer: asActivationAnswer(m.answer),
    };
  }

  private remember(eventId: string, outcome: Outcome): void {
    this.outcomes.delete(eventId);
    this.outcomes.set(eventId, outcome);
    if (this.outcomes.size > OUTCOMES_KEPT) {
      const oldest = this.outcomes.keys().next();
      if (oldest.done !== true) this.outcomes.delete(oldest.value);
    }
  }

  private emit(event: ClientEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // An observer must not be able to break delivery.
    }
  }

  // Flushes and activation bookkeeping run one at a time, so a message is never sent twice concurrently.
  private locked<T>(op: () => Promise<T>): Promise<T> {
    const run = this.lockTail.then(op);
    this.lockTail = run.catch(() => {});
    return run;
  }

  // Held events, consent and sealing: never waits for the network, so recording is quick even mid-flush.
  // Ops under this lock never take `locked`, so the two cannot deadlock.
  private eventsLocked<T>(op: () => Promise<T>): Promise<T> {
    const run = this.eventsTail.then(op);
    this.eventsTail = run.catch(() => {});
    return run;
  }
}

// 408 timeout, 425 too early, 429 too many requests, 5xx: the server may well take it later.
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** A `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); else undefined. */
function retryAfterMs(response: Response, now: number): number | undefined {
  const header = response.headers.get("retry-after")?.trim();
  if (header === undefined || header === "") return undefined;
  if (/^\d{1,6}$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) && /[A-Za-z]{3}, /.test(header) ? Math.max(0, at - now) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function serverError(status: number, text: string): ServerError {
  const body = parseJson(text);
  const error =
    typeof body === "object" && body !== null ? (body as Record<string, unknown>).error : undefined;
  if (typeof error === "object" && error !== null) {
    const e = error as Record<string, unknown>;
    return {
      status,
      code: typeof e.code === "string" ? e.code : `http.${status}`,
      message: typeof e.message === "string" ? e.message : `HTTP ${status}`,
      ...(typeof e.path === "string" ? { path: e.path } : {}),
    };
  }
  return { status, code: `http.${status}`, message: `HTTP ${status}` };
}

/** The notices kept in `dir`; none when the file is missing or unreadable. */
async function readNotices(dir: string): Promise<IncidentNotice[]> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dir, NOTICES_FILE), "utf8"));
    return Array.isArray(parsed) ? (parsed as IncidentNotice[]) : [];
  } catch {
    return [];
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Checks a consent decision before it goes anywhere; throws `sdk.options_invalid`. */
function validateDecision(decision: ConsentDecision): ConsentDecision {
  const d = decision as unknown as Record<string, unknown>;
  const bad = (why: string): never => {
    throw new SdkError("sdk.options_invalid", `consent decision: ${why}`);
  };
  if (typeof d !== "object" || d === null) bad("must be an object");
  if (typeof d.granted !== "boolean") bad("granted must be true or false");
  const v = d.noticeVersion;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 999_999) {
    bad("noticeVersion must be a whole number from 1 to 999999");
  }
  if (typeof d.language !== "string" || !LANGUAGE.test(d.language))
    bad("language must be a BCP 47 tag like en");
  if (typeof d.method !== "string" || !CONSENT_METHODS.includes(d.method)) {
    bad(`method must be one of ${CONSENT_METHODS.join(", ")}`);
  }
  // Only the four fields: the route refuses anything else, and nothing else should leave the device.
  return {
    granted: decision.granted,
    noticeVersion: decision.noticeVersion,
    language: decision.language,
    method: decision.method,
  };
}

function asActivationAnswer(value: unknown): ActivationAnswer {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as ActivationAnswer)
    : {};
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  const code =
    typeof cause === "object" && cause !== null && "code" in cause
      ? String((cause as { code: unknown }).code)
      : undefined;
  if (err.name === "TimeoutError") return "timeout";
  return code === undefined ? err.message : `${err.message} (${code})`;
}
