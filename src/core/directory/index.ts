/**
 * The device directory: how a collector learns, from the key id in an
 * envelope's clear header, which factory record (and so which public key,
 * market, batch and build) stands behind it. The control plane owns those
 * records; a collector asks for them in batches and caches the answers.
 */
import type { Directory } from "@phonehome/shared";
import { PhoneHomeError } from "../errors/index.ts";
import type { ServiceTokenSource } from "../http/index.ts";
import { presentedToken } from "../http/index.ts";

/** A device as the control plane's directory describes it to a collector: the shape of `POST /v1/directory/lookup`. */
export type DirectoryRecord = Directory;

/** Resolves many key ids at once; unknown ids are simply absent from the answer. */
export type LookupMany = (keyIds: readonly string[]) => Promise<DirectoryRecord[]>;

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
}

const DEFAULTS: DirectoryOptions = { ttlMs: 60_000, maxEntries: 100_000, maxBatch: 500 };

/**
 * Wraps a many-keys lookup: concurrent `lookup` calls in the same tick become
 * one request, and answers are cached (misses for a shorter time, so a device
 * imported a moment ago is found soon).
 */
export function cachedDirectory(
  lookupMany: LookupMany,
  options: Partial<DirectoryOptions> = {},
): DeviceDirectory {
  const { ttlMs, maxEntries, maxBatch } = { ...DEFAULTS, ...options };
  const cache = new Map<string, { record: DirectoryRecord | null; until: number }>();
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
      try {
        const found = new Map((await lookupMany(chunk)).map((r) => [r.keyId, r]));
        const now = Date.now();
        for (const key of chunk) {
          const record = found.get(key) ?? null;
          if (cache.size >= maxEntries) {
            const oldest = cache.keys().next();
            if (!oldest.done) cache.delete(oldest.value);
          }
          cache.set(key, { record, until: now + (record ? ttlMs : Math.min(ttlMs, 5_000)) });
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

  return {
    lookup(keyId) {
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
