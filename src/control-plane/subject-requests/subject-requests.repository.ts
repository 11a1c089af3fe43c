/**
 * Queries of the control plane's subject-request store: requests and the
 * receipts regions signed for them, never the data they are about. One
 * function per query; the caller passes the database or a transaction.
 */
import type { Queryable } from "../../core/db/index.ts";
import { type ErasureRow, type RecordedErasure, recordedErasure } from "../../core/owners/index.ts";

/** The kinds of subject request the control plane carries out across regions. */
export type SubjectRequestKind = "erasure" | "access";

/** A subject request as stored. */
export interface SubjectRequestRow {
  id: string;
  kind: SubjectRequestKind;
  deviceKey: string;
  requestedAt: Date;
  /** When every configured region had answered a verified receipt; null while one is missing. */
  completedAt: Date | null;
  /** Regions whose receipt is missing after the last attempt, and why. */
  failures: Record<string, string>;
  updatedAt: Date;
}

/** A region's verified receipt for a request. */
export interface StoredReceipt {
  requestId: string;
  region: string;
  receivedAt: Date;
  /** The JWS payload: counts, digests, dates, reasons. */
  receipt: unknown;
  jws: string;
}

const REQUEST = `id::text AS id, kind, device_key AS "deviceKey", requested_at AS "requestedAt",
  completed_at AS "completedAt", failures, updated_at AS "updatedAt"`;

function withDates(row: SubjectRequestRow): SubjectRequestRow {
  return {
    ...row,
    requestedAt: new Date(row.requestedAt),
    completedAt: row.completedAt === null ? null : new Date(row.completedAt),
    updatedAt: new Date(row.updatedAt),
  };
}

/** Records a new request and the owner token it was asked with; a request id already recorded is left as it is. */
export async function insertSubjectRequest(
  q: Queryable,
  request: {
    id: string;
    kind: SubjectRequestKind;
    deviceKey: string;
    requestedAt: Date;
    ownerToken?: { id: string; issuedAt: Date };
  },
): Promise<void> {
  await q.query(
    `INSERT INTO subject_requests (id, kind, device_key, requested_at, updated_at, owner_token_id, owner_token_issued_at)
     VALUES ($1, $2, $3, $4, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
    [
      request.id,
      request.kind,
      request.deviceKey,
      request.requestedAt.toISOString(),
      request.ownerToken?.id ?? null,
      request.ownerToken?.issuedAt.toISOString() ?? null,
    ],
  );
}

/** A device's erasure requests: when each was asked, and the owner token it was asked with. */
export async function findDeviceErasureRequests(q: Queryable, deviceKey: string): Promise<RecordedErasure[]> {
  const { rows } = await q.query<ErasureRow>(
    `SELECT id::text AS "requestId", requested_at AS at, owner_token_id AS "tokenId",
            owner_token_issued_at AS "tokenIssuedAt"
       FROM subject_requests WHERE device_key = $1 AND kind = 'erasure'`,
    [deviceKey],
  );
  return rows.map(recordedErasure);
}

/** The request of that id, or null. */
export async function findSubjectRequest(q: Queryable, id: string): Promise<SubjectRequestRow | null> {
  const { rows } = await q.query<SubjectRequestRow>(`SELECT ${REQUEST} FROM subject_requests WHERE id = $1`, [
    id,
  ]);
  return rows[0] ? withDates(rows[0]) : null;
}

/** Requests in order of arrival, `limit` after the (time, id) cursor `after`. */
export async function listSubjectRequests(
  q: Queryable,
  after: { requestedAt: Date; id: string } | null,
  limit: number,
): Promise<SubjectRequestRow[]> {
  const { rows } = await q.query<SubjectRequestRow>(
    `SELECT ${REQUEST} FROM subject_requests
      WHERE $1::timestamptz IS NULL OR (requested_at, id) > ($1::timestamptz, $2::uuid)
      ORDER BY requested_at, id LIMIT $3`,
    [after?.requestedAt.toISOString() ?? null, after?.id ?? null, limit],
  );
  return rows.map(withDates);
}

/** Stores verified receipts; a region's receipt already stored for the request is kept. */
export async function insertSubjectRequestReceipts(
  q: Queryable,
  receipts: readonly StoredReceipt[],
): Promise<void> {
  if (receipts.length === 0) return;
  await q.query(
    `INSERT INTO subject_request_receipts (request_id, region, received_at, receipt, jws)
     SELECT r."requestId", r.region, r."receivedAt", r.receipt, r.jws
       FROM jsonb_to_recordset($1::jsonb) AS r("requestId" uuid, region text, "receivedAt" timestamptz,
            receipt jsonb, jws text)
      ORDER BY r."requestId", r.region
     ON CONFLICT (request_id, region) DO NOTHING`,
    [JSON.stringify(receipts)],
  );
}

/** The stored receipts of the given requests, by request and region. */
export async function findSubjectRequestReceipts(
  q: Queryable,
  requestIds: readonly string[],
): Promise<StoredReceipt[]> {
  if (requestIds.length === 0) return [];
  const { rows } = await q.query<StoredReceipt>(
    `SELECT request_id::text AS "requestId", region, received_at AS "receivedAt", receipt, jws
       FROM subject_request_receipts
      WHERE request_id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)
      ORDER BY request_id, region`,
    [JSON.stringify(requestIds)],
  );
  return rows.map((r) => ({ ...r, receivedAt: new Date(r.receivedAt) }));
}

/** Records the outcome of an attempt: the regions still missing and why, and whether the request is complete. */
export async function updateSubjectRequestOutcome(
  q: Queryable,
  id: string,
  outcome: { failures: Record<string, string>; completedAt: Date | null; at: Date },
): Promise<void> {
  await q.query(
    `UPDATE subject_requests SET failures = $2::jsonb, completed_at = coalesce(completed_at, $3::timestamptz),
            updated_at = $4 WHERE id = $1`,
    [
      id,
      JSON.stringify(outcome.failures),
      outcome.completedAt?.toISOString() ?? null,
      outcome.at.toISOString(),
    ],
  );
}
