/**
 * The one connection a client has: to the collector of its home region. It
 * makes every URL (the provisioned home URL plus a fixed path, checked for
 * transport security), refuses redirects, checks the region the collector
 * announces before the first POST, and knows the limits it announced; a
 * request's failure is told apart as transient (retry, with the backoff here)
 * or a refusal. With fleet roots, the region check verifies the signed region
 * descriptor and hands it to the region trust, which keeps the newest.
 */
import type { Clock, ClientEvent, FetchLike, RetryOptions } from "./client-types.ts";
import { REGION_PATH } from "./client-types.ts";
import { type RootKey, sealingKey } from "./descriptor.ts";
import { SdkError, type ServerError } from "./errors.ts";
import {
  assertSecureTransport,
  checkEndpoint,
  checkSignedEndpoint,
  type RegionAnnouncement,
  type RegionDescriptor,
} from "./region.ts";
import type { RegionTrust } from "./region-trust.ts";

/**
 * How long a verified endpoint is taken as it is, with fleet roots: after that the next request asks
 * `GET /v1/region` again, so a long-running device learns a rotation's next key before the current one ends.
 */
export const ENDPOINT_RECHECK_MS = 60 * 60 * 1000;

/** A failure worth retrying later: why, and how long the server asked to wait. */
export type Transient = { kind: "transient"; reason: string; retryAfterMs: number | undefined };

/** What one request came to: answered, refused for good, or worth retrying. */
export type Exchange =
  { kind: "ok"; status: number; answer: unknown } | { kind: "refused"; server: ServerError } | Transient;

/** What a link needs: the home region, the device's market, and how to reach and wait. */
export interface CollectorLinkOptions {
  home: RegionDescriptor;
  /** The identity's fleet roots; undefined for a legacy identity (pinned to the home key). */
  roots: readonly RootKey[] | undefined;
  /** Where a verified descriptor goes. */
  trust: RegionTrust;
  market: string;
  fetch: FetchLike;
  clock: Clock;
  random: () => number;
  timeoutMs: number;
  retry: Required<RetryOptions>;
  emit: (event: ClientEvent) => void;
}

/** The connection to the home collector. */
export class CollectorLink {
  private readonly home: RegionDescriptor;
  private readonly roots: readonly RootKey[] | undefined;
  private readonly trust: RegionTrust;
  private readonly market: string;
  private readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly emit: (event: ClientEvent) => void;
  private announced: RegionAnnouncement | undefined;
  // When the announcement was verified (clock milliseconds).
  private verifiedAt = 0;

  constructor(options: CollectorLinkOptions) {
    this.home = options.home;
    this.roots = options.roots;
    this.trust = options.trust;
    this.market = options.market;
    // The client has refused an insecure home already; a link is never made to one all the same.
    assertSecureTransport(options.home.url);
    this.baseUrl = options.home.url.replace(/\/+$/, "");
    this.fetchFn = options.fetch;
    this.clock = options.clock;
    this.random = options.random;
    this.timeoutMs = options.timeoutMs;
    this.retry = options.retry;
    this.emit = options.emit;
  }

  /**
   * What the collector announced, once checked in this process; undefined before, after `forget`, and (with
   * fleet roots) once the check is older than `ENDPOINT_RECHECK_MS`.
   */
  get endpoint(): RegionAnnouncement | undefined {
    if (this.roots !== undefined && this.clock.now() - this.verifiedAt >= ENDPOINT_RECHECK_MS)
      return undefined;
    return this.announced;
  }

  /** Drops what the collector announced: the next request asks again (its limits may have changed). */
  forget(): void {
    this.announced = undefined;
  }

  /** Whether a body of `bytes` carrying `events` events is within the limits the collector announced. */
  fits(bytes: number, events: number): boolean {
    const limits = this.announced?.limits;
    if (limits?.maxBodyBytes !== undefined && bytes > limits.maxBodyBytes) return false;
    return limits?.maxDiagnosticsEvents === undefined || events <= limits.maxDiagnosticsEvents;
  }

  /** One request with a JSON body to the home collector (after the endpoint check); a redirect is refused. */
  async exchange(
    method: "POST" | "PUT",
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<Exchange> {
    const url = this.urlFor(path);
    const sent = await this.send(url, {
      method,
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body,
    });
    if ("kind" in sent) return sent;
    const { response, text, status } = sent;
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

  /**
   * One request, never following a redirect (it could lead anywhere; the home
   * URL is the only place a payload may go), within the timeout; a network
   * failure is transient.
   */
  private async send(
    url: string,
    init: Pick<RequestInit, "method" | "headers" | "body">,
  ): Promise<Transient | { response: Response; text: string; status: number }> {
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        ...init,
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      return { kind: "transient", reason: describeNetworkError(err), retryAfterMs: undefined };
    }
    const text = await response.text().catch(() => "");
    return { response, text, status: response.status };
  }

  /** GETs the region announcement and checks it; a transient failure is returned, a refusal thrown. */
  async verifyEndpoint(): Promise<Transient | undefined> {
    const url = this.urlFor(REGION_PATH);
    const sent = await this.send(url, { method: "GET", headers: { accept: "application/json" } });
    if ("kind" in sent) return sent;
    const { response, text, status } = sent;
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
    let announced: RegionAnnouncement;
    let kid: string;
    try {
      if (this.roots === undefined) {
        announced = checkEndpoint(this.home, parseJson(text), this.market);
        kid = announced.kid;
      } else {
        const verified = await checkSignedEndpoint(this.home, this.roots, parseJson(text), this.market);
        announced = verified.announced;
        // The newest verified descriptor is the one used, whichever this collector publishes; with no key
        // in force by the device's clock, nothing is sent (`sdk.region_key_expired`).
        kid = sealingKey(await this.trust.accept(verified), new Date(this.clock.now())).kid;
      }
    } catch (err) {
      this.announced = undefined;
      throw err instanceof SdkError ? this.refuse(err) : err;
    }
    this.announced = announced;
    this.verifiedAt = this.clock.now();
    this.emit({ type: "endpoint_verified", url: this.baseUrl, region: announced.region, kid });
    return undefined;
  }

  offline(path: string, reason: string): SdkError {
    return new SdkError(
      "sdk.offline",
      `${this.urlFor(path)} could not be reached (${reason}); nothing was sent`,
      {
        queued: false,
      },
    );
  }

  refuse(error: SdkError): SdkError {
    this.emit({ type: "endpoint_refused", url: this.baseUrl, error });
    return error;
  }

  /** The only way a URL is made: the provisioned home URL plus a fixed API path. */
  urlFor(path: string): string {
    const url = `${this.baseUrl}${path}`;
    assertSecureTransport(url);
    return url;
  }

  /**
   * Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"). A server's Retry-After (capped at
   * `maxMs`) is a floor the jitter is added to: collectors answer every 503 with the same Retry-After, and
   * devices told the same wait must not all come back in the same instant.
   */
  backoff(retry: number, retryAfter: number | undefined): number {
    const ceiling = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** retry);
    const jittered = Math.floor(this.random() * ceiling);
    return retryAfter === undefined ? jittered : Math.min(retryAfter, this.retry.maxMs) + jittered;
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

export function parseJson(text: string): unknown {
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
