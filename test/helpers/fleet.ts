/**
 * Shared set-up of the fleet tests: a fresh, migrated control-plane store on
 * a given backend, demo factory documents, and CSV rendering.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig, type Config } from "../../src/core/config/index.ts";
import { type Db, openDb, type Queryable, type StoreConfig } from "../../src/core/db/index.ts";
import { migrate } from "../../src/core/db/migrate.ts";
import { type DemoFleet, generateDemoFleet } from "../../src/control-plane/fleet/fleet.generate.ts";
import { CSV_COLUMNS, type FactoryDevice } from "../../src/control-plane/fleet/fleet.schema.ts";
import type { Backend } from "./stores.ts";

/** The default configuration: CN to region `cn`, every other market to `global`. */
export const TEST_CONFIG: Config = buildConfig({}, tmpdir());

/** A migrated, empty control-plane store; `close` closes and removes it. */
export interface TestRegistry {
  db: Db;
  store: StoreConfig;
  close(): Promise<void>;
}

/** Opens a fresh control-plane store on `backend` and applies the control migrations. */
export async function freshRegistry(backend: Backend, label: string): Promise<TestRegistry> {
  const { store, cleanup } = await backend.fresh(label);
  const db = await openDb(store);
  await migrate(db, "control");
  return {
    db,
    store,
    close: async () => {
      await db.close();
      await cleanup();
    },
  };
}

/** A reproducible demo fleet (default markets NO, FI, DE, CN). */
export function demoFleet(devices: number, seed = "fleet-tests", markets?: string[]): DemoFleet {
  return generateDemoFleet({ devices, seed, markets });
}

/** A temporary folder, removed by the returned function. */
export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `phonehome-fleet-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `content` to `dir/name` and returns the path. */
export function writeFile(dir: string, name: string, content: string | object): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return path;
}

/** Renders devices as a CSV factory file with the given column order. */
export function toCsv(devices: readonly FactoryDevice[], columns: readonly string[] = CSV_COLUMNS): string {
  const lines = [columns.join(",")];
  for (const d of devices) lines.push(columns.map((c) => d[c as keyof FactoryDevice]).join(","));
  return `${lines.join("\n")}\n`;
}

/** Row counts of every fleet table, to show that a failed import wrote nothing. */
export async function tableCounts(q: Queryable): Promise<Record<string, number>> {
  const { rows } = await q.query<Record<string, number>>(
    `SELECT (SELECT count(*)::int FROM models) AS models, (SELECT count(*)::int FROM variants) AS variants,
            (SELECT count(*)::int FROM builds) AS builds, (SELECT count(*)::int FROM batches) AS batches,
            (SELECT count(*)::int FROM devices) AS devices`,
  );
  return { ...rows[0] };
}

/** Empties every fleet table: cheaper than a fresh store, which costs PGlite a second or two. */
export async function emptyRegistry(q: Queryable): Promise<void> {
  await q.query(
    `TRUNCATE device_keys, devices, batches, builds, variants, models, rollouts, rollout_outcomes, rollout_reports, advisories,
       advisory_fixes, incidents, incident_devices, incident_events, incident_notices`,
  );
}

/** Wraps a store so that the test can count the statements a function sends. */
export function countingQueries(q: Queryable): { q: Queryable; count: () => number } {
  let n = 0;
  return {
    q: {
      query: (sql, params) => {
        n += 1;
        return q.query(sql, params);
      },
      copyIn: (table, columns, data) => {
        n += 1;
        return q.copyIn(table, columns, data);
      },
    },
    count: () => n,
  };
}

/**
 * A factory file (JSON) of one model, variant `00WW` (region global), build
 * 00WW_3_39B_SP03 and one batch `batch` of market NO holding `devices`: the
 * fleet the process-level tests switch on.
 */
export function oneBatchFactoryFile(
  batch: string,
  devices: readonly { serial: string; model: string; variant: string; market: string; publicKey: string }[],
): string {
  return JSON.stringify({
    version: 1,
    models: [{ id: "TA-1062", name: "Test phone", warrantyMonths: 24 }],
    variants: [{ id: "00WW", model: "TA-1062", region: "global", description: "worldwide" }],
    builds: [{ number: "00WW_3_39B_SP03", model: "TA-1062", variant: "00WW", releasedAt: null }],
    batches: [
      {
        id: batch,
        model: "TA-1062",
        variant: "00WW",
        market: "NO",
        build: "00WW_3_39B_SP03",
        producedAt: "2019-03-01T08:00:00Z",
        size: devices.length,
      },
    ],
    devices: devices.map((d) => ({
      serial: d.serial,
      model: d.model,
      variant: d.variant,
      market: d.market,
      batch,
      publicKey: d.publicKey,
    })),
  });
}
