/** What a whole-store copy is, and what making or restoring one asks of its caller (store-copy.ts). */
import type { Readable } from "node:stream";
import type { Queryable } from "./store.ts";

/** How a copy's bytes are made: PGlite's data-directory tarball, or pg_dump's custom format. */
export type ArchiveFormat = "pglite-datadir-tgz" | "pg_dump-custom";

/** What the tool that made a copy says of it. */
export interface ArchiveInfo {
  format: ArchiveFormat;
  /** The PostgreSQL schema the copy holds (pg_restore puts it back under the same name); null for PGlite. */
  schema: string | null;
  /** The version of the PostgreSQL that held the store (PGlite's own for PGlite), e.g. "15.20". */
  serverVersion: string;
  /** The tool that made it, e.g. "pg_dump (PostgreSQL) 15.20" or "PGlite dumpDataDir". */
  tool: string;
}

/** What a dump needs from its caller. */
export interface DumpOptions<T> {
  /** Who holds an embedded store while it is copied (store-lock.ts). */
  holder: string;
  /** Reads what the copy's manifest says, in the same state of the store the copy is of. */
  read: (store: Queryable) => Promise<T>;
  /** Takes the copy's bytes; resolves once they are all written. */
  write: (archive: Readable) => Promise<void>;
}

/** Where a copy's bytes lie: `bytes` bytes of the file `path` from `offset`, made as `info` says. */
export interface ArchiveFile {
  path: string;
  offset: number;
  bytes: number;
  info: ArchiveInfo;
}

/** What a restore needs from its caller. */
export interface RestoreOptions {
  /** Who holds an embedded store while it is restored. */
  holder: string;
  /**
   * Called on the store as it is, when it holds anything, before anything is
   * changed; throws to leave it as it is (no `--force`).
   */
  replacing: (current: Queryable) => Promise<void>;
  /** Called on the restored copy before it takes the store's place; throws to discard the copy. */
  check: (restored: Queryable) => Promise<void>;
}
