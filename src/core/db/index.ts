/**
 * The store: one small interface over PGlite (embedded, the default) and
 * PostgreSQL (production), so that the same migrations and the same query
 * functions serve both. Query modules export one function per query, taking a
 * `Queryable` (the database or a transaction) as their first argument.
 */
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { IDENTIFIER, postgresCopyIn } from "./copy-in.ts";
import { pgliteQueryable, startPglite } from "./pglite.ts";
import { ANSWER_GRACE_MS, clientQueryable, DEFAULT_STORE_TIMEOUTS, unreachable } from "./postgres.ts";
import type { StoreConfig } from "./store-config.ts";
import type { Db } from "./store.ts";
import { lockStore } from "./store-lock.ts";
import { asStoreError, isStoreUnavailable } from "./store-errors.ts";

export type { StoreConfig, StoreTimeouts } from "./store-config.ts";
export type { Db, Queryable } from "./store.ts";

export { asStoreError, isStoreUnavailable } from "./store-errors.ts";
export { PGLITE_START_PARAMS } from "./pglite.ts";
export { DEFAULT_STORE_TIMEOUTS } from "./postgres.ts";

/**
 * Opens the store described by `config`. The schema, if named, is created
 * when missing. An embedded store is locked to this process until `close`
 * (`store.locked` names the process that holds it); `holder` says who this is.
 */
export async function openDb(config: StoreConfig, holder = `phonehome process ${process.pid}`): Promise<Db> {
  if (config.kind === "pglite") return openPglite(config, holder);
  return openPostgres(config);
}

async function openPglite(config: StoreConfig & { kind: "pglite" }, holder: string): Promise<Db> {
  const lock = lockStore(config, holder);
  let lite: PGlite;
  try {
    lite = await startPglite(config.dataDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  return {
    kind: "pglite",
    ...pgliteQueryable(lite),
    transaction: (fn) => lite.transaction((tx) => fn(pgliteQueryable(tx))),
    exec: async (script) => {
      await lite.exec(script);
    },
    close: async () => {
      try {
        await lite.close();
      } finally {
        lock.release();
      }
    },
  };
}

async function openPostgres(config: StoreConfig & { kind: "postgres" }): Promise<Db> {
  const { url, schema } = config;
  const timeouts = { ...DEFAULT_STORE_TIMEOUTS, ...config.timeouts };
  if (schema !== undefined && !IDENTIFIER.test(schema)) {
    throw new Error(`schema name ${JSON.stringify(schema)} must match ${IDENTIFIER}`);
  }
  if (schema !== undefined) {
    // The schema name is checked above against a fixed pattern; identifiers cannot be bound.
    const admin = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: timeouts.connectMs,
      query_timeout: timeouts.statementMs + ANSWER_GRACE_MS,
    });
    admin.on("error", () => {});
    try {
      await admin.connect();
      await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } catch (error) {
      // Several processes starting at once race on IF NOT EXISTS: the loser gets a
      // unique violation on pg_namespace (or duplicate_schema), and the schema exists.
      const code = (error as { code?: string }).code;
      if (code !== "23505" && code !== "42P06") throw unreachable(url, error);
    } finally {
      await admin.end().catch(() => {});
    }
  }
  const settings = [
    ...(schema === undefined ? [] : [`-c search_path=${schema}`]),
    `-c statement_timeout=${timeouts.statementMs}`,
    `-c idle_in_transaction_session_timeout=${timeouts.idleInTransactionMs}`,
  ];
  const pool = new pg.Pool({
    connectionString: url,
    max: config.poolSize ?? 10,
    options: settings.join(" "),
    connectionTimeoutMillis: timeouts.connectMs,
    query_timeout: timeouts.statementMs + ANSWER_GRACE_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle client's network error must not crash the process; the next query reports it.
  pool.on("error", () => {});
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    throw unreachable(url, error);
  }

  /**
   * Takes a client for work that spans several statements. While it is out of
   * the pool it has no listener of the pool's, and a connection the server cuts
   * emits 'error': without one of ours that would end the process. A client
   * that failed is destroyed on release, never handed out again.
   */
  const withClient = async <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw asStoreError(error);
    }
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on("error", onError);
    try {
      return await work(client);
    } catch (error) {
      if (isStoreUnavailable(error)) broken ??= error as Error;
      throw asStoreError(error);
    } finally {
      client.off("error", onError);
      client.release(broken ?? false);
    }
  };
  return {
    kind: "postgres",
    query: async (sql, params) => {
      try {
        const result = await pool.query(sql, params as unknown[] | undefined);
        return { rows: result.rows };
      } catch (error) {
        throw asStoreError(error);
      }
    },
    copyIn: (table, columns, data) => withClient((client) => postgresCopyIn(client, table, columns, data)),
    transaction: (fn, options) =>
      withClient(async (client) => {
        const timeoutMs = options?.timeoutMs;
        await client.query("BEGIN");
        try {
          // A bound parameter cannot go in SET; the value is an integer checked here.
          if (timeoutMs !== undefined) {
            if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0)
              throw new Error(`bad timeout ${timeoutMs}`);
            await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
          }
          const value = await fn(clientQueryable(client, timeoutMs));
          await client.query("COMMIT");
          return value;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
      }),
    exec: async (script) => {
      try {
        await pool.query(script);
      } catch (error) {
        throw asStoreError(error);
      }
    },
    close: () => pool.end(),
  };
}
export { copyTextLine } from "./copy-text.ts";
export { migrate, readMigrations } from "./migrate.ts";
export type { ArchiveFile, ArchiveFormat, ArchiveInfo } from "./archive.ts";
export { dumpStore, restoreStore } from "./store-copy.ts";
