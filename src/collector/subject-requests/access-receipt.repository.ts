/**
 * Queries of the access receipts a region issued. One function per query; the
 * caller passes the transaction the receipt is issued in.
 */
import type { Queryable } from "../../core/db/index.ts";

/** Serialises access receipts of the same request id until the transaction ends. */
export async function lockAccessRequest(tx: Queryable, requestId: string): Promise<void> {
  await tx.query(
    "SELECT pg_advisory_xact_lock(hashtext('phonehome.access.' || current_schema() || '.' || $1))",
    [requestId],
  );
}

/** The device a request id was first used for in this region, or null. */
export async function findAccessRequestDevice(q: Queryable, requestId: string): Promise<string | null> {
  const { rows } = await q.query<{ deviceKey: string }>(
    `SELECT device_key AS "deviceKey" FROM access_receipts WHERE request_id = $1 ORDER BY id LIMIT 1`,
    [requestId],
  );
  return rows[0]?.deviceKey ?? null;
}

/** An access receipt as the region records it: counts, digests and the signed receipt; no field value. */
export interface AccessReceiptRecord {
  requestId: string;
  deviceKey: string;
  accessedAt: Date;
  held: unknown;
  jws: string;
  /** When the receipt must be gone (`retention.records` after it was issued). */
  expiresAt: Date;
}

/** Records an access receipt. */
export async function insertAccessReceipt(tx: Queryable, record: AccessReceiptRecord): Promise<void> {
  await tx.query(
    `INSERT INTO access_receipts (request_id, device_key, accessed_at, held, jws, expires_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6)`,
    [
      record.requestId,
      record.deviceKey,
      record.accessedAt.toISOString(),
      JSON.stringify(record.held),
      record.jws,
      record.expiresAt.toISOString(),
    ],
  );
}
