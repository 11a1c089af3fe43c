/**
 * What a store holds, as a backup records it and a restore checks it: the
 * migration level, every table's rows, and the audit chain verified whole.
 * One function per query; they read the store's own schema (the search path).
 */
import { allAuditEntries, auditHead, verifyChain } from "../../core/audit-log/index.ts";
import type { Queryable } from "../../core/db/index.ts";
import { PhoneHomeError } from "../../core/errors/index.ts";
import type { AuditVerdict, StoreFacts } from "./manifest.ts";

/**
 * The store's tables by name: ordinary and partitioned ones, not partitions (a
 * partitioned table counts its partitions' rows, and partitions come and go
 * with retention).
 */
export async function listTables(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
  );
  return rows.map((r) => r.name).sort();
}

/**
 * The rows of `table`. The name comes from the catalogue (`listTables`) and is
 * quoted as an identifier; a name cannot be bound.
 */
export async function countRows(q: Queryable, table: string): Promise<number> {
  const { rows } = await q.query<{ rows: string }>(
    `SELECT count(*)::text AS rows FROM "${table.replaceAll('"', '""')}"`,
  );
  return Number(rows[0]?.rows ?? 0);
}

/** Whether the store has a table of this name in its schema. */
async function hasTable(q: Queryable, table: string): Promise<boolean> {
  const { rows } = await q.query<{ present: boolean }>(
    "SELECT to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) IS NOT NULL AS present",
    [table],
  );
  return rows[0]?.present === true;
}

/** The last migration applied; null for a store never migrated. */
export async function migrationLevel(q: Queryable): Promise<number | null> {
  if (!(await hasTable(q, "schema_migrations"))) return null;
  const { rows } = await q.query<{ level: number | null }>(
    "SELECT max(id)::int AS level FROM schema_migrations",
  );
  return rows[0]?.level ?? null;
}

/** Progress of a long read: what it is at, and of how many. */
export type OnProgress = (step: "tables" | "audit entries", done: number, total: number) => void;

/** The audit chain verified whole, each entry reported to `onProgress`. */
async function auditVerdict(q: Queryable, onProgress: OnProgress): Promise<AuditVerdict> {
  const present = await hasTable(q, "audit_log");
  const total = present ? (await auditHead(q)).seq : 0;
  async function* counted() {
    if (!present) return;
    let done = 0;
    for await (const entry of allAuditEntries(q)) {
      done += 1;
      onProgress("audit entries", done, total);
      yield entry;
    }
  }
  const verdict = await verifyChain(counted());
  return {
    intact: verdict.ok,
    entries: verdict.entries,
    head: { seq: verdict.head.seq, hash: verdict.head.hash },
    ...(verdict.broken === undefined ? {} : { broken: verdict.broken }),
  };
}

/** Every table's rows, each reported to `onProgress`. */
async function countTables(q: Queryable, onProgress: OnProgress): Promise<StoreFacts["tables"]> {
  const names = await listTables(q);
  const tables: StoreFacts["tables"] = [];
  for (const name of names) {
    tables.push({ name, rows: await countRows(q, name) });
    onProgress("tables", tables.length, names.length);
  }
  return tables;
}

/**
 * Reads what the store holds: its migration level, each table's rows and its
 * audit chain's verdict. A store never migrated (never started) is refused
 * with `backup.invalid`, naming `what` it is.
 */
export async function readStoreFacts(
  q: Queryable,
  what: string,
  onProgress: OnProgress = () => {},
): Promise<StoreFacts> {
  const migrations = await migrationLevel(q);
  if (migrations === null) {
    throw new PhoneHomeError("backup.invalid", `${what} holds no phonehome store: has it ever been started?`);
  }
  const tables = await countTables(q, onProgress);
  return { migrations, tables, audit: await auditVerdict(q, onProgress) };
}

/** What a store about to be replaced holds, whatever it is: its tables' rows and its audit head, if any. */
export interface StoreContents {
  migrations: number | null;
  tables: StoreFacts["tables"];
  auditHead: { seq: number; hash: string } | null;
}

/** Reads what a store about to be replaced holds (its audit chain is not verified: it is going). */
export async function readStoreContents(
  q: Queryable,
  onProgress: OnProgress = () => {},
): Promise<StoreContents> {
  const migrations = await migrationLevel(q);
  const tables = await countTables(q, onProgress);
  const head = (await hasTable(q, "audit_log")) ? await auditHead(q) : null;
  return { migrations, tables, auditHead: head === null ? null : { seq: head.seq, hash: head.hash } };
}
