/**
 * The device directory: how a collector learns, from the key id in an
 * envelope's clear header, which factory record (and so which public key,
 * market, batch and build) stands behind it. The control plane owns those
 * records; a collector asks for them in batches and caches the answers.
 */
import type { Directory, Revocation, RevocationFeed } from "@phonehome/shared";
import { PhoneHomeError } from "../errors/index.ts";
import type { ServiceTokenSource } from "../http/index.ts";
import { presentedToken } from "../http/index.ts";

/** A device as the control plane's directory describes it to a collector: the shape of `POST /v1/directory/lookup`. */
export type DirectoryRecord = Directory;

/** Why and when a key was revoked, as a directory record carries it. */
export type { Revocation };

/** Resolves many key ids at once; unknown ids are simply absent from the answer. */
export type LookupMany = (keyIds: readonly string[]) => Promise<DirectoryRecord[]>;

/**
 * Reads the fleet registry's revocation feed: the keys revoked after the
 * cursor `after`, in the order they were revoked, and the cursor to ask next;
 * without a cursor, no revocations and the latest cursor.
 */
export type ReadRevocations = (after: string | undefined) => Promise<RevocationFeed>;

/** A device directory with batching and a bounded cache. */
export interface DeviceDirectory {
  /** The record for one key id, or null when no device has that key. */
  lookup(keyId: string): Promise<DirectoryRecord | null>;
}

/** Options of the caching, batching directory. */
export interface DirectoryOptions {
  /** How long an answer (found or not) is kept, in milliseconds. */
  ttlMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
  /** Most keys asked in one lookup. */
  maxBatch: number;
  /**
   * The revocation feed. With it, a cached record is never staler about its
   * revocation than `revocationsEveryMs` while the feed answers: a lookup
   * waits for the feed to be read again when the last read began longer ago.
   */
  revocations?: ReadRevocations | undefined;
  /** How old, at most, the last read of the revocation feed may be when a lookup is answered, in milliseconds. */
  revocationsEveryMs: number;
}

/**
 * How stale, at most, a replica's knowledge of revocations is while the
 * control plane answers: the bound docs/collector.md states (2 s).
 */
export const REVOCATION_BOUND_MS = 2_000;

const DEFAULTS: DirectoryOptions = {
  ttlMs: 60_000,
  maxEntries: 100_000,
  maxBatch: 500,
  revocationsEveryMs: REVOCATION_BOUND_MS,
};

/**
 * Wraps a many-keys lookup: concurrent `lookup` calls in the same tick become
 * one request, and answers are cached (misses for a shorter time, so a device
 * imported a moment ago is found soon).
 */
export function cachedDirectory(
  lookupMany: LookupMany,
  options: Partial<DirectoryOptions> = {},
): DeviceDirectory {
  const { ttlMs, maxEntries, maxBatch, revocations, revocationsEveryMs } = { ...DEFAULTS, ...options };
  const cache = new Map<string, { record: DirectoryRecord | null; until: number }>();
  // The feed's cursor (undefined until it was first read), when its last read began, and the read under way.
  let cursor: string | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<void> | null = null;
  // Every revocation the feed told of since this directory started (revocations are rare: a few per
  // thousand devices over their life). A lookup that was under way while the feed was read caches its
  // answer with the revocation laid over it, so an answer read before the revocation is never kept.
  const revoked = new Map<string, Revocation>();
  // Bumped when the cache is cleared: a lookup begun before is answered but not cached.
  let generation = 0;

  const readFeed = async (feed: ReadRevocations): Promise<void> => {
    const began = Date.now();
    try {
      if (cursor === undefined) {
        const start = await feed(undefined);
        // Records cached before the feed had a cursor may predate a revocation the feed will not repeat.
        cache.clear();
        generation += 1;
        cursor = start.next;
      }
      for (;;) {
        const page = await feed(cursor);
        for (const r of page.revocations) {
          const revocation = { reason: r.reason, at: r.at };
          if (revoked.size >= maxEntries) revoked.delete(revoked.keys().next().value ?? "");
          revoked.set(r.keyId, revocation);
          const hit = cache.get(r.keyId);
          if (hit?.record) hit.record = { ...hit.record, revoked: revocation };
        }
        cursor = page.next;
        if (page.revocations.length === 0) break;
      }
    } catch {
      // The control plane cannot answer now: cached records are used as they are (as when a lookup
      // fails), and the feed is asked again once `revocationsEveryMs` have passed.
    }
    readAt = began;
  };

  /** Resolves once the feed's last read began less than `revocationsEveryMs` ago (or failed then). */
  const revocationsRead = (feed: ReadRevocations): Promise<void> | null => {
    if (Date.now() - readAt < revocationsEveryMs) return null;
    reading ??= readFeed(feed).finally(() => {
      reading = null;
    });
    return reading;
  };
  let waiting = new Map<
    string,
    { resolve: (r: DirectoryRecord | null) => void; reject: (e: unknown) => void }[]
  >();
  let scheduled = false;

  const drain = async () => {
    scheduled = false;
    const batch = waiting;
    waiting = new Map();
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += maxBatch) {
      const chunk = keys.slice(i, i + maxBatch);
      const begun = generation;
      try {
        const found = new Map((await lookupMany(chunk)).map((r) => [r.keyId, r]));
        const now = Date.now();
        for (const key of chunk) {
          const answered = found.get(key) ?? null;
          const revocation = revoked.get(key);
          const record =
            answered !== null && answered.revoked === null && revocation !== undefined
              ? { ...answered, revoked: revocation }
              : answered;
          if (cache.size >= maxEntries) {
            const oldest = cache.keys().next();
            if (!oldest.done) cache.delete(oldest.value);
          }
          if (begun === generation) {
            cache.set(key, { record, until: now + (record ? ttlMs : Math.min(ttlMs, 5_000)) });
          }
          for (const w of batch.get(key) ?? []) w.resolve(record);
        }
      } catch (error) {
        // The control plane cannot answer now: a device it has vouched for before keeps its record
        // (factory data, which does not change); any other is told to come back later.
        for (const key of chunk) {
          const stale = cache.get(key)?.record;
          for (const w of batch.get(key) ?? []) {
            if (stale) w.resolve(stale);
            else w.reject(directoryUnavailable(error));
          }
        }
      }
    }
  };

  const cached = (keyId: string): Promise<DirectoryRecord | null> => {
    const hit = cache.get(keyId);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.record);
    return new Promise((resolve, reject) => {
      const list = waiting.get(keyId);
      if (list) list.push({ resolve, reject });
      else waiting.set(keyId, [{ resolve, reject }]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void drain());
      }
    });
  };

  return {
    lookup(keyId) {
      const read = revocations === undefined ? null : revocationsRead(revocations);
      return read === null ? cached(keyId) : read.then(() => cached(keyId));
    },
  };
}

/** A failed lookup, as the device is answered: come back later (nothing of its message was kept). */
function directoryUnavailable(error: unknown): PhoneHomeError {
  const reason = error instanceof Error ? error.message : String(error);
  return new PhoneHomeError(
    "service.unavailable",
    `the fleet registry cannot be asked who this device is right now (${reason}); nothing was acknowledged, try again`,
    { cause: error },
  );
}

/**
 * Looks devices up at a control plane over HTTP(S), with the service token
 * that the control plane generated into the shared data directory.
 */
export function httpLookup(controlPlaneUrl: string, serviceToken: ServiceTokenSource): LookupMany {
  const url = new URL("/v1/fleet/directory/lookup", controlPlaneUrl);
  return async (keys) => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${presentedToken(serviceToken)}`,
      },
      body: JSON.stringify({ keys }),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`the control plane answered ${response.status} to a directory lookup`);
    }
    const body = (await response.json()) as { devices: DirectoryRecord[] };
    return body.devices;
  };
}

/** Reads the revocation feed of a control plane over HTTP(S), with the service token. */
export function httpRevocations(controlPlaneUrl: string, serviceToken: ServiceTokenSource): ReadRevocations {
  return async (after) => {
    const url = new URL("/v1/fleet/revocations", controlPlaneUrl);
    if (after !== undefined) url.searchParams.set("after", after);
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${presentedToken(serviceToken)}` },
      // Within the bound: a slow answer is given up, and the next lookup after the bound asks again.
      signal: AbortSignal.timeout(REVOCATION_BOUND_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`the control plane answered ${response.status} to a revocation feed read`);
    }
    return (await response.json()) as RevocationFeed;
  };
}
