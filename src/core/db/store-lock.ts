/**
 * An embedded (PGlite) store may be open in one process only: PGlite has no
 * postmaster to arbitrate, and two processes writing one data directory
 * corrupt it. `openDb` takes this lock for every embedded store it opens and
 * `close` releases it, so a collector, the control plane and every CLI
 * command that opens a store (`fleet import`, `purge`, ...) exclude each other,
 * and the one refused is told who holds the store.
 * PostgreSQL needs no such lock (it serves many processes), nor does an
 * in-memory PGlite.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StoreConfig } from "./store-config.ts";
import { PhoneHomeError } from "../errors/index.ts";

/** The lock file's name inside a PGlite data directory. */
export const LOCK_FILE = "phonehome.lock";

/** A held lock. `release` is idempotent. */
export interface StoreLock {
  release(): void;
}

const NO_LOCK: StoreLock = Object.freeze({ release: () => {} });

interface LockRecord {
  pid: number;
  holder: string;
  since: string;
}

/**
 * Takes the store's lock for `holder` (e.g. "collector of region global"), or
 * throws `store.locked` naming the live process that holds it. A lock left by
 * a process that no longer runs (a crash, SIGKILL) is taken over; so is one
 * this process already holds (a start that failed half-way).
 */
export function lockStore(store: StoreConfig, holder: string): StoreLock {
  if (store.kind !== "pglite" || store.dataDir === "memory://") return NO_LOCK;
  mkdirSync(store.dataDir, { recursive: true });
  const file = join(store.dataDir, LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, holder, since: new Date().toISOString() };
  const text = `${JSON.stringify(mine)}\n`;
  try {
    const fd = openSync(file, "wx", 0o600);
    try {
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const current = readLock(file);
    if (current !== null && current.pid !== process.pid && isAlive(current.pid)) throw locked(store, current);
    // Stale: replace it atomically, then read back, so that of two processes
    // taking over the same stale lock at once only the last writer goes on.
    const temp = `${file}.${process.pid}`;
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, file);
    const now = readLock(file);
    if (now === null || now.pid !== process.pid) throw locked(store, now ?? current ?? mine);
  }
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      // Only remove the file if it is still ours (a stale takeover by another process replaces it).
      if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}

function readLock(file: string): LockRecord | null {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<LockRecord>;
    if (typeof parsed.pid !== "number" || !Number.isInteger(parsed.pid)) return null;
    return {
      pid: parsed.pid,
      holder: typeof parsed.holder === "string" ? parsed.holder : "unknown",
      since: typeof parsed.since === "string" ? parsed.since : "unknown",
    };
  } catch {
    // Missing (released meanwhile) or unreadable (a crash mid-write): nobody provably holds it.
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else, so it is alive.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function locked(store: { dataDir: string }, by: LockRecord): PhoneHomeError {
  return new PhoneHomeError(
    "store.locked",
    `the embedded store ${store.dataDir} is in use by process ${by.pid} (${by.holder}, since ${by.since}); ` +
      "an embedded store can be open in one process only: stop that process first, or use its HTTP API " +
      "(a running collector also purges on its own schedule)",
    { path: join(store.dataDir, LOCK_FILE) },
  );
}
