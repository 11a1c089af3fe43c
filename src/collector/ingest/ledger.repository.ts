/**
 * The ingest ledger: counts of what a region's collector stored, replayed and
 * refused, by reason, collection, batch, build and market, per minute. It holds
 * no payload and no device identity, so it can show that nothing was kept.
 */
import type { LedgerTotal } from "@phonehome/shared";
import type { Queryable } from "../../core/db/index.ts";

/** One counted outcome. Unknown parts are ''. */
export interface LedgerEntry {
  outcome: "stored" | "replayed" | "refused";
  /** `stored`, `replayed`, or the error code of the refusal. */
  reason: string;
  collection: string;
  schemaVersion: number;
  batch: string;
  build: string;
  market: string;
}

/** A misrouting sighting: a device of `market` reached a region that is not `expectedRegion`. */
export interface MisroutingSighting {
  batch: string;
  build: string;
  market: string;
  expectedRegion: string;
  claimedRegion: string;
}

/**
 * Adds the entries to the ledger, one statement for the whole list. Rows are
 * written in key order, so that two group commits in flight at once lock the
 * counters they share in the same order and cannot deadlock.
 */
export async function addLedgerCounts(
  tx: Queryable,
  entries: readonly LedgerEntry[],
  at: Date,
): Promise<void> {
  if (entries.length === 0) return;
  const minute = new Date(Math.floor(at.getTime() / 60_000) * 60_000).toISOString();
  const counts = new Map<string, LedgerEntry & { count: number }>();
  for (const e of entries) {
    const key = JSON.stringify([
      e.outcome,
      e.reason,
      e.collection,
      e.schemaVersion,
      e.batch,
      e.build,
      e.market,
    ]);
    const row = counts.get(key);
    if (row) row.count += 1;
    else counts.set(key, { ...e, count: 1 });
  }
  await tx.query(
    `INSERT INTO ingest_ledger (minute, outcome, reason, collection, schema_version, batch, build, market, count)
     SELECT $1::timestamptz, r.outcome, r.reason, r.collection, r."schemaVersion", r.batch, r.build, r.market, r.count
       FROM jsonb_to_recordset($2::jsonb) AS r(outcome text, reason text, collection text, "schemaVersion" integer,
                                              batch text, build text, market text, count integer)
      ORDER BY r.outcome, r.reason, r.collection, r."schemaVersion", r.batch, r.build, r.market
     ON CONFLICT (minute, outcome, reason, collection, schema_version, batch, build, market)
     DO UPDATE SET count = ingest_ledger.count + excluded.count`,
    [minute, JSON.stringify([...counts.values()])],
  );
}

/** Records misrouting sightings, one statement for the whole list, in key order (see `addLedgerCounts`). */
export async function recordMisrouting(
  tx: Queryable,
  sightings: readonly MisroutingSighting[],
  at: Date,
): Promise<void> {
  if (sightings.length === 0) return;
  const counts = new Map<string, MisroutingSighting & { count: number }>();
  for (const s of sightings) {
    const key = JSON.stringify([s.batch, s.build, s.market, s.expectedRegion, s.claimedRegion]);
    const row = counts.get(key);
    if (row) row.count += 1;
    else counts.set(key, { ...s, count: 1 });
  }
  await tx.query(
    `INSERT INTO misrouting_alerts (batch, build, market, expected_region, claimed_region, first_seen, last_seen, count)
     SELECT r.batch, r.build, r.market, r."expectedRegion", r."claimedRegion", $1::timestamptz, $1::timestamptz, r.count
       FROM jsonb_to_recordset($2::jsonb) AS r(batch text, build text, market text, "expectedRegion" text,
                                              "claimedRegion" text, count integer)
      ORDER BY r.batch, r.build, r.market, r."expectedRegion", r."claimedRegion"
     ON CONFLICT (batch, build, market, expected_region, claimed_region)
     DO UPDATE SET last_seen = excluded.last_seen, count = misrouting_alerts.count + excluded.count`,
    [at.toISOString(), JSON.stringify([...counts.values()])],
  );
}

/** A ledger row as read back. */
export interface LedgerRow extends LedgerEntry {
  minute: Date;
  count: number;
}

/** Ledger rows since `since`, newest first, at most `limit`. */
export async function listLedger(q: Queryable, since: Date, limit: number): Promise<LedgerRow[]> {
  const { rows } = await q.query<LedgerRow>(
    `SELECT minute, outcome, reason, collection, schema_version AS "schemaVersion", batch, build, market, count
       FROM ingest_ledger WHERE minute >= $1 ORDER BY minute DESC, count DESC LIMIT $2`,
    [since.toISOString(), limit],
  );
  return rows;
}

/**
 * Ledger counts in [since, until), summed by outcome, reason, collection,
 * batch, build and market; only of the listed batches and builds (an empty
 * list admits every one).
 */
export async function ledgerTotals(
  q: Queryable,
  window: { since: Date; until: Date },
  of: { batches: readonly string[]; builds: readonly string[] },
): Promise<LedgerTotal[]> {
  const { rows } = await q.query<LedgerTotal>(
    `SELECT outcome, reason, collection, batch, build, market, sum(count)::integer AS count
       FROM ingest_ledger
      WHERE minute >= $1 AND minute < $2
        AND ($3::jsonb = '[]'::jsonb OR batch IN (SELECT jsonb_array_elements_text($3::jsonb)))
        AND ($4::jsonb = '[]'::jsonb OR build IN (SELECT jsonb_array_elements_text($4::jsonb)))
      GROUP BY outcome, reason, collection, batch, build, market
      ORDER BY outcome, reason, collection, batch, build, market`,
    [
      window.since.toISOString(),
      window.until.toISOString(),
      JSON.stringify(of.batches),
      JSON.stringify(of.builds),
    ],
  );
  return rows;
}

/** A misrouting alert as read back. */
export interface MisroutingAlert extends MisroutingSighting {
  firstSeen: Date;
  lastSeen: Date;
  count: number;
}

/** Every misrouting alert, most recent first. */
export async function listMisroutingAlerts(q: Queryable): Promise<MisroutingAlert[]> {
  const { rows } = await q.query<MisroutingAlert>(
    `SELECT batch, build, market, expected_region AS "expectedRegion", claimed_region AS "claimedRegion",
            first_seen AS "firstSeen", last_seen AS "lastSeen", count
       FROM misrouting_alerts ORDER BY last_seen DESC LIMIT 1000`,
  );
  return rows;
}
