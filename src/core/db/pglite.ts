/** PGlite, the embedded store: how one is started, and its queries as a `Queryable`. */
import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { pgliteCopyIn } from "./copy-in.ts";
import type { Queryable } from "./store.ts";

/**
 * PGlite's start parameters with smaller memory settings than PostgreSQL's
 * defaults (docs/decisions/0044): an embedded store is small, and `up` opens
 * three, each in its own WebAssembly memory that never shrinks. shared_buffers
 * 128MB → 16MB is most of what `up` saves; the others bound what one query
 * or one migration may take.
 */
export const PGLITE_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams,
  ...["-c", "shared_buffers=16MB"],
  ...["-c", "wal_buffers=512kB"],
  ...["-c", "work_mem=2MB"],
  ...["-c", "temp_buffers=2MB"],
  ...["-c", "maintenance_work_mem=16MB"],
];

/**
 * Starts PGlite on `dataDir` (created when missing) with our start parameters;
 * `loadDataDir`, a tarball of `dumpDataDir`, fills a folder that holds no
 * store yet. The caller holds the store's lock (store-lock.ts).
 */
export async function startPglite(dataDir: string, loadDataDir?: Blob): Promise<PGlite> {
  if (dataDir !== "memory://") mkdirSync(dataDir, { recursive: true });
  return PGlite.create(dataDir, {
    startParams: [...PGLITE_START_PARAMS],
    ...(loadDataDir === undefined ? {} : { loadDataDir }),
  });
}

/** Bound queries and COPY on a PGlite database or one of its transactions. */
export function pgliteQueryable(on: PGlite | Transaction): Queryable {
  return {
    query: async (sql, params) => {
      const result = await on.query(sql, params as unknown[] | undefined);
      return { rows: result.rows as never[] };
    },
    copyIn: (table, columns, data) => pgliteCopyIn(on, table, columns, data),
  };
}
