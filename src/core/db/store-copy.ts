/**
 * Whole-store copies (docs/backup.md, decision 49): each kind of store copied
 * by its own tool. PostgreSQL by `pg_dump` in its custom format, under a
 * snapshot the caller's reads share, and put back by `pg_restore` in one
 * transaction; PGlite by its own `dumpDataDir()` (a gzipped tarball of the
 * data directory) and `loadDataDir`. A restore is checked before it replaces
 * anything: the copy is made beside the store (another folder, or the
 * schema's name while the store's schema is set aside), the caller's check
 * runs on it, and only then does it take the store's place.
 */
import { PhoneHomeError } from "../errors/index.ts";
import type { ArchiveFile, ArchiveFormat, ArchiveInfo, DumpOptions, RestoreOptions } from "./archive.ts";
import { dumpPglite, restorePglite } from "./pglite-copy.ts";
import { dumpPostgres, restorePostgres } from "./postgres-copy.ts";
import type { StoreConfig } from "./store-config.ts";

/**
 * Copies the store: `read` sees the state the copy holds (PostgreSQL: the
 * dump's snapshot; PGlite: the store closed to every other process, locked),
 * and `write` takes the copy's bytes. Answers what `read` answered and what
 * the copy is. An embedded store that another process has open is refused
 * (`store.locked`).
 */
export async function dumpStore<T>(
  store: StoreConfig,
  options: DumpOptions<T>,
): Promise<{ facts: T; archive: ArchiveInfo }> {
  if (store.kind === "pglite") return dumpPglite(store, options);
  return dumpPostgres(store, options);
}

/**
 * Puts a copy made by `dumpStore` in the store's place: `replacing` is asked
 * first when the store holds anything, `check` is run on the copy before it
 * replaces the store; when either throws, or the tool fails, the store is
 * left as it was. A copy of the other kind of store, or (PostgreSQL) of
 * another schema, is refused with `backup.wrong_store`.
 */
export async function restoreStore(
  store: StoreConfig,
  archive: ArchiveFile,
  options: RestoreOptions,
): Promise<void> {
  const expected: ArchiveFormat = store.kind === "pglite" ? "pglite-datadir-tgz" : "pg_dump-custom";
  if (archive.info.format !== expected) {
    throw new PhoneHomeError(
      "backup.wrong_store",
      `the file is a copy of ${describeFormat(archive.info.format)}, and this store is ${describeFormat(expected)}: ` +
        "a copy is restored into the same kind of store",
    );
  }
  if (store.kind === "pglite") return restorePglite(store, archive, options);
  return restorePostgres(store, archive, options);
}

function describeFormat(format: ArchiveFormat): string {
  return format === "pglite-datadir-tgz" ? "an embedded store (PGlite)" : "a PostgreSQL store (pg_dump)";
}
