/**
 * Copies of an embedded store, made and loaded by PGlite itself: `dumpDataDir`
 * writes its data directory as a gzipped tarball, `loadDataDir` fills an
 * empty folder from one. The store must be closed to every other process
 * (its lock, store-lock.ts), so a running `up` or `serve` refuses both.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openAsBlob, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import type { PGlite } from "@electric-sql/pglite";
import { PhoneHomeError } from "../errors/index.ts";
import type { ArchiveFile, ArchiveInfo, DumpOptions, RestoreOptions } from "./archive.ts";
import { pgliteQueryable, startPglite } from "./pglite.ts";
import { schemaContents } from "./schema-contents.ts";
import type { StoreConfig } from "./store-config.ts";
import { LOCK_FILE, lockStore } from "./store-lock.ts";

type PgliteStore = StoreConfig & { kind: "pglite" };

/** PGlite keeps its tables in `public`. */
const SCHEMA = "public";

/** A file PostgreSQL writes into every data directory it makes: a folder without one holds no store. */
const PG_VERSION = "PG_VERSION";

function inMemory(store: PgliteStore): void {
  if (store.dataDir === "memory://") {
    throw new PhoneHomeError(
      "backup.invalid",
      "the store is in memory (memory://): it keeps nothing to copy or to restore into",
    );
  }
}

async function serverVersion(lite: PGlite): Promise<string> {
  const { rows } = await lite.query<{ version: string }>(
    "SELECT current_setting('server_version') AS version",
  );
  return rows[0]?.version ?? "unknown";
}

/** Copies an embedded store; see `dumpStore`. */
export async function dumpPglite<T>(
  store: PgliteStore,
  options: DumpOptions<T>,
): Promise<{ facts: T; archive: ArchiveInfo }> {
  inMemory(store);
  if (!existsSync(join(store.dataDir, PG_VERSION))) {
    throw new PhoneHomeError(
      "backup.invalid",
      `${store.dataDir} holds no embedded store: has this store ever been started?`,
    );
  }
  const lock = lockStore(store, options.holder);
  try {
    const lite = await startPglite(store.dataDir);
    try {
      const facts = await options.read(pgliteQueryable(lite));
      const version = await serverVersion(lite);
      // The files are copied as they lie: a checkpoint first leaves little WAL for the load to replay.
      await lite.query("CHECKPOINT");
      const tarball = await lite.dumpDataDir("gzip");
      await options.write(Readable.from([new Uint8Array(await tarball.arrayBuffer())]));
      return {
        facts,
        archive: {
          format: "pglite-datadir-tgz",
          schema: null,
          serverVersion: version,
          tool: "PGlite dumpDataDir",
        },
      };
    } finally {
      await lite.close();
    }
  } finally {
    lock.release();
  }
}

/**
 * Asks `replacing` when the folder holds a store with anything in it. A
 * folder that holds files but no store is never replaced.
 */
async function askBeforeReplacing(dataDir: string, options: RestoreOptions): Promise<void> {
  const entries = readdirSync(dataDir).filter((name) => name !== LOCK_FILE);
  if (entries.length === 0) return;
  if (!entries.includes(PG_VERSION)) {
    throw new PhoneHomeError(
      "backup.target_not_empty",
      `${dataDir} holds files but no embedded store (${entries.slice(0, 3).join(", ")}${entries.length > 3 ? ", …" : ""}): ` +
        "a restore goes into an empty folder or an embedded store's, and never deletes other files",
    );
  }
  const lite = await startPglite(dataDir);
  try {
    const q = pgliteQueryable(lite);
    if ((await schemaContents(q, SCHEMA)).objects > 0) await options.replacing(q);
  } finally {
    await lite.close();
  }
}

/**
 * Puts `staging` in `target`'s place. Between the two renames the folder is
 * missing for an instant; both lie in the same parent, so neither copies.
 */
function swap(target: string, staging: string): void {
  const aside = join(dirname(target), `.${basename(target)}.replaced-${randomBytes(6).toString("hex")}`);
  renameSync(target, aside);
  try {
    renameSync(staging, target);
  } catch (error) {
    renameSync(aside, target);
    throw error;
  }
  rmSync(aside, { recursive: true, force: true });
}

/** Restores an embedded store from PGlite's tarball; see `restoreStore`. */
export async function restorePglite(
  store: PgliteStore,
  archive: ArchiveFile,
  options: RestoreOptions,
): Promise<void> {
  inMemory(store);
  const lock = lockStore(store, options.holder);
  try {
    await askBeforeReplacing(store.dataDir, options);
    const staging = mkdtempSync(join(dirname(store.dataDir), `.${basename(store.dataDir)}.restoring-`));
    try {
      const whole = await openAsBlob(archive.path);
      const tarball = whole.slice(archive.offset, archive.offset + archive.bytes, "application/x-gzip");
      let lite: PGlite;
      try {
        lite = await startPglite(staging, tarball);
      } catch (error) {
        throw new PhoneHomeError(
          "backup.failed",
          `PGlite could not load the copy: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      try {
        await options.check(pgliteQueryable(lite));
      } finally {
        await lite.close();
      }
      // The tarball holds the lock file of the process that made it; the copy is locked to this one
      // instead, so that it is still ours once in place (`lock` releases the file at the store's path).
      rmSync(join(staging, LOCK_FILE), { force: true });
      lockStore({ kind: "pglite", dataDir: staging }, options.holder);
      swap(store.dataDir, staging);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  } finally {
    lock.release();
  }
}
