/** Queries on a region's activations. One function per query; the caller passes the database or a transaction. */
import type { Queryable } from "../../core/db/index.ts";

/** An activation about to be stored: only declared fields, already transformed. */
export interface ActivationRow {
  deviceKey: string;
  eventId: string;
  schemaVersion: number;
  data: Record<string, unknown>;
  activatedAt: Date;
  warrantyUntil: Date;
  expiresAt: Date;
}

/** An activation as stored. */
export interface StoredActivation extends ActivationRow {
  receivedAt: Date;
}

const COLUMNS = `device_key AS "deviceKey", event_id AS "eventId", schema_version AS "schemaVersion", data,
  activated_at AS "activatedAt", warranty_until AS "warrantyUntil", expires_at AS "expiresAt", received_at AS "receivedAt"`;

/** What a device is answered about its activation: the first one stored, without its payload. */
export type ActivationReceipt = Pick<
  StoredActivation,
  "deviceKey" | "eventId" | "schemaVersion" | "activatedAt" | "warrantyUntil"
>;

/**
 * Inserts the activations of devices that have none yet and answers, in one
 * statement (one round trip), the stored activation of every device in `rows`
 * with whether this call stored it; a device that already activated keeps its
 * first activation. Rows go in key order, so that concurrent group commits
 * wait on each other's keys in the same order, and a device twice in one
 * batch is stored from the first it sent. For a row it stored, the
 * statement answers only its key and event id (the rest is what was sent, not
 * parsed back); for one already there, what the device is answered.
 *
 * A device whose activation another transaction committed while this
 * statement waited for it is in neither half of the statement's answer (its
 * snapshot predates that commit): it is read again by a second statement,
 * which sees it.
 */
export async function storeActivations(
  tx: Queryable,
  rows: readonly ActivationRow[],
): Promise<{ stored: Map<string, ActivationReceipt>; inserted: Set<string> }> {
  const stored = new Map<string, ActivationReceipt>();
  const inserted = new Set<string>();
  if (rows.length === 0) return { stored, inserted };
  const { rows: answered } = await tx.query<
    { deviceKey: string; eventId: string; fresh: boolean } & {
      [F in "schemaVersion" | "activatedAt" | "warrantyUntil"]: ActivationReceipt[F] | null;
    }
  >(
    `WITH input AS (
       SELECT * FROM ROWS FROM (
                jsonb_to_recordset($1::jsonb) AS ("deviceKey" text, "eventId" uuid, "schemaVersion" integer,
                                                  data jsonb, "activatedAt" timestamptz,
                                                  "warrantyUntil" timestamptz, "expiresAt" timestamptz)
              ) WITH ORDINALITY AS r("deviceKey", "eventId", "schemaVersion", data, "activatedAt",
                                     "warrantyUntil", "expiresAt", sent)
     ), added AS (
       INSERT INTO activations (device_key, event_id, schema_version, data, activated_at, warranty_until, expires_at)
       SELECT "deviceKey", "eventId", "schemaVersion", data, "activatedAt", "warrantyUntil", "expiresAt"
         FROM input ORDER BY "deviceKey", sent
       ON CONFLICT (device_key) DO NOTHING
       RETURNING device_key, event_id
     )
     SELECT device_key AS "deviceKey", event_id AS "eventId", true AS fresh, NULL::integer AS "schemaVersion",
            NULL::timestamptz AS "activatedAt", NULL::timestamptz AS "warrantyUntil"
       FROM added
     UNION ALL
     SELECT device_key AS "deviceKey", event_id AS "eventId", false AS fresh, schema_version AS "schemaVersion",
            activated_at AS "activatedAt", warranty_until AS "warrantyUntil"
       FROM activations
      WHERE device_key IN (SELECT "deviceKey" FROM input)
        AND device_key NOT IN (SELECT device_key FROM added)`,
    [JSON.stringify(rows)],
  );
  // A stored row is the input row with its key and event id (a device twice in one batch: the one stored).
  const sent = new Map(rows.map((r) => [`${r.deviceKey}\u0000${r.eventId}`, r]));
  for (const a of answered) {
    const row = a.fresh ? sent.get(`${a.deviceKey}\u0000${a.eventId}`) : a;
    if (
      row === undefined ||
      row.schemaVersion === null ||
      row.activatedAt === null ||
      row.warrantyUntil === null
    ) {
      throw new Error(`the activation of ${a.deviceKey} came back incomplete`);
    }
    stored.set(a.deviceKey, {
      deviceKey: a.deviceKey,
      eventId: a.eventId,
      schemaVersion: row.schemaVersion,
      activatedAt: row.activatedAt,
      warrantyUntil: row.warrantyUntil,
    });
    if (a.fresh) inserted.add(a.deviceKey);
  }
  const unseen = [...new Set(rows.map((r) => r.deviceKey))].filter((key) => !stored.has(key));
  for (const activation of await findActivations(tx, unseen)) stored.set(activation.deviceKey, activation);
  return { stored, inserted };
}

/** The stored activations of the given devices. */
export async function findActivations(
  q: Queryable,
  deviceKeys: readonly string[],
): Promise<StoredActivation[]> {
  if (deviceKeys.length === 0) return [];
  const { rows } = await q.query<StoredActivation>(
    `SELECT ${COLUMNS} FROM activations WHERE device_key IN (SELECT jsonb_array_elements_text($1::jsonb))`,
    [JSON.stringify(deviceKeys)],
  );
  return rows;
}

/** Every activation, in key order, `limit` at a time after `after` (for audits and tests). */
export async function listActivations(
  q: Queryable,
  after: string,
  limit: number,
): Promise<StoredActivation[]> {
  const { rows } = await q.query<StoredActivation>(
    `SELECT ${COLUMNS} FROM activations WHERE device_key > $1 ORDER BY device_key LIMIT $2`,
    [after, limit],
  );
  return rows;
}

/** How many activations the region holds. */
export async function countActivations(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM activations");
  return rows[0]?.n ?? 0;
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
