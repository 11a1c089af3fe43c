import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "./store.ts";

/** The folders of forward-only migrations, one per kind of store. */
export const MIGRATIONS_DIR = new URL("../../../migrations/", import.meta.url).pathname;

const FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** A migration file: its number, name and SQL. */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/**
 * Reads `<root>/<set>/NNNN_name.sql` in order; numbers must be 1, 2, 3, ...
 * without gaps. `root` is the shipped `migrations/` folder unless a test names another.
 */
export function readMigrations(set: "region" | "control", root: string = MIGRATIONS_DIR): Migration[] {
  const dir = join(root, set);
  const files = readdirSync(dir)
    .filter((f) => FILE.test(f))
    .sort();
  return files.map((name, index) => {
    const id = Number(name.slice(0, 4));
    if (id !== index + 1)
      throw new Error(`migration ${set}/${name} is out of sequence (expected ${index + 1})`);
    return { id, name, sql: readFileSync(join(dir, name), "utf8") };
  });
}

/**
 * Applies the pending migrations of `set` in one transaction under an advisory
 * lock, so that several processes starting at once apply each file exactly once.
 * Returns the names of the migrations it applied. `root` as for `readMigrations`.
 */
export async function migrate(
  db: Db,
  set: "region" | "control",
  root: string = MIGRATIONS_DIR,
): Promise<string[]> {
  const migrations = readMigrations(set, root);
  return db.transaction(
    async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))", [
        `phonehome.migrations.${set}.`,
      ]);
      await tx.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
         id integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
      );
      const { rows } = await tx.query<{ id: number }>("SELECT id FROM schema_migrations");
      const done = new Set(rows.map((r) => r.id));
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.id)) continue;
        for (const statement of splitStatements(migration.sql)) await tx.query(statement);
        await tx.query("INSERT INTO schema_migrations (id, name) VALUES ($1, $2)", [
          migration.id,
          migration.name,
        ]);
        applied.push(migration.name);
      }
      return applied;
    },
    { timeoutMs: MIGRATION_TIMEOUT_MS },
  );
}

/**
 * A migration may rebuild an index of a large table, far beyond the statement
 * timeout requests get; it still may not wait for ever on a store that froze.
 */
const MIGRATION_TIMEOUT_MS = 15 * 60_000;

/**
 * Splits a migration script on the `-- statement` separators it uses, so that
 * every statement runs through the same bound-query path on both stores.
 * Migrations never put `;` at a line end inside a string or a function body.
 */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) =>
      s
        .split("\n")
        .filter((line) => !line.trim().startsWith("--"))
        .join("\n")
        .trim(),
    )
    .filter((s) => s.length > 0);
}
