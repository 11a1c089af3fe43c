/**
 * Queries of a region's keys (`region_keys`) and its descriptor
 * (`region_descriptor`). One function per query; the caller passes the
 * database or a transaction.
 */
import type { Queryable } from "../../core/db/index.ts";

/** What a key is for: devices seal to `seal` keys; receipts are signed with `receipts` keys. */
export type KeyPurpose = "seal" | "receipts";

/** A key as stored: its private half wrapped under the data directory's key-wrapping secret. */
export interface StoredKey {
  purpose: KeyPurpose;
  kid: string;
  publicKey: string;
  sealedPrivate: string;
  notBefore: Date;
  /** Null for receipt keys: they never end. */
  notAfter: Date | null;
  status: "pending" | "published";
  createdAt: Date;
  endedAt: Date | null;
  /** A pending seal key's prepared descriptor statement (null otherwise). */
  statement: unknown;
}

/** The descriptor in force. */
export interface StoredDescriptor {
  jws: string;
  rootKid: string;
  issuedAt: Date;
}

const COLUMNS = `purpose, kid, public_key AS "publicKey", sealed_private AS "sealedPrivate",
  not_before AS "notBefore", not_after AS "notAfter", status, created_at AS "createdAt", ended_at AS "endedAt", statement`;

/** Makes every key read's timestamps Dates (PGlite and pg agree on timestamptz, but not on null handling). */
function keyRow(r: StoredKey): StoredKey {
  return {
    ...r,
    notBefore: new Date(r.notBefore),
    notAfter: r.notAfter === null ? null : new Date(r.notAfter),
    createdAt: new Date(r.createdAt),
    endedAt: r.endedAt === null ? null : new Date(r.endedAt),
  };
}

/** Takes the region's key lock for the transaction: rotations, imports and endings happen one at a time. */
export async function lockRegionKeys(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.region_keys.' || current_schema()))");
}

/** Every key of the region, pending ones included, oldest `not_before` first. */
export async function listRegionKeys(q: Queryable): Promise<StoredKey[]> {
  const { rows } = await q.query<StoredKey>(
    `SELECT ${COLUMNS} FROM region_keys ORDER BY purpose, not_before, kid`,
  );
  return rows.map(keyRow);
}

/** Inserts a key. */
export async function insertRegionKey(
  q: Queryable,
  key: Omit<StoredKey, "createdAt" | "endedAt">,
): Promise<void> {
  await q.query(
    `INSERT INTO region_keys (purpose, kid, public_key, sealed_private, not_before, not_after, status, statement)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`,
    [
      key.purpose,
      key.kid,
      key.publicKey,
      key.sealedPrivate,
      key.notBefore.toISOString(),
      key.notAfter?.toISOString() ?? null,
      key.status,
      key.statement === null ? null : JSON.stringify(key.statement),
    ],
  );
}

/** Removes the pending keys of a purpose (a rotation prepared again, or abandoned); answers their kids. */
export async function deletePendingKeys(q: Queryable, purpose: KeyPurpose): Promise<string[]> {
  const { rows } = await q.query<{ kid: string }>(
    `DELETE FROM region_keys WHERE purpose = $1 AND status = 'pending' RETURNING kid`,
    [purpose],
  );
  return rows.map((r) => r.kid);
}

/** Publishes a pending key. */
export async function publishKey(q: Queryable, purpose: KeyPurpose, kid: string): Promise<void> {
  await q.query(`UPDATE region_keys SET status = 'published' WHERE purpose = $1 AND kid = $2`, [
    purpose,
    kid,
  ]);
}

/** Sets the end of a seal key (a rotation shortens the previous key to the new one's start plus the overlap). */
export async function setKeyEnd(q: Queryable, kid: string, notAfter: Date): Promise<void> {
  await q.query(`UPDATE region_keys SET not_after = $2 WHERE purpose = 'seal' AND kid = $1`, [
    kid,
    notAfter.toISOString(),
  ]);
}

/** Records the end of the seal keys past their `not_after` not yet recorded; answers them. */
export async function markEndedKeys(q: Queryable, now: Date): Promise<{ kid: string; notAfter: Date }[]> {
  const { rows } = await q.query<{ kid: string; notAfter: Date }>(
    `UPDATE region_keys SET ended_at = $1
      WHERE purpose = 'seal' AND status = 'published' AND ended_at IS NULL AND not_after <= $1
      RETURNING kid, not_after AS "notAfter"`,
    [now.toISOString()],
  );
  return rows.map((r) => ({ kid: r.kid, notAfter: new Date(r.notAfter) }));
}

/** The descriptor in force, or null before the first is published. */
export async function currentDescriptor(q: Queryable): Promise<StoredDescriptor | null> {
  const { rows } = await q.query<StoredDescriptor>(
    `SELECT jws, root_kid AS "rootKid", issued_at AS "issuedAt" FROM region_descriptor WHERE id = 1`,
  );
  const row = rows[0];
  return row === undefined ? null : { ...row, issuedAt: new Date(row.issuedAt) };
}

/** Stores the descriptor in force, replacing the one before. */
export async function storeDescriptor(q: Queryable, descriptor: StoredDescriptor): Promise<void> {
  await q.query(
    `INSERT INTO region_descriptor (id, jws, root_kid, issued_at, published_at) VALUES (1, $1, $2, $3, now())
     ON CONFLICT (id) DO UPDATE SET jws = EXCLUDED.jws, root_kid = EXCLUDED.root_kid,
       issued_at = EXCLUDED.issued_at, published_at = EXCLUDED.published_at`,
    [descriptor.jws, descriptor.rootKid, descriptor.issuedAt.toISOString()],
  );
}
