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
 *    home region and a region key the device trusts — for an identity with
 *    fleet roots, one listed in a descriptor a root signed (the newest verified
 *    is kept in `region.json` and sealed to); for a legacy identity, the key it
 *    was provisioned with — otherwise nothing is POSTed at all.
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
 * 6. A queued message sealed to a region key that has ended by the verified
 *    descriptor (the device was away longer than the key's overlap), or that
 *    the region refuses as ended (`envelope.key_expired`) when a region check
 *    made then gives another key, is sealed again to the key in force, same
 *    event id, from what was kept encrypted at rest beside it; one that cannot
 *    be (queued by an older SDK) is sent as it is, and the collector's refusal
 *    removes it and is reported (`key_ended`), once.
 * 7. A batch is sized to the limits the collector announces at `GET /v1/region`
 *    (most events, largest body): the SDK measures the envelope it would send
 *    and seals fewer events until it fits, so it is not refused for its size.
 */
import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ENVELOPE_FORMAT,
  type Envelope,
  type EnvelopeHeader,
  ed25519PrivateKey,
  sealEnvelope,
} from "./envelope.ts";
import {
  assertConsentState,
  type ConsentRecord,
  type ConsentState,
  DIAGNOSTICS_COLLECTION,
  DIAGNOSTICS_PATH,
  DIAGNOSTICS_SCHEMA_VERSION,
  type DiagnosticsData,
  MAX_BATCH_EVENTS,
  readConsent,
  validateDiagnosticsEvent,
  writeConsent,
} from "./diagnostics.ts";
import { isSdkError, SdkError, type ServerError } from "./errors.ts";
import { HeldEvents } from "./held.ts";
import { type DeviceIdentity, validateIdentity } from "./identity.ts";
import { mintOwnerToken } from "./owner-token.ts";
import { DiskQueue, type EnqueueOptions, type QueuedMessage } from "./queue.ts";
import {
  ACTIVATIONS_PATH,
  type ActivationAnswer,
  type ActivationPayloadV1,
  type ActivationState,
  type ClientEvent,
  type Clock,
  type ConsentChange,
  type ConsentDecision,
  type ConsentReceipt,
  DEFAULT_BATCH_EVENTS,
  type DiagnosticsState,
  type FlushResult,
  HELD_DIR,
  type IncidentNotice,
  type PhoneHomeClientOptions,
  type RecordResult,
  type RetryOptions,
  type UpdateAnswer,
  UPDATE_CHECK_PATH,
  UPDATE_REPORT_PATH,
} from "./client-types.ts";
import { DiagnosticsBatches } from "./batches.ts";
import { assertSecureTransport } from "./region.ts";
import { RegionTrust } from "./region-trust.ts";
import { AtRest } from "./at-rest.ts";
import { CollectorLink, type Transient } from "./collector-link.ts";
import { validateDecision } from "./consent-decision.ts";
import { asActivationAnswer, readActivationMarker, writeActivationMarker } from "./activation-marker.ts";
import { keepNewNotices, readNotices } from "./notices-file.ts";

const UPDATE_CHECK = "update.check";
const UPDATE_REPORT = "update.report";
// A queued activation's payload, kept to seal it again should its region key end before it is delivered.
const ACTIVATION_CONTENTS = { info: "queued activations", aad: "phonehome/v1 queued activation" };
// What a collector answers to an envelope sealed to a region key that has ended.
const KEY_EXPIRED = "envelope.key_expired";

type Outcome =
  | { kind: "delivered"; answer: unknown }
  | { kind: "rejected"; error: SdkError }
  /** Still queued, for a reason waiting will not change by itself (too large). */
  | { kind: "kept"; error: SdkError };

type Attempt =
  | { kind: "delivered"; status: number; answer: unknown }
  | { kind: "rejected"; error: SdkError }
  | Transient
  /** Refused for its size (413), or not sent because it exceeds the limits the collector announces. */
  | { kind: "too_large"; reason: "refused" | "limits"; server?: ServerError }
  /** Sealed to a region key that has ended, by the verified descriptor: not sent. */
  | { kind: "key_ended" };

const DEFAULT_ATTEMPTS = 5;
const DEFAULT_TIMEOUT_MS = 15_000;
// Outcomes are remembered so a waiting `activate()` learns what a (possibly concurrent) flush did.
const OUTCOMES_KEPT = 256;

const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** Delivers a device's sealed messages to its home region, with a durable queue and retries. */
export class PhoneHomeClient {
  readonly identity: DeviceIdentity;
  readonly queue: DiskQueue;
  private readonly queueDir: string;
  private readonly signingKey: ReturnType<typeof ed25519PrivateKey>;
  private readonly retry: Required<RetryOptions>;
  private readonly clock: Clock;
  private readonly onEvent: ((event: ClientEvent) => void) | undefined;
  private readonly link: CollectorLink;
  private readonly trust: RegionTrust;
  private readonly activationContents: AtRest;
  private readonly outcomes = new Map<string, Outcome>();
  private readonly held: HeldEvents;
  private readonly batches: DiagnosticsBatches;
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
    const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new SdkError("sdk.options_invalid", "requestTimeoutMs must be a positive number");
    }
    if (typeof options.queueDir !== "string" || options.queueDir === "") {
      throw new SdkError("sdk.options_invalid", "queueDir must be a directory path");
    }
    this.queueDir = options.queueDir;
    this.clock = options.clock ?? systemClock;
    this.onEvent = options.onEvent;
    this.trust = new RegionTrust({
      dir: options.queueDir,
      home: this.identity.home,
      roots: this.identity.roots,
      now: () => this.clock.now(),
      onCorrupt: (file, reason) => this.emit({ type: "corrupt", file, reason }),
    });
    this.activationContents = new AtRest(this.identity.privateKey, ACTIVATION_CONTENTS);
    this.link = new CollectorLink({
      home: this.identity.home,
      roots: this.identity.roots,
      trust: this.trust,
      market: this.identity.market,
      fetch: options.fetch ?? ((url, init) => fetch(url, init)),
      clock: this.clock,
      random: options.random ?? Math.random,
      timeoutMs,
      retry: this.retry,
      emit: (event) => this.emit(event),
    });
    this.queue = new DiskQueue({
      dir: options.queueDir,
      maxMessages: options.queue?.maxMessages,
      maxBytes: options.queue?.maxBytes,
      now: () => this.clock.now(),
      onCorrupt: (file, reason) => this.emit({ type: "corrupt", file, reason }),
    });
    const batchSize = options.diagnostics?.batchSize ?? DEFAULT_BATCH_EVENTS;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_EVENTS) {
      throw new SdkError("sdk.options_invalid", `diagnostics.batchSize must be 1..${MAX_BATCH_EVENTS}`);
    }
    this.batches = new DiagnosticsBatches({
      devicePrivateKey: this.identity.privateKey,
      batchSize,
      limits: () => this.link.endpoint?.limits,
      seal: (payload) => this.seal(DIAGNOSTICS_COLLECTION, DIAGNOSTICS_SCHEMA_VERSION, payload),
    });
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
      const envelope = await this.seal("activation", 1, payload);
      await this.enqueue(ACTIVATIONS_PATH, envelope, {
        droppable: false,
        contents: this.activationContents.encrypt(payload, envelope.eventId),
      });
      return envelope.eventId;
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
    // Not checked here: the receipt is the region's to sign and the owner's to verify (its `jws`).
    return asRecord(answer) as ConsentReceipt;
  }

  /**
   * Asks the home region whether a newer build is open to this device, which
   * runs `installedBuild` (default: the build it left the factory with). Sent
   * now, with retries, never queued: an answer is only worth having now.
   * Resolves with `{ update: { build, lineage } | null, reason }`; rejects with
   * `sdk.offline` when the region cannot be reached, `sdk.rejected` when it refuses.
   */
  async checkForUpdate(installedBuild: string = this.identity.build): Promise<UpdateAnswer> {
    // Sealed once, after the endpoint check (so to the key the region opens now); retries resend it.
    const envelope = once(() => this.seal(UPDATE_CHECK, 1, { build: installedBuild }, installedBuild));
    const answer = asRecord(
      await this.requestNow("POST", UPDATE_CHECK_PATH, "the update check", async () => ({
        body: JSON.stringify(await envelope()),
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
    const kept = this.noticesTail.then(async () => {
      const fresh = await keepNewNotices(this.queueDir, value, new Date(this.clock.now()).toISOString());
      for (const n of fresh) this.emit({ type: "notice", id: n.id, incident: n.incident });
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
    const envelope = once(() => this.seal(UPDATE_REPORT, 1, { build, outcome }, build));
    await this.requestNow("POST", UPDATE_REPORT_PATH, "the update report", async () => ({
      body: JSON.stringify(await envelope()),
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
        if (this.link.endpoint === undefined) {
          const failed = await this.link.verifyEndpoint();
          if (failed !== undefined) {
            if (attempt >= this.retry.maxAttempts) throw this.link.offline(path, failed.reason);
            await this.clock.sleep(this.link.backoff(attempt - 1, failed.retryAfterMs));
            continue;
          }
        }
        const { body, headers } = await attemptOf();
        const result = await this.link.exchange(method, path, body, headers);
        if (result.kind === "ok") return result.answer;
        if (result.kind === "refused") {
          const { server } = result;
          // Nothing of these is queued: the caller learns it now, and a smaller request is its own business.
          throw new SdkError(
            server.status === 413 ? "sdk.too_large" : "sdk.rejected",
            `${this.link.urlFor(path)} refused ${what}: ${server.code}: ${server.message}`,
            { server, queued: false },
          );
        }
        if (attempt >= this.retry.maxAttempts) throw this.link.offline(path, result.reason);
        await this.clock.sleep(this.link.backoff(attempt - 1, result.retryAfterMs));
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
          let result = await this.attempt(message);
          if (result.kind === "key_ended") {
            // Sealed again to the key in force: the new message, at the end of the queue, goes in a later pass.
            if (await this.reseal(message)) break;
            // It cannot be: sent as it is, once; the collector decides, and its refusal removes it.
            result = await this.attempt(message, false);
            if (result.kind === "key_ended") break;
          }
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
            if (result.error.server?.code === KEY_EXPIRED) {
              this.emit({
                type: "key_ended",
                eventId,
                collection,
                path: message.path,
                kid: message.envelope.kid,
                events: message.events,
              });
            }
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
          const delayMs = this.link.backoff(attempt - 1, result.retryAfterMs);
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
  private async attempt(message: QueuedMessage, checkKey = true): Promise<Attempt> {
    if (this.link.endpoint === undefined) {
      const verified = await this.link.verifyEndpoint();
      if (verified !== undefined) return verified;
    }
    if (checkKey && (await this.trust.ended(message.envelope.kid))) return { kind: "key_ended" };
    const body = JSON.stringify(message.envelope);
    if (!this.link.fits(Buffer.byteLength(body), message.path === DIAGNOSTICS_PATH ? message.events : 1)) {
      return { kind: "too_large", reason: "limits" };
    }
    const result = await this.link.exchange("POST", message.path, body, {});
    if (result.kind === "ok") return { kind: "delivered", status: result.status, answer: result.answer };
    if (result.kind === "transient") return result;
    const { server } = result;
    if (server.status === 413) {
      // The announced limits were wrong, have changed or were never announced: ask again before the next POST.
      this.link.forget();
      return { kind: "too_large", reason: "refused", server };
    }
    if (server.code === KEY_EXPIRED && checkKey && this.identity.roots !== undefined) {
      // The region has ended the key before the descriptor this device holds said (a rotation since its last
      // region check): learn the newer descriptor now, and seal again when it gives another key.
      this.link.forget();
      const verified = await this.link.verifyEndpoint();
      if (verified !== undefined) return verified;
      if ((await this.trust.sealTo()).kid !== message.envelope.kid) return { kind: "key_ended" };
    }
    return {
      kind: "rejected",
      error: new SdkError(
        "sdk.rejected",
        `${this.link.urlFor(message.path)} refused ${message.envelope.eventId}: ${server.code}: ${server.message}`,
        { server, eventId: message.envelope.eventId, queued: false },
      ),
    };
  }

  /**
   * Seals `payload` to the home region's key in force (by the last verified descriptor; the provisioned key
   * before one, or for a legacy identity) and signs it, as a device running `build` sends it.
   */
  private async seal(
    collection: string,
    schemaVersion: number,
    payload: unknown,
    build = this.identity.build,
    eventId: string = randomUUID(),
  ): Promise<Envelope> {
    const { home } = this.identity;
    const key = await this.trust.sealTo();
    const header: EnvelopeHeader = {
      v: ENVELOPE_FORMAT,
      collection,
      schemaVersion,
      eventId,
      device: this.identity.keyId,
      region: home.region,
      kid: key.kid,
      build,
      sentAt: new Date(this.clock.now()).toISOString(),
    };
    return sealEnvelope(header, payload, key.publicKey, this.signingKey);
  }

  /**
   * Replaces a queued message sealed to a region key that has ended by the same message sealed to the key in
   * force: same collection, event id and build, the payload from what was kept encrypted at rest beside it
   * (an activation's payload, a batch's events). The new one is written before the old one is removed: a
   * crash in between sends the event id twice, and the collector stores it once. False when it cannot be
   * (nothing kept, unreadable, or no room beside messages that may not be dropped).
   */
  private reseal(message: QueuedMessage): Promise<boolean> {
    const { contents, envelope } = message;
    if (contents === undefined) return Promise.resolve(false);
    return this.eventsLocked(async () => {
      // A no given since it was listed discarded it (under this lock): nothing to seal.
      if (!(await this.queue.list()).some((m) => m.id === message.id)) return true;
      let payload: unknown;
      if (message.path === DIAGNOSTICS_PATH) {
        const events = this.batches.open(contents, envelope.eventId);
        payload = events === undefined ? undefined : { events };
      } else if (message.path === ACTIVATIONS_PATH) {
        try {
          payload = this.activationContents.decrypt(contents, envelope.eventId);
        } catch {
          payload = undefined;
        }
      }
      if (payload === undefined) return false;
      const sealed = await this.seal(
        envelope.collection,
        envelope.schemaVersion,
        payload,
        envelope.build,
        envelope.eventId,
      );
      const replacement = { envelope: sealed, events: message.events, contents };
      if (!(await this.replaceQueued(message, [replacement]))) return false;
      this.emit({
        type: "resealed",
        eventId: envelope.eventId,
        collection: envelope.collection,
        from: envelope.kid,
        to: sealed.kid,
        events: message.events,
      });
      return true;
    });
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
    if (this.link.endpoint !== undefined) return true;
    if (!this.mayUpload() || (await this.held.stats()).events === 0) return false;
    for (let attempt = 1; ; attempt++) {
      const failed = await this.link.verifyEndpoint();
      if (failed === undefined) return true;
      // Unreachable: the events wait where they are, held, for a flush that can send them.
      if (attempt >= this.retry.maxAttempts) return false;
      await this.clock.sleep(this.link.backoff(attempt - 1, failed.retryAfterMs));
    }
  }

  /** Seals the oldest held events into one batch that fits the limits and queues it, if consent allows. */
  private sealNextBatch(): Promise<boolean> {
    return this.eventsLocked(async () => {
      if (!this.mayUpload()) return false;
      const held = await this.held.oldest(this.batches.maxEvents());
      if (held.length === 0) return false;
      const batch = await this.batches.sealFitting(held.map((h) => h.event));
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
      const events = this.batches.open(contents, message.envelope.eventId);
      if (events === undefined || events.length < 2) return false;
      const parts = await this.batches.split(events, reason);
      const replacements = parts.map((p) => ({
        envelope: p.envelope,
        events: p.count,
        contents: p.contents,
      }));
      if (!(await this.replaceQueued(message, replacements))) return false;
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

  /**
   * Queues `replacements` of a queued message (same path, same class), at the end of the queue, then removes
   * it. The new first, the old after: a crash in between sends some event ids twice, and the collector stores
   * each once. False, leaving the message as it is, when there is no room for them beside messages that may
   * not be dropped.
   */
  private async replaceQueued(
    message: QueuedMessage,
    replacements: { envelope: Envelope; events: number; contents: EnqueueOptions["contents"] }[],
  ): Promise<boolean> {
    try {
      for (const r of replacements) {
        await this.enqueue(message.path, r.envelope, {
          droppable: message.droppable,
          events: r.events,
          contents: r.contents,
          spare: message.id,
        });
      }
    } catch (err) {
      if (isSdkError(err, "sdk.queue_full")) return false;
      throw err;
    }
    await this.queue.remove(message.id);
    return true;
  }

  /** A message too large to send even alone stays queued; the app is told, and an `activate()` waiting on it. */
  private keepTooLarge(message: QueuedMessage, result: Extract<Attempt, { kind: "too_large" }>): void {
    const { eventId, collection } = message.envelope;
    const bytes = Buffer.byteLength(JSON.stringify(message.envelope));
    const limit = this.link.endpoint?.limits?.maxBodyBytes;
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
    this.link.forget();
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

  private writeMarker(eventId: string, answer: unknown): Promise<void> {
    return writeActivationMarker(this.queueDir, eventId, new Date(this.clock.now()), answer);
  }

  private readMarker(): Promise<ActivationState | undefined> {
    return readActivationMarker(this.queueDir);
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

/** `make` run at most once; later calls get its first promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
