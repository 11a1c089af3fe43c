/** A region's keys on a fresh store of a backend, with a data directory of their own, for the region-keys tests. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegionKeyRing, type RegionKeysContext } from "../../src/collector/region-keys/index.ts";
import { type Db, migrate, openDb } from "../../src/core/db/index.ts";
import { loadFleetTrust, loadKeyWrapSecret } from "../../src/core/keys/index.ts";
import { createLogger } from "../../src/core/log/index.ts";
import type { Backend } from "./stores.ts";

const DAY = 86_400_000;

/** What a region-keys test works on. */
export interface RegionKeysFixture {
  db: Db;
  dataDir: string;
  ctx: RegionKeysContext;
  ring: RegionKeyRing;
  /** Closes the store and removes it and the data directory. */
  close(): Promise<void>;
}

/**
 * A migrated region store, a data directory with the embedded default's root
 * and a key-wrapping secret, the keys' context (lifetime P90D, overlap P30D,
 * start PT24H) and a key ring on `clock`.
 */
export async function regionKeysFixture(
  backend: Backend,
  label: string,
  options: { url?: string; clock?: () => Date } = {},
): Promise<RegionKeysFixture> {
  const fresh = await backend.fresh(label);
  const db = await openDb(fresh.store);
  await migrate(db, "region");
  const dataDir = mkdtempSync(join(tmpdir(), `phonehome-${label}-`));
  await loadFleetTrust(dataDir);
  const wrapSecret = loadKeyWrapSecret(dataDir, "global");
  const ctx: RegionKeysContext = {
    db,
    region: { id: "global", storedIn: "SG" },
    url: () => options.url ?? "https://global.example.com",
    dataDir,
    wrapSecret,
    policy: { lifetimeMs: 90 * DAY, overlapMs: 30 * DAY, startsInMs: DAY },
  };
  const ring = new RegionKeyRing({
    db,
    region: "global",
    dataDir,
    wrapSecret,
    logger: createLogger("silent"),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  return {
    db,
    dataDir,
    ctx,
    ring,
    close: async () => {
      await db.close();
      await fresh.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
