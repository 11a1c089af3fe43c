/**
 * Bulk loads with `COPY ... FROM` on each driver: PGlite reads the data from
 * its `/dev/blob` device, node-postgres streams it over the connection.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import type pg from "pg";
import { from as copyFromStdin } from "pg-copy-streams";

/** A plain lower-case SQL identifier: what a name must be to go into a statement unbound. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** `table (col, ...)` for a COPY statement, after checking every name. */
function copyTarget(table: string, columns: readonly string[]): string {
  for (const name of [table, ...columns]) {
    if (!IDENTIFIER.test(name)) throw new Error(`${JSON.stringify(name)} is not a plain identifier`);
  }
  if (columns.length === 0) throw new Error("COPY needs at least one column");
  return `${table} (${columns.join(", ")})`;
}

/** PGlite reads COPY data from the `/dev/blob` device, given with the query. */
export async function pgliteCopyIn(
  on: PGlite | Transaction,
  table: string,
  columns: readonly string[],
  data: string,
): Promise<number> {
  const result = await on.query(`COPY ${copyTarget(table, columns)} FROM '/dev/blob'`, [], {
    blob: new Blob([data]),
  });
  return result.affectedRows ?? 0;
}

/** node-postgres streams COPY data over the connection with `pg-copy-streams`. */
export async function postgresCopyIn(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  data: string,
): Promise<number> {
  const stream = client.query(copyFromStdin(`COPY ${copyTarget(table, columns)} FROM STDIN`));
  await pipeline(Readable.from([data]), stream);
  return stream.rowCount;
}
