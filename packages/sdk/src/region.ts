/**
 * Region pinning. A device is provisioned at the factory with the descriptor
 * of its home region (id, storage country, collector URL, region key) and the
 * fleet roots it trusts; the SDK talks to that URL only, and only after the
 * collector there has announced the same region and a key its root signed (or,
 * for a legacy identity without roots, the very key provisioned). Everything
 * here is pure: no I/O, so the checks can run before a single byte leaves the
 * device.
 */
import { isIPv4 } from "node:net";
import type {
  CollectorLimits as AnnouncedLimits,
  MarketPolicy,
  RegionAnnouncement as Announcement,
} from "@phonehome/shared";
import { type RegionDescriptorStatement, type RootKey, verifyRegionDescriptor } from "./descriptor.ts";
import { regionKeyId } from "./envelope.ts";
import { SdkError } from "./errors.ts";

/** The home region as provisioned at the factory. */
export interface RegionDescriptor {
  /** Region id, e.g. `global` or `cn`. */
  region: string;
  /** Country where the region stores data, ISO 3166-1 alpha-2 (e.g. `SG`). */
  storedIn: string;
  /** Collector base URL, e.g. `https://global.collect.example.com`; no trailing path is required. */
  url: string;
  /** Id of the region key, `regionKeyId(publicKey)`. */
  kid: string;
  /** The region's X25519 public key, raw 32 bytes, base64url. */
  publicKey: string;
}

/**
 * What a collector announces at `GET /v1/region` (the server's
 * `RegionAnnouncement`), as the SDK reads it: the suite is informative only (a
 * wrong suite fails the seal on the server), and an older collector may leave
 * out the policy and the limits.
 */
export type RegionAnnouncement = Pick<Announcement, "region" | "storedIn" | "kid" | "publicKey"> & {
  suite?: unknown;
  policy?: MarketPolicy;
  limits?: CollectorLimits;
};

/**
 * What a collector announces it takes in one request. Not signed and not
 * needed: a value missing (an older collector) or not a positive whole number
 * is left out, and the SDK then learns the limit from a 413.
 */
export type CollectorLimits = Partial<AnnouncedLimits>;

/** Which region holds the data of devices sold in each market (ISO 3166-1 alpha-2). */
export type { MarketPolicy };

// Raw 32-byte keys are 43 base64url characters without padding.
const KEY_32_BASE64URL = /^[A-Za-z0-9_-]{43}$/;
const REGION_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const COUNTRY = /^[A-Z]{2}$/;

/** True when `b64` is a base64url (unpadded) encoding of exactly 32 bytes. */
export function isRawKey32(b64: unknown): b64 is string {
  return typeof b64 === "string" && KEY_32_BASE64URL.test(b64) && Buffer.from(b64, "base64url").length === 32;
}

/** Validates a provisioned region descriptor; throws `sdk.identity_invalid` naming the bad field. */
export function validateRegionDescriptor(value: unknown, where = "home"): RegionDescriptor {
  const bad = (field: string, why: string): never => {
    throw new SdkError("sdk.identity_invalid", `${where}.${field}: ${why}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad("", "must be an object");
  const v = value as Record<string, unknown>;
  if (typeof v.region !== "string" || !REGION_ID.test(v.region))
    bad("region", "must be a region id like `global`");
  if (typeof v.storedIn !== "string" || !COUNTRY.test(v.storedIn))
    bad("storedIn", "must be an ISO 3166-1 alpha-2 country code");
  if (typeof v.url !== "string") bad("url", "must be a URL string");
  const url = parseUrl(String(v.url));
  if (url === undefined) bad("url", "is not a URL");
  else {
    if (url.protocol !== "https:" && url.protocol !== "http:") bad("url", "must be http(s)");
    if (url.username !== "" || url.password !== "") bad("url", "must not carry credentials");
    if (url.search !== "" || url.hash !== "") bad("url", "must not carry a query or fragment");
  }
  if (!isRawKey32(v.publicKey)) bad("publicKey", "must be a raw 32-byte X25519 key, base64url");
  if (typeof v.kid !== "string" || v.kid !== regionKeyId(String(v.publicKey)))
    bad("kid", "must be the id of publicKey (regionKeyId)");
  return {
    region: String(v.region),
    storedIn: String(v.storedIn),
    url: String(v.url),
    kid: String(v.kid),
    publicKey: String(v.publicKey),
  };
}

/** True for the hosts plain HTTP is allowed to: `localhost`, 127.0.0.0/8 and `::1`. */
export function isLoopbackHost(hostname: string): boolean {
  // WHATWG URL parsing already normalises `127.1`, `0x7f.0.0.1` etc. to dotted quads and brackets IPv6.
  const host = hostname.toLowerCase();
  if (host === "localhost" || host === "[::1]" || host === "::1") return true;
  return isIPv4(host) && host.startsWith("127.");
}

/** Throws `sdk.insecure_transport` unless `url` is https, or http to a loopback host (local development). */
export function assertSecureTransport(url: string): void {
  const parsed = parseUrl(url);
  if (parsed === undefined) throw new SdkError("sdk.insecure_transport", `not a URL: ${url}`);
  if (parsed.protocol === "https:") return;
  if (parsed.protocol === "http:" && isLoopbackHost(parsed.hostname)) return;
  if (parsed.protocol === "http:") {
    throw new SdkError(
      "sdk.insecure_transport",
      `refusing plain http:// to ${parsed.hostname}: only loopback hosts may be reached without TLS`,
    );
  }
  throw new SdkError(
    "sdk.insecure_transport",
    `refusing ${parsed.protocol} URL: only https (or http to loopback)`,
  );
}

/**
 * Checks what a collector announced at `GET /v1/region` against the home descriptor, for a legacy identity
 * (no fleet roots): the announced key must be the very key provisioned. Throws an `SdkError`
 * (`sdk.insecure_transport`, `sdk.endpoint_invalid`, `sdk.endpoint_region_mismatch`,
 * `sdk.endpoint_key_mismatch`, `sdk.market_region_mismatch`) on any difference and returns the announcement
 * when it is the home region.
 */
export function checkEndpoint(home: RegionDescriptor, target: unknown, market?: string): RegionAnnouncement {
  const announced = readAnnouncement(home, target);
  if (announced.kid !== home.kid || announced.publicKey !== home.publicKey) {
    throw new SdkError(
      "sdk.endpoint_key_mismatch",
      `endpoint ${home.url} announces region key ${announced.kid}, but this device was provisioned with ${home.kid}`,
    );
  }
  checkMarket(home, announced, market);
  return announced;
}

/** What a collector announced, with the region descriptor it published verified under the device's roots. */
export interface VerifiedAnnouncement {
  announced: RegionAnnouncement;
  /** The statement of the descriptor, signed by a root the device trusts (directly or through the chain). */
  statement: RegionDescriptorStatement;
  /** The descriptor (compact JWS) and the root chain as published, to keep and verify again later. */
  descriptor: string;
  rootChain: string[];
}

/**
 * Checks what a collector announced at `GET /v1/region` for an identity with fleet roots: the same checks as
 * `checkEndpoint` (transport, region, storage country, market policy), but the region key comes from the
 * published `descriptor`, which must verify under `roots` through the published `rootChain`
 * (`sdk.descriptor_invalid` otherwise: missing, unsigned, `alg: none`, another root, a broken link) and be
 * the home region's (`sdk.endpoint_region_mismatch`). The key announced in clear must be one the descriptor
 * lists (`sdk.endpoint_key_mismatch`). The descriptor's `url` is not compared: the device talks to its
 * factory URL only, whatever a descriptor says, and region and storage country are what the root vouches for.
 */
export async function checkSignedEndpoint(
  home: RegionDescriptor,
  roots: readonly RootKey[],
  target: unknown,
  market?: string,
): Promise<VerifiedAnnouncement> {
  const announced = readAnnouncement(home, target);
  const t = target as Record<string, unknown>;
  const chain = t.rootChain ?? [];
  if (!Array.isArray(chain) || !chain.every((link) => typeof link === "string")) {
    throw new SdkError("sdk.descriptor_invalid", `${home.url}/v1/region: \`rootChain\` is not a list of JWS`);
  }
  const statement = await verifyRegionDescriptor(t.descriptor, roots, chain);
  if (statement.region !== home.region || statement.storedIn !== home.storedIn) {
    throw new SdkError(
      "sdk.endpoint_region_mismatch",
      `endpoint ${home.url} publishes a descriptor of region \`${statement.region}\` stored in ${statement.storedIn}, but this device belongs to \`${home.region}\` stored in ${home.storedIn}`,
    );
  }
  if (!statement.keys.some((k) => k.kid === announced.kid && k.publicKey === announced.publicKey)) {
    throw new SdkError(
      "sdk.endpoint_key_mismatch",
      `endpoint ${home.url} announces region key ${announced.kid}, which its signed descriptor does not list`,
    );
  }
  checkMarket(home, announced, market);
  return { announced, statement, descriptor: t.descriptor as string, rootChain: chain as string[] };
}

/** The announcement's fields, checked for shape, home region and storage country, and a kid that names its key. */
function readAnnouncement(home: RegionDescriptor, target: unknown): RegionAnnouncement {
  assertSecureTransport(home.url);
  if (typeof target !== "object" || target === null || Array.isArray(target)) {
    throw new SdkError("sdk.endpoint_invalid", `${home.url}/v1/region did not answer with a JSON object`);
  }
  const t = target as Record<string, unknown>;
  for (const field of ["region", "storedIn", "kid", "publicKey"] as const) {
    if (typeof t[field] !== "string") {
      throw new SdkError(
        "sdk.endpoint_invalid",
        `${home.url}/v1/region: \`${field}\` is missing or not a string`,
      );
    }
  }
  const announced: RegionAnnouncement = {
    region: String(t.region),
    storedIn: String(t.storedIn),
    kid: String(t.kid),
    publicKey: String(t.publicKey),
    suite: t.suite,
  };
  const policy = parsePolicy(t.policy);
  if (policy) announced.policy = policy;
  const limits = parseLimits(t.limits);
  if (limits) announced.limits = limits;
  // Region first: a collector of another region also has another key, and the region is the fact that matters.
  if (announced.region !== home.region) {
    throw new SdkError(
      "sdk.endpoint_region_mismatch",
      `endpoint ${home.url} serves region \`${announced.region}\`, but this device belongs to \`${home.region}\``,
    );
  }
  if (announced.storedIn !== home.storedIn) {
    throw new SdkError(
      "sdk.endpoint_region_mismatch",
      `endpoint ${home.url} stores data in ${announced.storedIn}, but region \`${home.region}\` stores in ${home.storedIn}`,
    );
  }
  if (!isRawKey32(announced.publicKey) || announced.kid !== regionKeyId(announced.publicKey)) {
    throw new SdkError(
      "sdk.endpoint_key_mismatch",
      `endpoint ${home.url} announces kid ${announced.kid} that is not the id of its public key`,
    );
  }
  return announced;
}

/**
 * The incident: a device of one market provisioned with another region's descriptor. The collectors publish
 * the market policy; a device whose market belongs elsewhere stops here.
 */
function checkMarket(
  home: RegionDescriptor,
  announced: RegionAnnouncement,
  market: string | undefined,
): void {
  const { policy } = announced;
  if (market === undefined || policy === undefined) return;
  const belongs = policy.markets[market] ?? policy.default;
  if (belongs !== home.region) {
    throw new SdkError(
      "sdk.market_region_mismatch",
      `devices sold in ${market} belong to region \`${belongs}\`, but this device was provisioned for \`${home.region}\``,
    );
  }
}

function parsePolicy(value: unknown): MarketPolicy | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as { markets?: unknown; default?: unknown };
  if (typeof v.default !== "string" || typeof v.markets !== "object" || v.markets === null) return undefined;
  const markets: Record<string, string> = {};
  for (const [k, r] of Object.entries(v.markets)) if (typeof r === "string") markets[k] = r;
  return { markets, default: v.default };
}

function parseLimits(value: unknown): CollectorLimits | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const limits: CollectorLimits = {};
  for (const key of ["maxBodyBytes", "maxDiagnosticsEvents"] as const) {
    const n = v[key];
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 1) limits[key] = n;
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
