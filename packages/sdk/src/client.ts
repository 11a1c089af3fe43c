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
 *    stores it once.
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ENVELOPE_FORMAT, type EnvelopeHeader, ed25519PrivateKey, sealEnvelope } from "./envelope.ts";
import { SdkError, type ServerError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import { type DeviceIdentity, validateIdentity } from "./identity.ts";
import { DiskQueue, type QueuedMessage } from "./queue.ts";
import { assertSecureTransport, checkEndpoint, type RegionAnnouncement } from "./region.ts";

/** The path activations are POSTed to. */
export const ACTIVATIONS_PATH = "/v1/activations";
/** The path a collector announces its region at. */
export const REGION_PATH = "/v1/region";
/** Name of the marker file, in the queue directory, that records an acknowledged activation. */
export const ACTIVATION_MARKER = "activated.json";

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
  /** Directory of the on-disk queue (and of the activation marker); created if missing. */
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
}

/** Everything the client reports to `onEvent`. */
export type ClientEvent =
  | { type: "endpoint_verified"; url: string; region: string; kid: string }
  | { type: "endpoint_refused"; url: string; error: SdkError }
  | { type: "queued"; eventId: string; collection: string; path: string }
  | { type: "evicted"; eventId: string; collection: string; path: string }
  | { type: "delivered"; eventId: string; collection: string; path: string; status: number }
  | { type: "retry"; eventId: string; attempt: number; delayMs: number; reason: string }
  | { type: "rejected"; eventId: string; collection: string; path: string; error: SdkError }
  | { type: "deferred"; eventId: string; remaining: number; reason: string }
  | { type: "corrupt"; file: string; reason: string };

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

type Outcome = { kind: "delivered"; answer: unknown } | { kind: "rejected"; error: SdkError };

type Attempt =
  | { kind: "delivered"; status: number; answer: unknown }
  | { kind: "rejected"; error: SdkError }
  | { kind: "transient"; reason: string; retryAfterMs: number | undefined };

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
  private readonly baseUrl: string;
  private readonly signingKey: ReturnType<typeof ed25519PrivateKey>;
  private readonly retry: Required<RetryOptions>;
  private readonly fetchFn: FetchLike;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly onEvent: ((event: ClientEvent) => void) | undefined;
  private readonly outcomes = new Map<string, Outcome>();
  private endpoint: RegionAnnouncement | undefined;
  private lockTail: Promise<unknown> = Promise.resolve();

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
    if (outcome?.kind === "rejected") throw outcome.error;
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
   * Delivers queued messages in order. Verifies the endpoint first (once per client). Transient failures are
   * retried with backoff up to `retry.maxAttempts` per message, then the flush resolves with messages left
   * queued. Rejects only when the endpoint is refused (nothing is sent then) or the disk fails.
   */
  flush(): Promise<FlushResult> {
    return this.locked(() => this.deliverAll());
  }

  /** How many messages are waiting. */
  async pending(): Promise<number> {
    return (await this.queue.stats()).messages;
  }

  private async deliverAll(): Promise<FlushResult> {
    const messages = await this.queue.list();
    let delivered = 0;
    let rejected = 0;
    for (const [index, message] of messages.entries()) {
      const { eventId, collection } = message.envelope;
      for (let attempt = 1; ; attempt++) {
        const result = await this.attempt(message);
        if (result.kind === "delivered") {
          await this.queue.remove(message.id);
          if (collection === "activation") await this.writeMarker(eventId, result.answer);
          this.remember(eventId, { kind: "delivered", answer: result.answer });
          this.emit({ type: "delivered", eventId, collection, path: message.path, status: result.status });
          delivered += 1;
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
          const remaining = messages.length - index;
          this.emit({ type: "deferred", eventId, remaining, reason: result.reason });
          return { delivered, rejected, remaining };
        }
        const delayMs = this.backoff(attempt - 1, result.retryAfterMs);
        this.emit({ type: "retry", eventId, attempt, delayMs, reason: result.reason });
        await this.clock.sleep(delayMs);
      }
    }
    return { delivered, rejected, remaining: 0 };
  }

  /** One try at one message: endpoint check (if not yet done), then the POST. */
  private async attempt(message: QueuedMessage): Promise<Attempt> {
    if (this.endpoint === undefined) {
      const verified = await this.verifyEndpoint();
      if (verified !== undefined) return verified;
    }
    const url = this.urlFor(message.path);
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(message.envelope),
        // A redirect could lead anywhere; the home URL is the only place a payload may go.
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      return { kind: "transient", reason: describeNetworkError(err), retryAfterMs: undefined };
    }
    const text = await response.text().catch(() => "");
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: "delivered", status, answer: parseJson(text) };
    if (status >= 300 && status < 400) {
      throw this.refuse(
        new SdkError("sdk.redirect_refused", `${url} answered ${status} (redirect); not followed`),
      );
    }
    if (isTransientStatus(status)) {
      return { kind: "transient", reason: `HTTP ${status}`, retryAfterMs: retryAfterMs(response) };
    }
    const server = serverError(status, text);
    return {
      kind: "rejected",
      error: new SdkError(
        "sdk.rejected",
        `${url} refused ${message.envelope.eventId}: ${server.code}: ${server.message}`,
        {
          server,
          eventId: message.envelope.eventId,
          queued: false,
        },
      ),
    };
  }

  /** GETs the region announcement and checks it; a transient failure is returned, a refusal thrown. */
  private async verifyEndpoint(): Promise<Attempt | undefined> {
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
        retryAfterMs: retryAfterMs(response),
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

  /** Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"); a server's Retry-After is a floor. */
  private backoff(retry: number, retryAfter: number | undefined): number {
    const ceiling = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** retry);
    const jittered = Math.floor(this.random() * ceiling);
    return retryAfter === undefined ? jittered : Math.max(jittered, Math.min(retryAfter, this.retry.maxMs));
  }

  private async enqueueSealed(
    collection: string,
    schemaVersion: number,
    path: string,
    payload: unknown,
    droppable: boolean,
  ): Promise<string> {
    const { home } = this.identity;
    const header: EnvelopeHeader = {
      v: ENVELOPE_FORMAT,
      collection,
      schemaVersion,
      eventId: randomUUID(),
      device: this.identity.keyId,
      region: home.region,
      kid: home.kid,
      build: this.identity.build,
      sentAt: new Date(this.clock.now()).toISOString(),
    };
    const envelope = await sealEnvelope(header, payload, home.publicKey, this.signingKey);
    const { evicted } = await this.queue.enqueue(path, envelope, { droppable });
    for (const m of evicted) {
      this.emit({
        type: "evicted",
        eventId: m.envelope.eventId,
        collection: m.envelope.collection,
        path: m.path,
      });
    }
    this.emit({ type: "queued", eventId: header.eventId, collection, path });
    return header.eventId;
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
}

// 408 timeout, 425 too early, 429 too many requests, 5xx: the server may well take it later.
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get("retry-after");
  if (header === null || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
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
