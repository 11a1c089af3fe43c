/**
 * `backup` and `restore` of one store (docs/backup.md): the copy is made by
 * the store's own tool (core/db's `dumpStore`, `restoreStore`); this module
 * adds the manifest around it, refuses a file of another store or one that
 * changed, and checks a restored copy against the manifest before it
 * replaces anything.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, PACKAGE_ROOT } from "../../core/config/index.ts";
import {
  dumpStore,
  type Queryable,
  readMigrations,
  restoreStore,
  type StoreConfig,
} from "../../core/db/index.ts";
import { isPhoneHomeError, PhoneHomeError, type Problem } from "../../core/errors/index.ts";
import {
  checkArchive,
  HEADER_BYTES,
  readManifest,
  writeBackupFile,
  type WrittenArchive,
} from "./backup-file.ts";
import {
  checkFits,
  describeStore,
  FORMAT_VERSION,
  type Manifest,
  type StoreFacts,
  type StoreRole,
} from "./manifest.ts";
import { type OnProgress, readStoreContents, readStoreFacts, type StoreContents } from "./store-facts.ts";

/** A store named on the command line: which one it is, where it lives, and its set of migrations. */
export interface NamedStore {
  role: StoreRole;
  store: StoreConfig;
  migrations: "region" | "control";
}

/** The store `--region R` or `--control-plane` names; `backup.invalid` for neither, both or an unknown region. */
export function namedStore(config: Config, options: { region?: string; controlPlane?: boolean }): NamedStore {
  if ((options.region === undefined) === (options.controlPlane !== true)) {
    throw new PhoneHomeError("backup.invalid", "name one store: --region R or --control-plane", {
      path: "--region",
    });
  }
  if (options.region === undefined) {
    return { role: { role: "control-plane" }, store: config.controlPlane.store, migrations: "control" };
  }
  const region = config.regions.find((r) => r.id === options.region);
  if (region === undefined) {
    throw new PhoneHomeError("backup.invalid", `no region ${options.region} in the configuration`, {
      path: "--region",
      problems: config.regions.map((r) => ({ path: r.id, message: "is a configured region" })),
    });
  }
  return { role: { role: "region", region: region.id }, store: region.store, migrations: "region" };
}

/** How long work reports where it is: the tables and audit entries read, the bytes of the file checked. */
export interface Progress {
  facts: OnProgress;
  bytes: (done: number, total: number) => void;
}

const QUIET: Progress = { facts: () => {}, bytes: () => {} };

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string })
    .version;
}

/** An embedded store in use: say how to go about it. */
function whenLocked(verb: "backup" | "restore"): (error: unknown) => never {
  return (error) => {
    if (!isPhoneHomeError(error, "store.locked")) throw error;
    const how =
      verb === "backup"
        ? "an embedded store is copied while no other process has it open: stop `phonehome up` or `serve` first, " +
          "or keep the store in PostgreSQL, which pg_dump copies while the services run (docs/backup.md)"
        : "a store is restored while nothing has it open: stop `phonehome up` or `serve` first";
    throw new PhoneHomeError(
      "store.locked",
      `${error.message}. ${how}`,
      error.path === undefined ? {} : { path: error.path },
    );
  };
}

/**
 * Backs up `target` into the file `out` (which must not exist): the store's
 * copy, and the manifest of what it holds, read in the same state.
 */
export async function backUp(target: NamedStore, out: string, progress: Progress = QUIET): Promise<Manifest> {
  const what = `${describeStore(target.role)}'s store`;
  return writeBackupFile(out, async (writeArchive) => {
    let written: WrittenArchive | undefined;
    const { facts, archive } = await dumpStore(target.store, {
      holder: `phonehome backup (${what})`,
      read: (q) => readStoreFacts(q, what, progress.facts),
      write: async (bytes) => {
        written = await writeArchive(bytes);
      },
    }).catch(whenLocked("backup"));
    if (written === undefined) throw new Error("the store's tool wrote no copy");
    return {
      format: "phonehome-backup",
      version: FORMAT_VERSION,
      createdAt: new Date().toISOString(),
      phonehome: packageVersion(),
      store: target.role,
      archive: { ...archive, ...written },
      facts,
    };
  });
}

/**
 * Where a restored copy differs from what its manifest says it holds: the
 * migration level, a table's rows (or a table missing or extra), the audit
 * chain's verdict or head.
 */
export function differences(expected: StoreFacts, found: StoreFacts): Problem[] {
  const problems: Problem[] = [];
  if (found.migrations !== expected.migrations) {
    problems.push({
      path: "migrations",
      message: `${found.migrations}, where the backup has ${expected.migrations}`,
    });
  }
  const rows = (facts: StoreFacts) => new Map(facts.tables.map((t) => [t.name, t.rows]));
  const want = rows(expected);
  const have = rows(found);
  for (const name of [...new Set([...want.keys(), ...have.keys()])].sort()) {
    const a = want.get(name);
    const b = have.get(name);
    if (a === b) continue;
    problems.push({
      path: `tables/${name}`,
      message:
        a === undefined
          ? `is not in the backup`
          : b === undefined
            ? `is missing (the backup has ${a} rows)`
            : `has ${b} rows, where the backup has ${a}`,
    });
  }
  const chain = (facts: StoreFacts) =>
    `${facts.audit.intact ? "intact" : `broken at entry ${facts.audit.broken?.seq}`}, ` +
    `${facts.audit.entries} entries, head ${facts.audit.head.seq}:${facts.audit.head.hash}`;
  if (chain(found) !== chain(expected)) {
    problems.push({
      path: "audit",
      message: `the chain is ${chain(found)}, where the backup's was ${chain(expected)}`,
    });
  }
  return problems;
}

/** What a restore did: the manifest of the file restored, and what it replaced (null: the store was empty). */
export interface RestoreResult {
  manifest: Manifest;
  replaced: StoreContents | null;
}

/**
 * Restores `target` from the backup `file`. Refused, with nothing changed: a
 * file of another store or a newer migration (`backup.wrong_store`), one cut
 * short or changed (`backup.unreadable`), a store that holds data unless
 * `force` (`backup.target_not_empty`), and a copy that, restored, does not
 * hold what the manifest says (`backup.verify_failed`).
 */
export async function restore(
  target: NamedStore,
  file: string,
  force: boolean,
  progress: Progress = QUIET,
): Promise<RestoreResult> {
  const what = `${describeStore(target.role)}'s store`;
  const manifest = await readManifest(file);
  checkFits(
    manifest,
    { store: target.role, kind: target.store.kind },
    readMigrations(target.migrations).length,
  );
  await checkArchive(file, manifest, (done) => progress.bytes(done, manifest.archive.bytes));
  let replaced: StoreContents | null = null;
  await restoreStore(
    target.store,
    { path: file, offset: HEADER_BYTES, bytes: manifest.archive.bytes, info: manifest.archive },
    {
      holder: `phonehome restore (${what})`,
      replacing: async (current: Queryable) => {
        const contents = await readStoreContents(current, progress.facts);
        if (!force) {
          throw new PhoneHomeError(
            "backup.target_not_empty",
            `${what} holds data: ${describeContents(contents)}. \`restore --force\` replaces it; nothing was changed`,
          );
        }
        replaced = contents;
      },
      check: async (restored: Queryable) => {
        const problems = differences(manifest.facts, await readStoreFacts(restored, what, progress.facts));
        if (problems.length > 0) {
          throw new PhoneHomeError(
            "backup.verify_failed",
            `the restored copy of ${what} is not what its backup's manifest says; it was discarded and the store left as it was`,
            { problems },
          );
        }
      },
    },
  ).catch(whenLocked("restore"));
  return { manifest, replaced };
}

/** "14 tables, 1234 rows, audit head 57:ab12cd34ef56…" */
export function describeContents(contents: StoreContents): string {
  const rows = contents.tables.reduce((sum, t) => sum + t.rows, 0);
  const head =
    contents.auditHead === null
      ? "no audit log"
      : `audit head ${contents.auditHead.seq}:${contents.auditHead.hash.slice(0, 12)}…`;
  return `${contents.tables.length} tables, ${rows} rows, ${head}`;
}
