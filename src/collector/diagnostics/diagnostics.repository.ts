/** Queries on a region's diagnostics events. One function per query; the caller passes the database or a transaction. */
import { copyTextLine } from "../../core/db/index.ts";
import type { Queryable } from "../../core/db/index.ts";

/** PostgreSQL's SQLSTATE for a unique violation. */
const UNIQUE_VIOLATION = "23505";

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

const COLUMNS = [
  "device_ref",
  "event_id",
  "collection",
  "schema_version",
  "occurred_at",
  "expires_at",
  "consent_receipt",
  "data",
] as const;

/** The rows in key order (byte order, as `COLLATE "C"` sorts): every writer locks keys in this order. */
function inKeyOrder(rows: readonly DiagnosticsRow[]): { keys: string[]; rows: DiagnosticsRow[] } {
  const keyed = rows.map((row) => ({ key: eventKey(row), row }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { keys: keyed.map((k) => k.key), rows: keyed.map((k) => k.row) };
}

/**
 * Takes the savepoint `insertDiagnosticsEvents` runs its COPY in, ahead of
 * time: made before the statements whose answers decide the rows, it goes out
 * with them instead of a round trip later (docs/decisions/0060). Its failure
 * is answered where it is passed in.
 */
export function diagnosticsSavepoint(tx: Queryable): Promise<unknown> {
  const taken = tx.query("SAVEPOINT diagnostics_copy");
  taken.catch(() => {});
  return taken;
}

/**
 * Stores events, in key order (see the ledger's note on deadlocks); an event
 * already stored (a retried batch) is skipped. Returns the keys (`eventKey`)
 * of the events this call inserted. `tx` must be a transaction: the COPY
 * below runs in a savepoint, `savepoint` when the caller took it already.
 *
 * The rows are first `COPY`ed in, which is what makes diagnostics ingest fast;
 * if any of them is already stored (or the batch repeats one), the COPY fails
 * with a unique violation, is rolled back to its savepoint, and the rows go in
 * through `INSERT ... ON CONFLICT DO NOTHING`, which skips the stored ones.
 *
 * The savepoint's release is not waited for: the transaction's next statement
 * goes out behind it, and fails if it failed (as does the COMMIT).
 */
export async function insertDiagnosticsEvents(
  tx: Queryable,
  rows: readonly DiagnosticsRow[],
  savepoint?: Promise<unknown>,
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { keys, rows: sorted } = inKeyOrder(rows);
  await (savepoint ?? tx.query("SAVEPOINT diagnostics_copy"));
  try {
    let data = "";
    for (const r of sorted) {
      data += copyTextLine([
        r.deviceRef,
        r.eventId,
        r.collection,
        r.schemaVersion,
        r.occurredAt,
        r.expiresAt,
        r.consentReceipt,
        r.data,
      ]);
    }
    await tx.copyIn("diagnostics_events", COLUMNS, data);
    tx.query("RELEASE SAVEPOINT diagnostics_copy").catch(() => {});
    return new Set(keys);
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    await tx.query("ROLLBACK TO SAVEPOINT diagnostics_copy");
  }
  const { rows: inserted } = await tx.query<{ deviceRef: string; eventId: string }>(
    `INSERT INTO diagnostics_events (${COLUMNS.join(", ")})
     SELECT r."deviceRef", r."eventId", r.collection, r."schemaVersion", r."occurredAt", r."expiresAt",
            r."consentReceipt", r.data
       FROM jsonb_to_recordset($1::jsonb) AS r("deviceRef" text, "eventId" uuid, collection text,
            "schemaVersion" integer, "occurredAt" timestamptz, "expiresAt" timestamptz,
            "consentReceipt" uuid, data jsonb)
      ORDER BY r."deviceRef" COLLATE "C", r."eventId"
     ON CONFLICT DO NOTHING
     RETURNING device_ref AS "deviceRef", event_id AS "eventId"`,
    [JSON.stringify(sorted)],
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

/**
 * Where a walk of one device's events stands: the last event read, by its key
 * after `device_ref` in the primary key. `expiresAt` keeps the stored
 * microseconds (RFC 3339, UTC), so the next page starts exactly after it.
 */
export interface EventPosition {
  eventId: string;
  expiresAt: string;
}

const EVENT_COLUMNS = `device_ref AS "deviceRef", event_id AS "eventId", collection, schema_version AS "schemaVersion",
  occurred_at AS "occurredAt", expires_at AS "expiresAt", consent_receipt AS "consentReceipt", data,
  received_at AS "receivedAt",
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "expiresAtKey"`;

/**
 * Up to `limit` events of a device after `after` (from the first when null),
 * in key order (event id, then expiry): a keyset walk along the primary key,
 * so every page costs the same however deep it is. `next` is where the
 * following page starts, null after the last.
 */
export async function findDiagnosticsEventsPage(
  q: Queryable,
  ref: string,
  after: EventPosition | null,
  limit: number,
): Promise<{ events: StoredDiagnosticsEvent[]; next: EventPosition | null }> {
  // One more than asked: whether a next page exists, without counting.
  const params: unknown[] = [ref, limit + 1];
  let from = "";
  if (after !== null) {
    params.push(after.eventId, after.expiresAt);
    from = "AND (event_id, expires_at) > ($3::uuid, $4::timestamptz)";
  }
  const { rows } = await q.query<StoredDiagnosticsEvent & { expiresAtKey: string }>(
    `SELECT ${EVENT_COLUMNS} FROM diagnostics_events
      WHERE device_ref = $1 ${from}
      ORDER BY event_id, expires_at LIMIT $2`,
    params,
  );
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const next =
    rows.length > limit && last !== undefined
      ? { eventId: last.eventId, expiresAt: last.expiresAtKey }
      : null;
  return { events: page.map(({ expiresAtKey: _key, ...event }) => event), next };
}

/** The keys (event id, expiry) of every event of a device: what an access receipt counts and digests. */
export async function findDiagnosticsEventKeys(
  q: Queryable,
  ref: string,
): Promise<{ eventId: string; expiresAt: Date }[]> {
  const { rows } = await q.query<{ eventId: string; expiresAt: Date }>(
    `SELECT event_id AS "eventId", expires_at AS "expiresAt" FROM diagnostics_events
      WHERE device_ref = $1 ORDER BY event_id, expires_at`,
    [ref],
  );
  return rows;
}

/**
 * Deletes every diagnostics event stored under the device's pseudonym
 * (erasure, withdrawal) and returns their keys: one statement, so the keys
 * are exactly the rows that went.
 */
export async function eraseDiagnosticsEvents(
  tx: Queryable,
  ref: string,
): Promise<{ eventId: string; expiresAt: Date }[]> {
  const { rows } = await tx.query<{ eventId: string; expiresAt: Date | string }>(
    `DELETE FROM diagnostics_events WHERE device_ref = $1
     RETURNING event_id::text AS "eventId", expires_at AS "expiresAt"`,
    [ref],
  );
  return rows.map((r) => ({ eventId: r.eventId, expiresAt: new Date(r.expiresAt) }));
}
