/**
 * What the client's callers see: the paths it talks to, its options and
 * events, and the answers it gives. The answers the server sends are the
 * server's own shapes from @phonehome/shared, as types only: nothing of the
 * schemas runs on a device.
 */
import type {
  ActivationResponse,
  ConsentDecisionBody,
  DeviceNotice,
  SignedReceipt,
  UpdateOffer,
} from "@phonehome/shared";
import type { ConsentRecord, ConsentState } from "./diagnostics.ts";
import type { SdkError } from "./errors.ts";
import type { HeldCount } from "./held.ts";
import type { DeviceIdentity } from "./identity.ts";
/** The path activations are POSTed to. */
export const ACTIVATIONS_PATH = "/v1/activations";
/** The path a collector announces its region at. */
export const REGION_PATH = "/v1/region";
/** Where a device asks for an update. */
export const UPDATE_CHECK_PATH = "/v1/updates/check";
/** Where a device reports an install. */
export const UPDATE_REPORT_PATH = "/v1/updates/report";

/**
 * The home region's answer to an update check (the server's `UpdateOffer`):
 * the build to install or null, and why (`newer build`, `up to date`, `not in
 * the rollout yet`, `unknown build`, ...); its notices are those this answer
 * brought that the device did not have yet: show them to the owner.
 */
export type UpdateAnswer = Pick<UpdateOffer, "update" | "reason"> & { notices: IncidentNotice[] };

/** A notice of an incident, from the maker to the owner, kept on the device once received. */
export type IncidentNotice = DeviceNotice & { receivedAt: string };

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
   * A queued message was sealed to a region key that has ended by the verified descriptor; it was sealed
   * again (same event id, same events) to the key in force, `to`, and queued at the end.
   */
  | { type: "resealed"; eventId: string; collection: string; from: string; to: string; events: number }
  /**
   * The collector refused a message sealed to a region key that has ended (`envelope.key_expired`) and it
   * could not be sealed again (queued without what it carries, by an older SDK): it was removed, and is also
   * reported as `rejected`. Its `events` are lost.
   */
  | { type: "key_ended"; eventId: string; collection: string; path: string; kid: string; events: number }
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

/**
 * The collector's answer to an activation (the server's `ActivationResponse`),
 * kept as it came: the SDK does not interpret it, and an answer kept by an
 * older version may lack fields.
 */
export type ActivationAnswer = Partial<Omit<ActivationResponse, "activation">> & {
  activation?: Partial<ActivationResponse["activation"]> & { [key: string]: unknown };
  [key: string]: unknown;
};

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

/**
 * The owner's decision as the region records it (`PUT /v1/owner/consents/uep.diagnostics`): yes or no
 * (a no after a yes withdraws, and the region erases what the yes allowed), the version and language of
 * the notice shown (a BCP 47 tag such as `en` or `nb`), and where the owner decided.
 */
export type ConsentDecision = ConsentDecisionBody;

/**
 * The region's answer to a consent decision: its consent receipt (ISO/IEC TS
 * 27560) and the receipt as a compact JWS, passed on as the region sent it.
 * The SDK does not check it, so every part is optional here: verify `jws` with
 * the region's receipt key (`GET /v1/consent/receipt-key`) before relying on
 * `receipt`.
 */
export type ConsentReceipt = Partial<SignedReceipt> & { [key: string]: unknown };
