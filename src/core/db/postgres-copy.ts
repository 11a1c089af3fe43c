/**
 * Copies of a PostgreSQL store by PostgreSQL's own programs: `pg_dump` in its
 * custom format, of the store's schema only, under a snapshot exported by the
 * transaction in which the caller reads its facts, so both see one state while
 * the services go on writing; `pg_restore` in one transaction, without owners
 * or grants (the objects belong to the role that restores).
 */
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import type pg from "pg";
import { PhoneHomeError } from "../errors/index.ts";
import type { ArchiveFile, ArchiveInfo, DumpOptions, RestoreOptions } from "./archive.ts";
import { IDENTIFIER } from "./copy-in.ts";
import { findPgTool, libpqConnection, runPgTool } from "./pg-tools.ts";
import {
  ANSWER_GRACE_MS,
  clientQueryable,
  connectPostgres,
  DEFAULT_STORE_TIMEOUTS,
  unreachable,
  whereIs,
} from "./postgres.ts";
import { resolvePrimary } from "./primary.ts";
import { schemaContents } from "./schema-contents.ts";
import type { StoreConfig } from "./store-config.ts";

type PostgresStore = StoreConfig & { kind: "postgres" };

/**
 * How long one statement of a copy may run (a count of a large table, a
 * schema dropped): far beyond a request's, and still not for ever on a store
 * that froze.
 */
const LONG_STATEMENT_MS = 30 * 60_000;

/** How long pg_dump waits for a table's share lock before it gives up (an ALTER TABLE under way). */
const LOCK_WAIT_MS = 60_000;

function connectMs(store: PostgresStore): number {
  return store.timeouts?.connectMs ?? DEFAULT_STORE_TIMEOUTS.connectMs;
}

/** One client on the store, its statements given `LONG_STATEMENT_MS`. */
function connect(store: PostgresStore, schema?: string): Promise<pg.Client> {
  return connectPostgres(store, {
    ...(schema === undefined ? {} : { schema }),
    answerMs: LONG_STATEMENT_MS + ANSWER_GRACE_MS,
  });
}

/** A schema name that may go into a statement and on pg_dump's command line (where `*`, `?` and `.` are patterns). */
function plainSchema(schema: string): string {
  if (!IDENTIFIER.test(schema)) {
    throw new PhoneHomeError(
      "backup.invalid",
      `the store's schema ${JSON.stringify(schema)} is not a plain lower-case name (${IDENTIFIER})`,
    );
  }
  return schema;
}

/** The store as one server: its primary, when its URL names several hosts. */
async function onPrimary(store: PostgresStore): Promise<PostgresStore> {
  try {
    return { ...store, url: await resolvePrimary(store.url, connectMs(store)) };
  } catch (error) {
    throw unreachable(store.url, error);
  }
}

/** Copies a PostgreSQL store; see `dumpStore`. */
export async function dumpPostgres<T>(
  store: PostgresStore,
  options: DumpOptions<T>,
): Promise<{ facts: T; archive: ArchiveInfo }> {
  const pgDump = findPgTool("pg_dump");
  store = await onPrimary(store);
  const client = await connect(store, store.schema);
  const libpq = libpqConnection(store.url, connectMs(store));
  try {
    // Repeatable read: every read of this transaction, and pg_dump through its snapshot, sees one state.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await client.query(`SET LOCAL statement_timeout = ${LONG_STATEMENT_MS}`);
    // The transaction waits, idle, while pg_dump copies under its snapshot.
    await client.query("SET LOCAL idle_in_transaction_session_timeout = 0");
    const { rows } = await client.query<{ snapshot: string; schema: string | null; version: string }>(
      `SELECT pg_export_snapshot() AS snapshot, current_schema() AS schema,
              current_setting('server_version') AS version`,
    );
    const [found] = rows;
    if (found === undefined) throw new Error("pg_export_snapshot answered no row");
    if (found.schema === null) {
      throw new PhoneHomeError(
        "backup.invalid",
        `there is no store at ${whereIs(store.url)}: its schema ${store.schema ?? "public"} does not exist`,
      );
    }
    const schema = plainSchema(found.schema);
    const facts = await options.read(clientQueryable(client, LONG_STATEMENT_MS));
    await runPgTool(
      pgDump,
      [
        "--format=custom",
        `--schema=${schema}`,
        `--snapshot=${found.snapshot}`,
        `--lock-wait-timeout=${LOCK_WAIT_MS}`,
        `--dbname=${libpq.url}`,
      ],
      { stdout: options.write },
    );
    await client.query("COMMIT");
    return {
      facts,
      archive: { format: "pg_dump-custom", schema, serverVersion: found.version, tool: pgDump.version },
    };
  } finally {
    libpq.remove();
    await client.end().catch(() => {});
  }
}

/** The schema a store without a configured one lives in: the first of the search path that exists. */
async function defaultSchema(admin: pg.Client): Promise<string> {
  const { rows } = await admin.query<{ schema: string | null }>("SELECT current_schema() AS schema");
  return rows[0]?.schema ?? "public";
}

/**
 * Restores a PostgreSQL store; see `restoreStore`. The store's schema is
 * renamed aside, pg_restore recreates it in one transaction, `check` runs on
 * it, and only then is the old one dropped; on any failure the copy is
 * dropped and the old schema renamed back.
 */
export async function restorePostgres(
  store: PostgresStore,
  archive: ArchiveFile,
  options: RestoreOptions,
): Promise<void> {
  const pgRestore = findPgTool("pg_restore");
  store = await onPrimary(store);
  const admin = await connect(store);
  const libpq = libpqConnection(store.url, connectMs(store));
  try {
    const target = plainSchema(store.schema ?? (await defaultSchema(admin)));
    if (archive.info.schema !== target) {
      throw new PhoneHomeError(
        "backup.wrong_store",
        `the file holds the PostgreSQL schema ${archive.info.schema} and this store is the schema ${target}: ` +
          `pg_restore puts a schema back under its own name, so restore into a store configured with schema ${archive.info.schema}`,
      );
    }
    const contents = await schemaContents(clientQueryable(admin), target);
    if (contents.objects > 0) {
      const current = await connect(store, target);
      try {
        await options.replacing(clientQueryable(current, LONG_STATEMENT_MS));
      } finally {
        await current.end().catch(() => {});
      }
    }
    const aside = contents.exists
      ? `${target.slice(0, 40)}_replaced_${randomBytes(6).toString("hex")}`
      : null;
    // Names checked by plainSchema; identifiers cannot be bound.
    if (aside !== null) {
      await admin.query(`ALTER SCHEMA "${target}" RENAME TO "${aside}"`).catch((error: unknown) => {
        throw new PhoneHomeError(
          "backup.failed",
          `the store's schema ${target} could not be set aside for the restore: ${(error as Error).message}`,
          { cause: error },
        );
      });
    }
    try {
      await runPgTool(
        pgRestore,
        ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", `--dbname=${libpq.url}`],
        {
          stdin: createReadStream(archive.path, {
            start: archive.offset,
            end: archive.offset + archive.bytes - 1,
          }),
        },
      );
      const restored = await connect(store, target);
      try {
        await options.check(clientQueryable(restored, LONG_STATEMENT_MS));
      } finally {
        await restored.end().catch(() => {});
      }
    } catch (error) {
      await putBack(admin, target, aside, error);
      throw error;
    }
    if (aside !== null) await admin.query(`DROP SCHEMA "${aside}" CASCADE`);
  } finally {
    libpq.remove();
    await admin.end().catch(() => {});
  }
}

/** Drops a failed copy and renames the old schema back; says where the old one is if that fails too. */
async function putBack(
  admin: pg.Client,
  target: string,
  aside: string | null,
  cause: unknown,
): Promise<void> {
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${target}" CASCADE`);
    if (aside !== null) await admin.query(`ALTER SCHEMA "${aside}" RENAME TO "${target}"`);
  } catch (error) {
    throw new PhoneHomeError(
      "backup.failed",
      `the restore failed (${(cause as Error).message}), and putting the store back failed too ` +
        `(${(error as Error).message})` +
        (aside === null ? "" : `: its previous content is in the schema ${aside}; rename it to ${target}`),
      { cause },
    );
  }
}
