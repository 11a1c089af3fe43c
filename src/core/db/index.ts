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
import {
  ANSWER_GRACE_MS,
  DEFAULT_STORE_TIMEOUTS,
  MAX_STATEMENT_TIMEOUT_MS,
  pipelinedQueryable,
  setPipeline,
  unreachable,
} from "./postgres.ts";
import type { StoreConfig } from "./store-config.ts";
import type { Db } from "./store.ts";
import { lockStore } from "./store-lock.ts";
import { asStoreError, isStoreUnavailable } from "./store-errors.ts";
import { findPrimary, hostOf, SeveralPrimaries, splitHosts } from "./primary.ts";
import { PhoneHomeError } from "../errors/index.ts";

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
export async function openDb(
  config: StoreConfig,
  holder = `phonehome process ${process.pid}`,
  events: StoreEvents = {},
): Promise<Db> {
  if (config.kind === "pglite") return openPglite(config, holder);
  return openPostgres(config, events);
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
    // An embedded store is its own primary.
    checkWritable: async () => {
      await lite.query("SELECT 1");
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

/** How often a store of several hosts asks them which is the primary, besides after a failure. */
const PRIMARY_WATCH_MS = 5000;

/** What a store tells its opener as it runs. */
export interface StoreEvents {
  /** A store of several hosts moved to another primary (host:port, never a password). */
  onPrimaryChanged?: (to: string, from: string) => void;
}

async function openPostgres(config: StoreConfig & { kind: "postgres" }, events: StoreEvents): Promise<Db> {
  const { url, schema } = config;
  const timeouts = { ...DEFAULT_STORE_TIMEOUTS, ...config.timeouts };
  if (schema !== undefined && !IDENTIFIER.test(schema)) {
    throw new Error(`schema name ${JSON.stringify(schema)} must match ${IDENTIFIER}`);
  }
  // Several hosts: the pool points at the one primary, found now and again after a failure.
  const hosts = splitHosts(url);
  let primary: string;
  try {
    primary = hosts.length === 1 ? url : await findPrimary(hosts, timeouts.connectMs);
  } catch (error) {
    throw unreachable(url, error);
  }
  if (schema !== undefined) {
    // The schema name is checked above against a fixed pattern; identifiers cannot be bound.
    const admin = new pg.Client({
      connectionString: primary,
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
  const poolOn = (hostUrl: string) => {
    const made = new pg.Pool({
      connectionString: hostUrl,
      max: config.poolSize ?? 10,
      options: settings.join(" "),
      connectionTimeoutMillis: timeouts.connectMs,
      query_timeout: timeouts.statementMs + ANSWER_GRACE_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // An idle client's network error must not crash the process; the next query reports it.
    made.on("error", () => {});
    return made;
  };
  let pool = poolOn(primary);
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    throw unreachable(url, error);
  }
  let closed = false;
  let finding: Promise<void> | undefined;
  let lastFind = 0;
  /** Set while more than one host says it is a primary: every use of the store answers it. */
  let doubt: SeveralPrimaries | undefined;
  /**
   * Asks the hosts again (once at a time, at most twice a second) after the
   * store failed to answer, and every few seconds anyway, and moves the pool
   * to the primary when it changed. The old pool's clients finish what they
   * hold and are ended.
   */
  const refind = () => {
    if (hosts.length === 1 || closed || finding !== undefined || Date.now() - lastFind < 500) return;
    lastFind = Date.now();
    finding = findPrimary(hosts, timeouts.connectMs)
      .then(async (found) => {
        doubt = undefined;
        if (found === primary || closed) return;
        const old = pool;
        pool = poolOn(found);
        events.onPrimaryChanged?.(hostOf(found), hostOf(primary));
        primary = found;
        await old.end().catch(() => {});
      })
      .catch((error: unknown) => {
        // Two primaries: nothing is written until one is fenced. None yet (a failover under way): ask again.
        if (error instanceof SeveralPrimaries) doubt = error;
      })
      .finally(() => {
        finding = undefined;
      });
  };
  // An old primary started again beside the promoted one causes no failure here: look regularly.
  const watch = hosts.length > 1 ? setInterval(refind, PRIMARY_WATCH_MS) : undefined;
  watch?.unref();
  /** The pool, unless two hosts claim to be the primary. */
  const current = (): pg.Pool => {
    if (doubt !== undefined) throw doubt;
    return pool;
  };
  /** The store's failure as a 503, and for several hosts a reason to look for the primary again. */
  const failed = (error: unknown): unknown => {
    const mapped = asStoreError(error);
    if (isStoreUnavailable(mapped)) refind();
    return mapped;
  };

  /**
   * Takes a client for work that spans several statements. While it is out of
   * the pool it has no listener of the pool's, and a connection the server cuts
   * emits 'error': without one of ours that would end the process. A client
   * that failed is destroyed on release, never handed out again.
   */
  const withClient = async <T>(
    work: (client: pg.PoolClient, unusable: (why: Error) => void) => Promise<T>,
  ): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await current().connect();
    } catch (error) {
      throw failed(error);
    }
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on("error", onError);
    try {
      return await work(client, (why) => {
        broken ??= why;
      });
    } catch (error) {
      if (isStoreUnavailable(error)) broken ??= error as Error;
      throw failed(error);
    } finally {
      client.off("error", onError);
      client.release(broken ?? false);
    }
  };
  return {
    kind: "postgres",
    query: async (sql, params) => {
      try {
        const result = await current().query(sql, params as unknown[] | undefined);
        return { rows: result.rows };
      } catch (error) {
        throw failed(error);
      }
    },
    copyIn: (table, columns, data) => withClient((client) => postgresCopyIn(client, table, columns, data)),
    transaction: (fn, options) =>
      withClient(async (client, unusable) => {
        const timeoutMs = options?.timeoutMs;
        // A bound parameter cannot go in SET; the value is an integer checked here.
        if (
          timeoutMs !== undefined &&
          (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_STATEMENT_TIMEOUT_MS)
        ) {
          throw new Error(`bad timeout ${timeoutMs}`);
        }
        // Pipelined: BEGIN (and SET LOCAL) go out with the transaction's first statement instead of
        // a round trip ahead of it (docs/decisions/0060). A BEGIN that fails fails what follows it.
        setPipeline(client, true);
        const opening = Promise.all([
          client.query("BEGIN"),
          timeoutMs === undefined ? null : client.query(`SET LOCAL statement_timeout = ${timeoutMs}`),
        ]);
        opening.catch(() => {}); // answered below, in both outcomes
        const tx = pipelinedQueryable(client, timeoutMs, opening);
        try {
          const value = await fn(tx.queryable);
          await opening;
          // Nothing more goes into this transaction: a statement made from now on is refused.
          tx.close();
          // PostgreSQL answers COMMIT of a transaction a failed statement aborted with ROLLBACK, not an error.
          const ended = await client.query("COMMIT");
          if (ended.command !== "COMMIT") {
            throw (
              tx.firstError() ??
              new Error(`the transaction ended with ${ended.command}, not COMMIT: a statement in it failed`)
            );
          }
          return value;
        } catch (error) {
          tx.close();
          await opening.catch(() => {});
          await client.query("ROLLBACK").catch((rollbackFailed: unknown) => {
            // Its session may still be in the transaction: the client is not handed out again.
            unusable(rollbackFailed instanceof Error ? rollbackFailed : new Error(String(rollbackFailed)));
          });
          throw error;
        } finally {
          // A statement still unanswered here would answer the next borrower's query: drop the client.
          if (tx.inFlight() > 0) unusable(new Error("a statement of the transaction was still unanswered"));
          setPipeline(client, false);
        }
      }),
    exec: async (script) => {
      try {
        await current().query(script);
      } catch (error) {
        throw failed(error);
      }
    },
    checkWritable: async () => {
      let standby: boolean | undefined;
      try {
        const { rows } = await current().query<{ standby: boolean }>("SELECT pg_is_in_recovery() AS standby");
        standby = rows[0]?.standby;
      } catch (error) {
        throw failed(error);
      }
      if (standby !== false) {
        refind();
        throw new PhoneHomeError(
          "service.unavailable",
          `the store at ${hostOf(primary)} is a standby: it takes no writes until it is promoted`,
        );
      }
    },
    close: async () => {
      closed = true;
      clearInterval(watch);
      await finding;
      await pool.end();
    },
  };
}
export { copyTextLine } from "./copy-text.ts";
export { migrate, readMigrations } from "./migrate.ts";
export type { ArchiveFile, ArchiveFormat, ArchiveInfo } from "./archive.ts";
export { dumpStore, restoreStore } from "./store-copy.ts";
