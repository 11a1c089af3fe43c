/**
 * Test helpers for retention and purges: a fresh, migrated region store on a
 * backend, rows put straight into it with every instant chosen by the test
 * (time is injected, never waited for), and a dictionary with a field kept
 * shorter than its record.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type Db, openDb, type Queryable, type StoreConfig } from "../../src/core/db/index.ts";
import { migrate } from "../../src/core/db/migrate.ts";
import { type Dictionary, loadDictionary } from "../../src/core/dictionary/index.ts";
import { SHIPPED_DICTIONARY, sampleDoc, tempDictionary } from "./dictionary.ts";
import type { Backend } from "./stores.ts";

/** A migrated region store on `backend`; `cleanup` closes and removes it. */
export async function freshRegionStore(
  backend: Backend,
  label: string,
): Promise<{ db: Db; store: StoreConfig; cleanup: () => Promise<void> }> {
  const fresh = await backend.fresh(label);
  const db = await openDb(fresh.store);
  await migrate(db, "region");
  return {
    db,
    store: fresh.store,
    cleanup: async () => {
      await db.close().catch(() => {});
      await fresh.cleanup();
    },
  };
}

/** An activation row as the test wants it stored. */
export interface TestActivation {
  deviceKey: string;
  expiresAt: Date;
  receivedAt?: Date;
  schemaVersion?: number;
  data?: Record<string, unknown>;
}

/** Stores activations with the given instants. */
export async function putActivations(q: Queryable, rows: readonly TestActivation[]): Promise<void> {
  const full = rows.map((r) => ({
    deviceKey: r.deviceKey,
    eventId: randomUUID(),
    schemaVersion: r.schemaVersion ?? 1,
    data: r.data ?? { model: "TA-1062", build: "00WW_3_39B_SP03" },
    activatedAt: r.receivedAt ?? new Date("2026-01-01T00:00:00Z"),
    receivedAt: r.receivedAt ?? new Date("2026-01-01T00:00:00Z"),
    expiresAt: r.expiresAt,
  }));
  await q.query(
    `INSERT INTO activations (device_key, event_id, schema_version, data, activated_at, warranty_until, received_at, expires_at)
     SELECT r."deviceKey", r."eventId", r."schemaVersion", r.data, r."activatedAt", r."activatedAt", r."receivedAt", r."expiresAt"
       FROM jsonb_to_recordset($1::jsonb) AS r("deviceKey" text, "eventId" uuid, "schemaVersion" integer, data jsonb,
            "activatedAt" timestamptz, "receivedAt" timestamptz, "expiresAt" timestamptz)`,
    [JSON.stringify(full)],
  );
}

/** A diagnostics event as the test wants it stored. */
export interface TestEvent {
  deviceRef: string;
  expiresAt: Date;
  eventId?: string;
  collection?: string;
  schemaVersion?: number;
  occurredAt?: Date;
  receivedAt?: Date;
  data?: Record<string, unknown>;
}

/** Stores diagnostics events with the given instants; returns their event ids in order. */
export async function putEvents(q: Queryable, rows: readonly TestEvent[]): Promise<string[]> {
  const full = rows.map((r) => ({
    deviceRef: r.deviceRef,
    eventId: r.eventId ?? randomUUID(),
    collection: r.collection ?? "test.diag",
    schemaVersion: r.schemaVersion ?? 1,
    occurredAt: r.occurredAt ?? new Date("2026-01-01T00:00:00Z"),
    receivedAt: r.receivedAt ?? r.occurredAt ?? new Date("2026-01-01T00:00:00Z"),
    expiresAt: r.expiresAt,
    consentReceipt: randomUUID(),
    data: r.data ?? { model: "TA-1062", battery: 80 },
  }));
  await q.query(
    `INSERT INTO diagnostics_events
       (device_ref, event_id, collection, schema_version, occurred_at, received_at, expires_at, consent_receipt, data)
     SELECT r."deviceRef", r."eventId", r.collection, r."schemaVersion", r."occurredAt", r."receivedAt", r."expiresAt",
            r."consentReceipt", r.data
       FROM jsonb_to_recordset($1::jsonb) AS r("deviceRef" text, "eventId" uuid, collection text,
            "schemaVersion" integer, "occurredAt" timestamptz, "receivedAt" timestamptz, "expiresAt" timestamptz,
            "consentReceipt" uuid, data jsonb)`,
    [JSON.stringify(full)],
  );
  return full.map((r) => r.eventId);
}

/** Every diagnostics event: its key, the partition holding it, and its data. */
export async function allEvents(q: Queryable): Promise<
  {
    deviceRef: string;
    eventId: string;
    partition: string;
    collection: string;
    data: Record<string, unknown>;
  }[]
> {
  const { rows } = await q.query<{
    deviceRef: string;
    eventId: string;
    partition: string;
    collection: string;
    data: Record<string, unknown>;
  }>(
    `SELECT device_ref AS "deviceRef", event_id::text AS "eventId", tableoid::regclass::text AS partition,
            collection, data
       FROM diagnostics_events ORDER BY device_ref, event_id`,
  );
  // The schema may prefix the partition's name on PostgreSQL; the name is what tests compare.
  return rows.map((r) => ({ ...r, partition: r.partition.replace(/^.*\./, "") }));
}

/** Every activation's key and data, in key order. */
export async function allActivations(
  q: Queryable,
): Promise<{ deviceKey: string; data: Record<string, unknown> }[]> {
  const { rows } = await q.query<{ deviceKey: string; data: Record<string, unknown> }>(
    `SELECT device_key AS "deviceKey", data FROM activations ORDER BY device_key`,
  );
  return rows;
}

/**
 * A dictionary of the shipped `activation` v1 and a test collection
 * `test.diag` (stored with diagnostics): v1 keeps a year, but its `model`
 * field only 30 days; v2 keeps 90 days and no longer declares `cell`.
 */
export function retentionDictionary(): { dictionary: Dictionary; dir: string; cleanup: () => void } {
  const temp = tempDictionary();
  temp.write("activation/v1.yaml", readFileSync(`${SHIPPED_DICTIONARY}activation/v1.yaml`, "utf8"));
  const v1 = sampleDoc({ collection: "test.diag", version: 1, retention: "P1Y" });
  const model = v1.fields.model;
  if (model) model.retention = "P30D";
  temp.write("test.diag/v1.yaml", v1);
  const v2 = sampleDoc({ collection: "test.diag", version: 2, retention: "P90D" });
  delete v2.fields.cell;
  temp.write("test.diag/v2.yaml", v2);
  const { dictionary } = loadDictionary(temp.dir, { regions: ["global", "cn"] });
  return { dictionary, dir: temp.dir, cleanup: temp.cleanup };
}
