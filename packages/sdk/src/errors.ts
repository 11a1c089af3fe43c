/**
 * The SDK's one registry of error codes. Every `SdkError` carries one of these
 * codes; `packages/sdk/README.md` documents each, and `errors.test.ts` keeps
 * the README and this registry equal.
 */

/** Every code an `SdkError` can carry, with the sentence the README must explain it by. */
export const SDK_ERRORS = {
  "sdk.identity_invalid":
    "The identity file or the region descriptor in it is missing, unreadable or malformed.",
  "sdk.options_invalid":
    "The client was constructed, or a method called, with invalid options (retry or queue bounds, paths, a consent state).",
  "sdk.insecure_transport":
    "An endpoint URL is plain `http://` to a host that is not loopback, or not HTTP(S) at all.",
  "sdk.endpoint_invalid": "The collector's `GET /v1/region` did not answer with a region announcement.",
  "sdk.endpoint_region_mismatch":
    "The collector announces another region (or storage country) than the home region.",
  "sdk.market_region_mismatch":
    "By the market policy the collectors publish, the device's market belongs to another region than the one it was provisioned for.",
  "sdk.endpoint_key_mismatch":
    "The collector announces another region key than the provisioned one, or a kid/key pair that does not match.",
  "sdk.descriptor_invalid":
    "The region descriptor the collector publishes is missing, malformed, or not signed by a fleet root the device trusts (directly or through the published root chain).",
  "sdk.region_key_expired":
    "The verified region descriptor lists no region key in force at the device's time (every key has ended or none has started).",
  "sdk.redirect_refused": "The collector answered with a redirect; the SDK never follows one.",
  "sdk.queue_full": "The on-disk queue has no room for a message that may not be dropped.",
  "sdk.queue_invalid": "A queued message or its target path is malformed.",
  "sdk.event_invalid":
    "A diagnostics event does not match the `uep.diagnostics` v1 fields (an undeclared field, a wrong type, a value out of range) or its time is invalid or in the future.",
  "sdk.offline":
    "The collector could not be reached (network error, timeout, 5xx, 429) within the attempts of one flush.",
  "sdk.rejected":
    "The collector refused the message for good (a 4xx other than 408, 413, 425, 429); it was removed from the queue.",
  "sdk.too_large":
    "A message is larger than the collector takes even on its own (a diagnostics batch of one event, or a message that cannot be split); it stays queued.",
} as const satisfies Record<string, string>;

/** A stable SDK error code. */
export type SdkErrorCode = keyof typeof SDK_ERRORS;

/** The structured error a collector answers with: `{ error: { code, message, path } }`, plus the HTTP status. */
export interface ServerError {
  status: number;
  code: string;
  message: string;
  path?: string;
}

/** Extra facts attached to an error. */
export interface SdkErrorDetails {
  /** The collector's answer, for `sdk.rejected`. */
  server?: ServerError;
  /** Id of the message concerned, when there is one. */
  eventId?: string;
  /** Whether the message is still in the queue (true for `sdk.offline`: a later flush delivers it). */
  queued?: boolean;
  cause?: unknown;
}

/** The only error class the SDK throws on purpose; `code` is stable, `message` is for humans. */
export class SdkError extends Error {
  readonly code: SdkErrorCode;
  readonly server: ServerError | undefined;
  readonly eventId: string | undefined;
  readonly queued: boolean | undefined;

  constructor(code: SdkErrorCode, message: string, details: SdkErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "SdkError";
    this.code = code;
    this.server = details.server;
    this.eventId = details.eventId;
    this.queued = details.queued;
  }
}

/** True when `err` is an `SdkError`, optionally of one code. */
export function isSdkError(err: unknown, code?: SdkErrorCode): err is SdkError {
  return err instanceof SdkError && (code === undefined || err.code === code);
}
