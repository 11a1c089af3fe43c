/**
 * Queries of an erasure in a region's store. One function per query; the
 * caller passes the transaction the whole erasure runs in.
 */
import type { Queryable } from "../../core/db/index.ts";
import { type ErasureRow, type RecordedErasure, recordedErasure } from "../../core/owners/index.ts";

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
