/**
 * Queries of an erasure in a region's store. One function per query; the
 * caller passes the transaction the whole erasure runs in.
 */
import type { Queryable } from "../../core/db/index.ts";
import { type ErasureRow, type RecordedErasure, recordedErasure } from "../../core/owners/index.ts";

/** The key of a deleted diagnostics event, as the owner's access export shows it. */
export interface DeletedEventKey {
  eventId: string;
  expiresAt: Date;
}

/**
 * Deletes every diagnostics event stored under the device's pseudonym and
 * returns their keys (one statement, so the keys are exactly the rows that went).
 */
export async function eraseDiagnosticsEventKeys(tx: Queryable, ref: string): Promise<DeletedEventKey[]> {
  const { rows } = await tx.query<{ eventId: string; expiresAt: Date | string }>(
    `DELETE FROM diagnostics_events WHERE device_ref = $1
     RETURNING event_id::text AS "eventId", expires_at AS "expiresAt"`,
    [ref],
  );
  return rows.map((r) => ({ eventId: r.eventId, expiresAt: new Date(r.expiresAt) }));
}

/**
 * Deletes the device's activation when its retention has run out by `now`
 * (the warranty record is kept only while it must be); returns the keys of
 * what went. A running warranty record is left in place.
 */
export async function eraseExpiredActivations(
  tx: Queryable,
  deviceKey: string,
  now: Date,
): Promise<{ deviceKey: string; expiresAt: Date }[]> {
  const { rows } = await tx.query<{ deviceKey: string; expiresAt: Date | string }>(
    `DELETE FROM activations WHERE device_key = $1 AND expires_at <= $2::timestamptz
     RETURNING device_key AS "deviceKey", expires_at AS "expiresAt"`,
    [deviceKey, now.toISOString()],
  );
  return rows.map((r) => ({ deviceKey: r.deviceKey, expiresAt: new Date(r.expiresAt) }));
}

/** How many consent decisions in force, and how many history entries, the region holds about a device. */
export async function countConsentRecords(
  q: Queryable,
  deviceKey: string,
): Promise<{ consents: number; history: number }> {
  const { rows } = await q.query<{ consents: number; history: number }>(
    `SELECT (SELECT count(*)::int FROM consents WHERE device_key = $1) AS consents,
            (SELECT count(*)::int FROM consent_history WHERE device_key = $1) AS history`,
    [deviceKey],
  );
  return { consents: rows[0]?.consents ?? 0, history: rows[0]?.history ?? 0 };
}

/**
 * Serialises erasures carrying the same request id until the transaction
 * ends, so that a retry racing the first attempt waits for it and then finds
 * its record instead of erasing twice.
 */
export async function lockErasureRequest(tx: Queryable, requestId: string): Promise<void> {
  await tx.query(
    "SELECT pg_advisory_xact_lock(hashtext('phonehome.erasure.' || current_schema() || '.' || $1))",
    [requestId],
  );
}

/** An erasure as the region records it: no field values, only counts, digests and the signed receipt. */
export interface ErasureRecord {
  requestId: string;
  deviceKey: string;
  erasedAt: Date;
  deleted: unknown;
  kept: unknown;
  jws: string;
  /** When the record must be gone (`retention.records` after the erasure). */
  expiresAt: Date;
  /** The owner token the erasure was asked with: its id and when it was minted. */
  ownerToken: { id: string; issuedAt: Date };
}

/** Records an erasure. */
export async function insertErasure(tx: Queryable, record: ErasureRecord): Promise<void> {
  await tx.query(
    `INSERT INTO erasures (request_id, device_key, erased_at, deleted, kept, jws, expires_at,
                           owner_token_id, owner_token_issued_at)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9)`,
    [
      record.requestId,
      record.deviceKey,
      record.erasedAt.toISOString(),
      JSON.stringify(record.deleted),
      JSON.stringify(record.kept),
      record.jws,
      record.expiresAt.toISOString(),
      record.ownerToken.id,
      record.ownerToken.issuedAt.toISOString(),
    ],
  );
}

/** A device's erasures in this region: when, and the owner token each was asked with. */
export async function findDeviceErasures(q: Queryable, deviceKey: string): Promise<RecordedErasure[]> {
  const { rows } = await q.query<ErasureRow>(
    `SELECT request_id::text AS "requestId", erased_at AS at, owner_token_id AS "tokenId",
            owner_token_issued_at AS "tokenIssuedAt"
       FROM erasures WHERE device_key = $1`,
    [deviceKey],
  );
  return rows.map(recordedErasure);
}

/** The erasure recorded under a request id, or null. */
export async function findErasure(
  q: Queryable,
  requestId: string,
): Promise<{ deviceKey: string; jws: string } | null> {
  const { rows } = await q.query<{ deviceKey: string; jws: string }>(
    `SELECT device_key AS "deviceKey", jws FROM erasures WHERE request_id = $1`,
    [requestId],
  );
  return rows[0] ?? null;
}
