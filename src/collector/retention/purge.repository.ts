/**
 * Queries of the purges. Tables and columns come from the region's device
 * tables, each described beside its collection (identifiers cannot be bound;
 * the descriptions are code, and every name is checked before it is used);
 * every value is a bound parameter. Purges walk
 * rows in (expiry, key) order, keys compared byte-wise, with keyset
 * pagination, so a dry run reads exactly the rows a real run removes, in the
 * same order, on PGlite and PostgreSQL alike.
 */
import type { Db, Queryable } from "../../core/db/index.ts";
import { checkedName } from "./partitions.ts";
import type { Expiry, KeyColumn } from "../device-data/index.ts";

/** A table purges walk: its name and how its rows expire. */
export interface ExpiringTable {
  name: string;
  expiry: Expiry;
}

type KeyType = KeyColumn["type"];

/** The least value of each key type: where a walk starts. */
const LEAST: Readonly<Record<KeyType, string>> = {
  text: "",
  uuid: "00000000-0000-0000-0000-000000000000",
  bigint: "-9223372036854775808",
};

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
/** A row's collection: a column, or a fixed name as a string literal (`'activation'`). */
const COLLECTION_SQL = /^(?:[a-z][a-z0-9_]{0,62}|'[a-z][a-z0-9._]{0,62}')$/;

/**
 * The table's spec, its names checked before they reach SQL: the table, the
 * key columns and the field clock are plain identifiers, and a row's
 * collection is a column or a fixed name.
 */
function specOf(table: ExpiringTable): Expiry {
  const { keys, collection, fieldClock } = table.expiry;
  for (const name of [
    table.name,
    ...keys.map((k) => k.column),
    ...(fieldClock === null ? [] : [fieldClock]),
  ]) {
    if (!IDENTIFIER.test(name)) throw new Error(`${JSON.stringify(name)} is not a plain SQL identifier`);
  }
  if (collection !== null && !COLLECTION_SQL.test(collection)) {
    throw new Error(`${JSON.stringify(collection)} is neither a column nor a collection's name`);
  }
  return table.expiry;
}

/** The SQL for a collection-only part of a table's spec; a selection about collections never reaches proof records. */
function collectionSql(sql: string | null): string {
  if (sql === null) throw new Error("this table holds no collection: only an expiry selects its rows");
  return sql;
}

/** Which rows a purge step touches. */
export type Selection =
  /** Rows past their retention at `now`, except rows of the partitions in `exceptRanges` (dropped whole instead). */
  | { kind: "expired"; now: Date; exceptRanges: readonly { from: Date; to: Date }[] }
  /** Rows of one collection version whose `field` is past the field's own (shorter) retention, the row itself not yet. */
  | {
      kind: "field-expired";
      now: Date;
      collection: string;
      version: number;
      field: string;
      retention: string;
    }
  /** Rows of a collection (one version, or all), received in [from, to); with `field`, only rows that carry it. */
  | {
      kind: "window";
      collection: string;
      version: number | undefined;
      field: string | undefined;
      from: Date;
      to: Date;
    }
  /** Every row of a partition, read straight from it. */
  | { kind: "partition"; name: string };

/** A row's place in the walk: its expiry (RFC 3339, microseconds, UTC) and its key columns. */
export interface RowKey {
  expiresAt: string;
  key: readonly string[];
}

/** Where a walk of `table` starts: before every row. */
export function startOf(table: ExpiringTable): RowKey {
  return { expiresAt: "-infinity", key: specOf(table).keys.map((k) => LEAST[k.type]) };
}

class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

function orderOf(spec: Expiry, alias = ""): string {
  const cols = spec.keys.map((k) => `${alias}${k.column}${k.type === "text" ? ' COLLATE "C"' : ""}`);
  return [`${alias}expires_at`, ...cols].join(", ");
}

function keyColumns(spec: Expiry, alias = ""): string {
  return [`${alias}expires_at`, ...spec.keys.map((k) => `${alias}${k.column}`)].join(", ");
}

function keyOutput(spec: Expiry): string {
  const keys = spec.keys.map((k, i) => `${k.column}::text AS k${i}`);
  return [`to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS e`, ...keys].join(", ");
}

function afterClause(spec: Expiry, after: RowKey, p: Params): string {
  const left = orderOf(spec);
  const right = [
    `${p.add(after.expiresAt)}::timestamptz`,
    ...spec.keys.map((k, i) => `${p.add(after.key[i] ?? "")}::${k.type}`),
  ];
  return `ROW(${left}) > ROW(${right.join(", ")})`;
}

function whereClause(spec: Expiry, selection: Selection, p: Params): string {
  switch (selection.kind) {
    case "expired": {
      const parts = [`expires_at <= ${p.add(selection.now)}`];
      if (selection.exceptRanges.length > 0) {
        parts.push(
          `NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(${p.add(JSON.stringify(selection.exceptRanges))}::jsonb)
                        AS r("from" timestamptz, "to" timestamptz)
                       WHERE expires_at >= r."from" AND expires_at < r."to")`,
        );
      }
      return parts.join(" AND ");
    }
    case "field-expired": {
      const now = p.add(selection.now);
      const field = p.add(selection.field);
      // Calendar arithmetic in UTC, months before days, as Retention.expiresAt does it.
      return [
        `${collectionSql(spec.collection)} = ${p.add(selection.collection)}`,
        `schema_version = ${p.add(selection.version)}`,
        `data ? ${field}`,
        `expires_at > ${now}`,
        `((${collectionSql(spec.fieldClock)} AT TIME ZONE 'UTC') + ${p.add(selection.retention)}::interval) AT TIME ZONE 'UTC' <= ${now}`,
      ].join(" AND ");
    }
    case "window": {
      const parts = [
        `${collectionSql(spec.collection)} = ${p.add(selection.collection)}`,
        `received_at >= ${p.add(selection.from)}`,
        `received_at < ${p.add(selection.to)}`,
      ];
      if (selection.version !== undefined) parts.push(`schema_version = ${p.add(selection.version)}`);
      if (selection.field !== undefined) parts.push(`data ? ${p.add(selection.field)}`);
      return parts.join(" AND ");
    }
    case "partition":
      return "TRUE";
  }
}

function sourceOf(table: ExpiringTable, selection: Selection): string {
  return selection.kind === "partition" ? checkedName(selection.name) : table.name;
}

function toRowKeys(rows: readonly Record<string, unknown>[], spec: Expiry): RowKey[] {
  return rows.map((r) => ({
    expiresAt: String(r.e),
    key: spec.keys.map((_, i) => String(r[`k${i}`])),
  }));
}

/** How many rows `selection` touches in `table`. */
export async function countSelected(
  q: Queryable,
  table: ExpiringTable,
  selection: Selection,
): Promise<number> {
  const spec = specOf(table);
  const p = new Params();
  const { rows } = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${sourceOf(table, selection)} WHERE ${whereClause(spec, selection, p)}`,
    p.values,
  );
  return rows[0]?.n ?? 0;
}

/** Reads the keys of up to `limit` selected rows after `after`, in walk order; removes nothing (dry runs, partitions). */
export async function readSelectedKeys(
  q: Queryable,
  table: ExpiringTable,
  selection: Selection,
  after: RowKey,
  limit: number,
): Promise<RowKey[]> {
  const spec = specOf(table);
  const p = new Params();
  const where = whereClause(spec, selection, p);
  const { rows } = await q.query(
    `SELECT ${keyOutput(spec)} FROM ${sourceOf(table, selection)}
      WHERE ${where} AND ${afterClause(spec, after, p)}
      ORDER BY ${orderOf(spec)} LIMIT ${p.add(limit)}`,
    p.values,
  );
  return toRowKeys(rows, spec);
}

/** Deletes up to `limit` selected rows after `after`, in one statement; returns their keys in walk order. */
export async function deleteSelectedChunk(
  q: Queryable,
  table: ExpiringTable,
  selection: Selection,
  after: RowKey,
  limit: number,
): Promise<RowKey[]> {
  const spec = specOf(table);
  const p = new Params();
  const where = whereClause(spec, selection, p);
  const match = ["expires_at", ...spec.keys.map((k) => k.column)].map((c) => `t.${c} = d.${c}`).join(" AND ");
  const { rows } = await q.query(
    `WITH doomed AS (
       SELECT ${keyColumns(spec)} FROM ${table.name}
        WHERE ${where} AND ${afterClause(spec, after, p)}
        ORDER BY ${orderOf(spec)} LIMIT ${p.add(limit)}),
     gone AS (
       DELETE FROM ${table.name} t USING doomed d WHERE ${match}
       RETURNING ${keyColumns(spec, "t.")})
     SELECT ${keyOutput(spec)} FROM gone ORDER BY ${orderOf(spec)}`,
    p.values,
  );
  return toRowKeys(rows, spec);
}

/** Removes `field` from up to `limit` selected rows after `after`, in one statement; returns their keys in walk order. */
export async function removeFieldChunk(
  q: Queryable,
  table: ExpiringTable,
  selection: Selection,
  field: string,
  after: RowKey,
  limit: number,
): Promise<RowKey[]> {
  const spec = specOf(table);
  const p = new Params();
  const where = whereClause(spec, selection, p);
  const name = p.add(field);
  const match = ["expires_at", ...spec.keys.map((k) => k.column)].map((c) => `t.${c} = d.${c}`).join(" AND ");
  const { rows } = await q.query(
    `WITH doomed AS (
       SELECT ${keyColumns(spec)} FROM ${table.name}
        WHERE ${where} AND ${afterClause(spec, after, p)}
        ORDER BY ${orderOf(spec)} LIMIT ${p.add(limit)}),
     changed AS (
       UPDATE ${table.name} t SET data = t.data - ${name} FROM doomed d WHERE ${match} AND t.data ? ${name}
       RETURNING ${keyColumns(spec, "t.")})
     SELECT ${keyOutput(spec)} FROM changed ORDER BY ${orderOf(spec)}`,
    p.values,
  );
  return toRowKeys(rows, spec);
}

/** A purge run as recorded. */
export interface PurgeRunRecord {
  id: number;
  kind: "retention" | "surgical";
  dryRun: boolean;
  asOf: Date;
  startedAt: Date;
  finishedAt: Date | null;
  reason: string | null;
  scope: Record<string, unknown> | null;
  counts: Record<string, unknown>;
  removed: number;
  sha256: string | null;
}

/** Records the start of a run; returns its id. */
export async function insertPurgeRun(
  q: Queryable,
  run: {
    kind: "retention" | "surgical";
    dryRun: boolean;
    asOf: Date;
    reason: string | null;
    scope: Record<string, unknown> | null;
  },
): Promise<number> {
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO purge_runs (kind, dry_run, as_of, reason, scope) VALUES ($1, $2, $3, $4, $5::jsonb)
     RETURNING id::text AS id`,
    [run.kind, run.dryRun, run.asOf, run.reason, run.scope === null ? null : JSON.stringify(run.scope)],
  );
  return Number(rows[0]?.id);
}

/** Records what a run has removed so far; with `sha256`, also that it finished. */
export async function updatePurgeRun(
  q: Queryable,
  id: number,
  progress: { counts: Record<string, unknown>; removed: number; sha256?: string },
): Promise<void> {
  await q.query(
    `UPDATE purge_runs SET counts = $2::jsonb, removed = $3,
            sha256 = coalesce($4, sha256), finished_at = CASE WHEN $4::text IS NULL THEN NULL ELSE now() END
      WHERE id = $1`,
    [id, JSON.stringify(progress.counts), progress.removed, progress.sha256 ?? null],
  );
}

/** The most recent runs, newest first. */
export async function listPurgeRuns(q: Queryable, limit: number): Promise<PurgeRunRecord[]> {
  const { rows } = await q.query<Omit<PurgeRunRecord, "id" | "removed"> & { id: string; removed: string }>(
    `SELECT id::text AS id, kind, dry_run AS "dryRun", as_of AS "asOf", started_at AS "startedAt",
            finished_at AS "finishedAt", reason, scope, counts, removed::text AS removed, sha256
       FROM purge_runs ORDER BY id DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    removed: Number(r.removed),
    asOf: new Date(r.asOf),
    startedAt: new Date(r.startedAt),
    finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt),
  }));
}

/** Stores a purge of this process is running on (the schedule and an operator's request share one process). */
const purging = new WeakSet<Db>();

/**
 * Runs `fn` while holding the region's purge lock, so that purges of a
 * region never run at once: not two in one process (the schedule and an
 * operator's request), nor in two collectors of the region (PostgreSQL's
 * advisory lock; a PGlite store is held by one process anyway, see
 * store-lock.ts). Returns null without running `fn` when another purge holds
 * it. The advisory lock rides on a transaction that does nothing else, so
 * purges' own statements commit chunk by chunk on other connections.
 */
export async function withPurgeLock<T>(db: Db, fn: () => Promise<T>): Promise<{ value: T } | null> {
  if (purging.has(db)) return null;
  purging.add(db);
  try {
    if (db.kind === "pglite") return { value: await fn() };
    return await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ got: boolean }>(
        "SELECT pg_try_advisory_xact_lock(hashtext('phonehome.purge.' || current_schema())) AS got",
      );
      if (rows[0]?.got !== true) return null;
      return { value: await fn() };
    });
  } finally {
    purging.delete(db);
  }
}
