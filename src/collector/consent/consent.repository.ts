/** Queries on a region's consents. One function per query; the caller passes the database or a transaction. */
import type { Queryable } from "../../core/db/index.ts";
import type { Notices } from "./notices.ts";
import type { ConsentMethod, ConsentReceipt } from "@phonehome/shared";

/** How the owner said yes or no. */
export type { ConsentMethod };

/** A decision: an owner's yes or no to one purpose, with the notice shown. */
export interface ConsentDecision {
  deviceKey: string;
  purpose: string;
  granted: boolean;
  noticeVersion: number;
  language: string;
  method: ConsentMethod;
  decidedAt: Date;
  receiptId: string;
}

/** A decision with the signed receipt the owner was given. */
export interface ConsentHistoryEntry extends ConsentDecision {
  receipt: ConsentReceipt;
  /** The receipt as a compact JWS (EdDSA) signed by the region. */
  jws: string;
  /** When read: the end of its keeping as proof, null while it is the decision in force. */
  expiresAt?: Date | null;
}

const DECISION = `device_key AS "deviceKey", purpose, granted, notice_version AS "noticeVersion", language, method,
  decided_at AS "decidedAt", receipt_id AS "receiptId"`;

/**
 * Records a decision: it becomes the one in force for its device and purpose,
 * and joins the history with its receipt; the decision it replaces (whose
 * expiry was null while in force) gets `replacedExpiresAt`. One statement, so
 * all or nothing.
 */
export async function recordConsentDecision(
  tx: Queryable,
  entry: ConsentHistoryEntry,
  replacedExpiresAt: Date,
): Promise<void> {
  await tx.query(
    `WITH replaced AS (
       UPDATE consent_history SET expires_at = $10
        WHERE device_key = $2 AND purpose = $3 AND expires_at IS NULL),
     history AS (
       INSERT INTO consent_history
         (receipt_id, device_key, purpose, granted, notice_version, language, method, decided_at, receipt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb))
     INSERT INTO consents (device_key, purpose, granted, notice_version, language, method, decided_at, receipt_id)
     VALUES ($2, $3, $4, $5, $6, $7, $8, $1)
     ON CONFLICT (device_key, purpose) DO UPDATE SET
       granted = EXCLUDED.granted, notice_version = EXCLUDED.notice_version, language = EXCLUDED.language,
       method = EXCLUDED.method, decided_at = EXCLUDED.decided_at, receipt_id = EXCLUDED.receipt_id`,
    [
      entry.receiptId,
      entry.deviceKey,
      entry.purpose,
      entry.granted,
      entry.noticeVersion,
      entry.language,
      entry.method,
      entry.decidedAt.toISOString(),
      JSON.stringify({ receipt: entry.receipt, jws: entry.jws }),
      replacedExpiresAt.toISOString(),
    ],
  );
}

/**
 * Serialises decisions on one device and purpose until the transaction ends,
 * including the first one, when there is no row yet for `lockConsent` to lock.
 * Must run as its own statement before `lockConsent`, so that the latter's
 * snapshot is taken after the wait and sees the decision committed meanwhile.
 */
export async function lockConsentKey(tx: Queryable, deviceKey: string, purpose: string): Promise<void> {
  await tx.query(
    "SELECT pg_advisory_xact_lock(hashtext('phonehome.consent.' || current_schema() || '.' || $1))",
    [`${deviceKey}/${purpose}`],
  );
}

/**
 * The decision in force for a device and purpose, locking its row until the
 * transaction ends: a decision is taken against the one it replaces, and a
 * diagnostics write that checks the consent row `FOR SHARE` waits for it.
 */
export async function lockConsent(
  tx: Queryable,
  deviceKey: string,
  purpose: string,
): Promise<ConsentDecision | null> {
  const { rows } = await tx.query<ConsentDecision>(
    `SELECT ${DECISION} FROM consents WHERE device_key = $1 AND purpose = $2 FOR UPDATE`,
    [deviceKey, purpose],
  );
  return rows[0] ? withDate(rows[0]) : null;
}

/** The decision in force for a device and purpose, or null when the owner was never asked. */
export async function findConsent(
  q: Queryable,
  deviceKey: string,
  purpose: string,
): Promise<ConsentDecision | null> {
  const { rows } = await q.query<ConsentDecision>(
    `SELECT ${DECISION} FROM consents WHERE device_key = $1 AND purpose = $2`,
    [deviceKey, purpose],
  );
  return rows[0] ? withDate(rows[0]) : null;
}

/** Every decision in force for a device, by purpose. */
export async function findConsents(q: Queryable, deviceKey: string): Promise<ConsentDecision[]> {
  const { rows } = await q.query<ConsentDecision>(
    `SELECT ${DECISION} FROM consents WHERE device_key = $1 ORDER BY purpose`,
    [deviceKey],
  );
  return rows.map(withDate);
}

/** Every decision a device's owner made, oldest first, each with its receipt. */
export async function findConsentHistory(q: Queryable, deviceKey: string): Promise<ConsentHistoryEntry[]> {
  const { rows } = await q.query<
    ConsentDecision & { stored: { receipt: ConsentReceipt; jws: string }; expiresAt: Date | null }
  >(
    `SELECT ${DECISION}, receipt AS stored, expires_at AS "expiresAt"
       FROM consent_history WHERE device_key = $1 ORDER BY decided_at, receipt_id`,
    [deviceKey],
  );
  return rows.map(({ stored, expiresAt, ...decision }) => ({
    ...withDate(decision),
    receipt: stored.receipt,
    jws: stored.jws,
    expiresAt: expiresAt === null || expiresAt === undefined ? null : new Date(expiresAt),
  }));
}

/**
 * The consent that allows collecting for `purpose` from a device now: a yes
 * whose notice version still covers the purpose's current notice (a later
 * version that widened the scope needs a new yes). Null when there is none.
 * The diagnostics collector stores a batch only under such a consent.
 */
export async function findValidConsent(
  q: Queryable,
  notices: Notices,
  deviceKey: string,
  purpose: string,
): Promise<{ receiptId: string; noticeVersion: number } | null> {
  const decision = await findConsent(q, deviceKey, purpose);
  if (!decision?.granted || !notices.covers(purpose, decision.noticeVersion)) return null;
  return { receiptId: decision.receiptId, noticeVersion: decision.noticeVersion };
}

// PGlite and node-postgres both return Date for timestamptz; normalise anyway, as the activation queries do.
function withDate<R extends ConsentDecision>(row: R): R {
  return { ...row, decidedAt: new Date(row.decidedAt) };
}

/** A "yes" in force: the receipt that proves it and the notice version it was given under. */
export interface ConsentInForce {
  receiptId: string;
  noticeVersion: number;
}

/**
 * The "yes" decisions in force for the given devices and purposes, by
 * `deviceKey \0 purpose`, share-locked until the transaction ends: a
 * withdrawal (which updates the row) waits for the batch, or the batch sees it.
 *
 * Its query is made before its first await: the diagnostics writer counts on
 * the share locks going out ahead of the savepoint it makes right after
 * calling this, so that a rollback to that savepoint keeps them.
 */
export async function lockConsentsInForce(
  tx: Queryable,
  wanted: readonly { deviceKey: string; purpose: string }[],
): Promise<Map<string, ConsentInForce>> {
  if (wanted.length === 0) return new Map();
  const { rows } = await tx.query<{
    deviceKey: string;
    purpose: string;
    receiptId: string;
    noticeVersion: number;
  }>(
    `SELECT c.device_key AS "deviceKey", c.purpose, c.receipt_id AS "receiptId", c.notice_version AS "noticeVersion"
       FROM consents c
       JOIN jsonb_to_recordset($1::jsonb) AS w("deviceKey" text, purpose text)
         ON c.device_key = w."deviceKey" AND c.purpose = w.purpose
      WHERE c.granted
      ORDER BY c.device_key, c.purpose
        FOR SHARE OF c`,
    [JSON.stringify(wanted)],
  );
  return new Map(
    rows.map((r) => [
      `${r.deviceKey}\u0000${r.purpose}`,
      { receiptId: r.receiptId, noticeVersion: r.noticeVersion },
    ]),
  );
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
