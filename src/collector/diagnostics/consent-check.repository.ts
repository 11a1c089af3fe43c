/** The consent check of the diagnostics write path, run inside the transaction that stores the batch. */
import type { Queryable } from "../../core/db/index.ts";

/** A "yes" in force: the receipt that proves it and the notice version it was given under. */
export interface ConsentInForce {
  receiptId: string;
  noticeVersion: number;
}

/**
 * The "yes" decisions in force for the given devices and purposes, by
 * `deviceKey \0 purpose`, share-locked until the transaction ends: a
 * withdrawal (which updates the row) waits for the batch, or the batch sees it.
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
