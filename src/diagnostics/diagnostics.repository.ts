/** Queries on a region's diagnostics events. One function per query; the caller passes the database or a transaction. */
import { createHmac } from "node:crypto";
import type { Queryable } from "../db/index.ts";

/**
 * The region-keyed pseudonym diagnostics are stored under: HMAC-SHA256 of the
 * device's key id with the region's pseudonymisation secret. Only the region
 * can compute it, so its rows cannot be joined to a serial or across regions.
 */
export function deviceRef(pseudonymSecret: Uint8Array, deviceKey: string): string {
  return `dr_${createHmac("sha256", pseudonymSecret).update(`device\u0000${deviceKey}`).digest("base64url")}`;
}

/** A diagnostics event about to be stored: declared fields only, already transformed. */
export interface DiagnosticsRow {
  deviceRef: string;
  eventId: string;
  collection: string;
  schemaVersion: number;
  occurredAt: Date;
  expiresAt: Date;
  consentReceipt: string;
  data: Record<string, unknown>;
}

/** The key of a stored event within a region: `deviceRef` and `eventId`. */
export function eventKey(row: { deviceRef: string; eventId: string }): string {
  return `${row.deviceRef}\u0000${row.eventId}`;
}

/**
 * Stores events in one statement, in key order (see the ledger's note on
 * deadlocks); an event already stored (a retried batch) is skipped. Returns
 * the keys (`eventKey`) of the events this call inserted.
 */
export async function insertDiagnosticsEvents(
  tx: Queryable,
  rows: readonly DiagnosticsRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await tx.query<{ deviceRef: string; eventId: string }>(
    `INSERT INTO diagnostics_events
       (device_ref, event_id, collection, schema_version, occurred_at, expires_at, consent_receipt, data)
     SELECT r."deviceRef", r."eventId", r.collection, r."schemaVersion", r."occurredAt", r."expiresAt",
            r."consentReceipt", r.data
       FROM jsonb_to_recordset($1::jsonb) AS r("deviceRef" text, "eventId" uuid, collection text,
            "schemaVersion" integer, "occurredAt" timestamptz, "expiresAt" timestamptz,
            "consentReceipt" uuid, data jsonb)
      ORDER BY r."deviceRef", r."eventId"
     ON CONFLICT DO NOTHING
     RETURNING device_ref AS "deviceRef", event_id AS "eventId"`,
    [JSON.stringify(rows)],
  );
  return new Set(inserted.map(eventKey));
}

/** A stored diagnostics event. */
export interface StoredDiagnosticsEvent extends DiagnosticsRow {
  receivedAt: Date;
}

/** Every event stored about a device, oldest first. */
export async function findDiagnosticsEvents(q: Queryable, ref: string): Promise<StoredDiagnosticsEvent[]> {
  const { rows } = await q.query<StoredDiagnosticsEvent>(
    `SELECT device_ref AS "deviceRef", event_id AS "eventId", collection, schema_version AS "schemaVersion",
            occurred_at AS "occurredAt", expires_at AS "expiresAt", consent_receipt AS "consentReceipt", data,
            received_at AS "receivedAt"
       FROM diagnostics_events WHERE device_ref = $1 ORDER BY occurred_at, event_id`,
    [ref],
  );
  return rows;
}

/** Deletes every diagnostics event of a device (withdrawal, erasure); returns how many. */
export async function eraseDiagnosticsEvents(tx: Queryable, ref: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `WITH gone AS (DELETE FROM diagnostics_events WHERE device_ref = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
    [ref],
  );
  return rows[0]?.n ?? 0;
}
