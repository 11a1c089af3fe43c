/**
 * Monthly partitions of `diagnostics_events`, by expiry month (UTC), so that
 * retention drops a month of expired events whole instead of deleting them
 * row by row. Identifiers cannot be bound: partition names and bounds are
 * built from whole numbers only, and names read back from the catalogue are
 * used only after they match the same fixed pattern.
 */
import type { Db, Queryable } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { type DeviceTable, tableStoring } from "../device-data/index.ts";

/** A monthly partition (or a detached one a purge had not finished dropping). */
export interface DiagnosticsPartition {
  name: string;
  /** Inclusive lower bound: the first instant of the month, UTC. */
  from: Date;
  /** Exclusive upper bound: the first instant of the next month, UTC. */
  to: Date;
  /** False for a partition a purge detached and had not dropped yet (a crash between the two). */
  attached: boolean;
}

/** A partition created by `ensureDiagnosticsPartitions`, and how many rows it took over from the default partition. */
export interface CreatedPartition {
  name: string;
  moved: number;
}

/** The one table stored in monthly partitions by expiry: its description says `partitioned`. */
export const PARTITIONED_TABLE = "diagnostics_events";

const NAME = /^diagnostics_events_([0-9]{4})([0-9]{2})$/;
// Partitions are created at most this far ahead: ten years of monthly tables.
const MAX_MONTHS = 120;
const TIMEOUT_CODE = "55P03";

/** The partition of the month (UTC) that contains `instant`. */
export function partitionOf(instant: Date): Omit<DiagnosticsPartition, "attached"> {
  return monthPartition(instant.getUTCFullYear(), instant.getUTCMonth());
}

/** The partition `months` months after the one that contains `instant`. */
function partitionAfter(instant: Date, months: number): Omit<DiagnosticsPartition, "attached"> {
  return monthPartition(instant.getUTCFullYear(), instant.getUTCMonth() + months);
}

function monthPartition(year: number, monthIndex: number): Omit<DiagnosticsPartition, "attached"> {
  const from = new Date(Date.UTC(year, monthIndex, 1));
  const to = new Date(Date.UTC(year, monthIndex + 1, 1));
  const y = from.getUTCFullYear();
  const m = from.getUTCMonth() + 1;
  if (!Number.isInteger(y) || y < 1000 || y > 9999) throw new RangeError(`no partition for year ${y}`);
  return { name: `diagnostics_events_${y}${String(m).padStart(2, "0")}`, from, to };
}

/** Parses a name of the fixed pattern back into its month; null for anything else. */
function parsePartitionName(name: string): Omit<DiagnosticsPartition, "attached"> | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const month = Number(match[2]);
  if (month < 1 || month > 12) return null;
  return monthPartition(Number(match[1]), month - 1);
}

/** `'2026-01-01 00:00:00+00'`: a bound literal built from the partition's own numbers. */
function boundLiteral(instant: Date): string {
  return `'${instant.toISOString().slice(0, 10)} 00:00:00+00'`;
}

/**
 * Every monthly partition in the store's schema, oldest first: the attached
 * ones, and any detached one a purge left behind.
 */
export async function listDiagnosticsPartitions(q: Queryable): Promise<DiagnosticsPartition[]> {
  const { rows } = await q.query<{ name: string; attached: boolean }>(
    `SELECT c.relname AS name,
            EXISTS (SELECT 1 FROM pg_inherits i
                     WHERE i.inhrelid = c.oid AND i.inhparent = 'diagnostics_events'::regclass) AS attached
       FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
        AND c.relname ~ '^diagnostics_events_[0-9]{6}$'`,
  );
  const out: DiagnosticsPartition[] = [];
  for (const row of rows) {
    const parsed = parsePartitionName(row.name);
    if (parsed !== null && parsed.name === row.name) out.push({ ...parsed, attached: row.attached });
  }
  return out.sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * How many expiry months ahead partitions are needed: up to the month in
 * which an event of the longest-kept diagnostics collection, stored at
 * `from`, expires. At least 1 (the current month), at most 120.
 */
export function partitionMonthsAhead(
  tables: readonly DeviceTable[],
  dictionary: Dictionary,
  from: Date,
): number {
  let months = 1;
  for (const collection of dictionary.collections) {
    if (!tableStoring(tables, collection.name).expiry?.partitioned) continue;
    const expiry = collection.expiresAt(from);
    const span =
      (expiry.getUTCFullYear() - from.getUTCFullYear()) * 12 +
      (expiry.getUTCMonth() - from.getUTCMonth()) +
      1;
    months = Math.max(months, span);
  }
  return Math.min(months, MAX_MONTHS);
}

/**
 * Creates the monthly partitions of `months` expiry months starting with the
 * month of `from`, skipping those that exist. Rows already in the default
 * partition for a month being created (they arrived before its partition
 * did) would make PostgreSQL refuse the partition, so each month is made in
 * one transaction: an empty table is created beside the parent, the month's
 * rows are moved into it from the default partition, and it is attached. No
 * row is lost or visible twice; inserts into the default partition wait for
 * the moment it takes. Safe to run from several processes at once.
 */
export async function ensureDiagnosticsPartitions(
  db: Db,
  from: Date,
  months: number,
): Promise<CreatedPartition[]> {
  if (!Number.isInteger(months) || months < 1 || months > MAX_MONTHS) {
    throw new RangeError(`months must be a whole number from 1 to ${MAX_MONTHS}`);
  }
  const existing = new Set((await listDiagnosticsPartitions(db)).map((p) => p.name));
  const created: CreatedPartition[] = [];
  for (let i = 0; i < months; i += 1) {
    const partition = partitionAfter(from, i);
    if (existing.has(partition.name)) continue;
    const moved = await createPartition(db, partition);
    if (moved !== null) created.push({ name: partition.name, moved });
  }
  return created;
}

/** Creates one month's partition, moving its rows out of the default partition; null if it exists. */
async function createPartition(
  db: Db,
  partition: Omit<DiagnosticsPartition, "attached">,
): Promise<number | null> {
  // The name and bounds come from monthPartition (digits only); they cannot be bound parameters.
  const { name } = partition;
  const from = boundLiteral(partition.from);
  const to = boundLiteral(partition.to);
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.partitions.' || current_schema()))");
    const { rows: present } = await tx.query(
      "SELECT 1 FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relname = $1",
      [name],
    );
    if (present.length > 0) return null;
    // Waiting long for the default partition would stall ingest queued behind us; give up and retry next time.
    await tx.query("SET LOCAL lock_timeout = '10s'");
    await tx.query("LOCK TABLE diagnostics_events_default IN ACCESS EXCLUSIVE MODE");
    await tx.query(`CREATE TABLE ${name} (LIKE diagnostics_events INCLUDING DEFAULTS)`);
    const { rows } = await tx.query<{ n: number }>(
      `WITH moved AS (
         DELETE FROM diagnostics_events_default WHERE expires_at >= $1 AND expires_at < $2
         RETURNING device_ref, event_id, collection, schema_version, occurred_at, received_at, expires_at,
                   consent_receipt, data),
       kept AS (
         INSERT INTO ${name} (device_ref, event_id, collection, schema_version, occurred_at, received_at,
                              expires_at, consent_receipt, data)
         SELECT * FROM moved RETURNING 1)
       SELECT count(*)::int AS n FROM kept`,
      [partition.from, partition.to],
    );
    // Attaching builds the parent's indexes on the new table and checks its rows against the bounds.
    await tx.query(
      `ALTER TABLE diagnostics_events ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${to})`,
    );
    return rows[0]?.n ?? 0;
  });
}

/**
 * How long a detach may wait for the parent table. A plain DETACH needs an
 * ACCESS EXCLUSIVE lock on `diagnostics_events`, and while it waits in the
 * lock queue (behind any open reader: a report, a dump) every ingest INSERT
 * queues behind it. So each attempt waits at most `attemptMs`, then gives up
 * and lets the queue drain for `pauseMs`; after `budgetMs` in all the
 * partition is left for the next run. (DETACH … CONCURRENTLY, which would not
 * block writers, is refused on a table with a default partition, which
 * `diagnostics_events` has.)
 */
export interface DetachPatience {
  /** Longest one attempt waits for its locks, in milliseconds: the longest an insert can queue behind it. */
  attemptMs: number;
  /** Pause between attempts, in milliseconds, in which queued inserts go through. */
  pauseMs: number;
  /** Time from the first attempt after which no further attempt starts, in milliseconds. */
  budgetMs: number;
}

/** The purge's patience: attempts of 50 ms, 200 ms apart, for 10 seconds. */
export const DETACH_PATIENCE: Readonly<DetachPatience> = { attemptMs: 50, pauseMs: 200, budgetMs: 10_000 };

/** What a detach did: whether the partition is detached, after how many attempts and how long. */
export interface DetachOutcome {
  detached: boolean;
  attempts: number;
  /** From the first attempt to the last one's end, in milliseconds. */
  elapsedMs: number;
}

/**
 * Detaches a partition before it is dropped, so that no row can enter it
 * while its keys are read for the run's digest. Tries with short lock waits
 * (`patience`); `detached` is false when the parent stayed busy for the whole
 * budget (the partition is then left for the next run). `signal` stops it
 * between attempts.
 */
export async function detachDiagnosticsPartition(
  db: Db,
  name: string,
  patience: Readonly<DetachPatience> = DETACH_PATIENCE,
  signal?: AbortSignal,
): Promise<DetachOutcome> {
  const checked = checkedName(name);
  const { attemptMs, pauseMs, budgetMs } = patience;
  for (const [key, value] of Object.entries(patience)) {
    if (!Number.isInteger(value) || value < (key === "attemptMs" ? 1 : 0)) {
      throw new RangeError(`${key} must be a whole number of milliseconds`);
    }
  }
  const started = performance.now();
  let attempts = 0;
  for (;;) {
    signal?.throwIfAborted();
    attempts += 1;
    try {
      await db.transaction(async (tx) => {
        // A whole number checked above: SET cannot take a bound parameter.
        await tx.query(`SET LOCAL lock_timeout = '${attemptMs}ms'`);
        await tx.query(`ALTER TABLE diagnostics_events DETACH PARTITION ${checked}`);
      });
      return { detached: true, attempts, elapsedMs: Math.round(performance.now() - started) };
    } catch (error) {
      if ((error as { code?: string }).code !== TIMEOUT_CODE) throw error;
    }
    const elapsed = performance.now() - started;
    if (elapsed + pauseMs >= budgetMs) {
      return { detached: false, attempts, elapsedMs: Math.round(elapsed) };
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** Drops a detached partition, and with it every row it holds. */
export async function dropDiagnosticsPartition(q: Queryable, name: string): Promise<void> {
  await q.query(`DROP TABLE ${checkedName(name)}`);
}

/** Returns `name` if it is a partition name of the fixed pattern; throws otherwise. */
export function checkedName(name: string): string {
  const parsed = parsePartitionName(name);
  if (parsed === null || parsed.name !== name) throw new RangeError(`not a diagnostics partition: ${name}`);
  return name;
}
