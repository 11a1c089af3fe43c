/** PostgreSQL through node-postgres: timeouts, one client's queries as a `Queryable`, and where a store is. */
import pg from "pg";
import { PhoneHomeError } from "../errors/index.ts";
import { IDENTIFIER, postgresCopyIn } from "./copy-in.ts";
import type { StoreConfig, StoreTimeouts } from "./store-config.ts";
import { isStoreUnavailable } from "./store-errors.ts";
import type { Queryable } from "./store.ts";

/** The timeouts a store gets when its configuration names none. */
export const DEFAULT_STORE_TIMEOUTS: StoreTimeouts = {
  connectMs: 3000,
  statementMs: 5000,
  idleInTransactionMs: 10_000,
};

/**
 * How much longer than the server's statement timeout the driver waits for an
 * answer before it gives the connection up: a store that is frozen (stopped,
 * partitioned away) never sends the cancellation the server-side timeout would.
 */
export const ANSWER_GRACE_MS = 2000;

/** A store URL as it may be printed: host, port and database, never the password. */
export function whereIs(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port === "" ? "" : `:${u.port}`}${u.pathname}`;
  } catch {
    return "the configured URL";
  }
}

/** The store could not be opened at start: where it was looked for, and why (no password). */
export function unreachable(url: string, error: unknown): unknown {
  if (!isStoreUnavailable(error)) return error;
  const code = (error as { code?: unknown }).code;
  return new PhoneHomeError(
    "service.unavailable",
    `the store at ${whereIs(url)} cannot be reached${typeof code === "string" ? ` (${code})` : ""}: ${(error as Error).message}`,
    { cause: error },
  );
}

/**
 * One connection to a PostgreSQL store with its connect timeout, for work
 * that is not the services' (a backup's snapshot, a restore's renames); its
 * statements have no timeout but the driver's wait of `answerMs`. `schema`
 * becomes the search path. An error listener keeps a cut connection from
 * ending the process; the next query reports it.
 */
export async function connectPostgres(
  config: StoreConfig & { kind: "postgres" },
  options: { schema?: string; answerMs: number },
): Promise<pg.Client> {
  const timeouts = { ...DEFAULT_STORE_TIMEOUTS, ...config.timeouts };
  if (options.schema !== undefined && !IDENTIFIER.test(options.schema)) {
    throw new Error(`schema name ${JSON.stringify(options.schema)} must match ${IDENTIFIER}`);
  }
  const client = new pg.Client({
    connectionString: config.url,
    connectionTimeoutMillis: timeouts.connectMs,
    query_timeout: options.answerMs,
    ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
  });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw unreachable(config.url, error);
  }
  return client;
}

/**
 * The longest statement timeout a transaction may ask for, in milliseconds:
 * the driver's wait (this plus grace) must fit Node's timers (2^31 - 1 ms).
 */
export const MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647 - ANSWER_GRACE_MS;

/**
 * The driver's wait for one answer: `timeoutMs` plus grace. 0 means none to the
 * server, and as good as none here: node-postgres reads a `query_timeout` of 0
 * as "the pool's", so the longest wait a timer can hold is given instead.
 */
function answerWait(timeoutMs: number | undefined): { query_timeout?: number } {
  if (timeoutMs === undefined) return {};
  return { query_timeout: timeoutMs === 0 ? 2_147_483_647 : timeoutMs + ANSWER_GRACE_MS };
}

/**
 * Bound queries and COPY on one client. With `timeoutMs`, the driver gives
 * up on an answer that long (plus grace) in coming; 0 means no end.
 */
export function clientQueryable(client: pg.ClientBase, timeoutMs?: number): Queryable {
  return {
    query: (sql, params) => boundQuery(client, timeoutMs, sql, params),
    copyIn: (table, columns, data) => postgresCopyIn(client, table, columns, data),
  };
}

/** One bound query on `client`, with the driver's wait for `timeoutMs`. */
async function boundQuery<R>(
  client: pg.ClientBase,
  timeoutMs: number | undefined,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<{ rows: R[] }> {
  const result = await client.query({
    text: sql,
    values: params as unknown[] | undefined,
    ...answerWait(timeoutMs),
  });
  return { rows: result.rows as R[] };
}

/**
 * Turns node-postgres's pipeline mode on or off for one client: on, a query
 * is written as soon as it is made, not when the one before it has been
 * answered. Only switched while the client has nothing in flight.
 */
export function setPipeline(client: pg.ClientBase, on: boolean): void {
  (client as pg.ClientBase & { pipeline: boolean }).pipeline = on;
}

/** A transaction's statements on a client in pipeline mode, and what its owner needs to end it. */
export interface PipelinedTransaction {
  queryable: Queryable;
  /** Statements made and not yet answered. */
  inFlight(): number;
  /** The first error a statement of the transaction met, answered or not; undefined when none did. */
  firstError(): Error | undefined;
  /** Refuses every statement made from now on (COMMIT or ROLLBACK is on its way). */
  close(): void;
}

/**
 * `clientQueryable` for a client in pipeline mode, inside a transaction whose
 * BEGIN (`opening`) may still be on its way. COPY cannot share a pipeline: it
 * waits for BEGIN, needs every statement made before it answered, and runs
 * with the pipeline off. Once closed, a statement is refused rather than run
 * after the transaction's end, where it would run on its own and commit.
 */
export function pipelinedQueryable(
  client: pg.ClientBase,
  timeoutMs: number | undefined,
  opening: Promise<unknown>,
): PipelinedTransaction {
  let inFlight = 0;
  let closed = false;
  let first: Error | undefined;
  const ended = () => Promise.reject(new Error("the transaction has ended: no statement goes into it now"));
  const noted = (error: unknown): unknown => {
    if (first === undefined && error instanceof Error) first = error;
    return error;
  };
  return {
    inFlight: () => inFlight,
    firstError: () => first,
    close: () => {
      closed = true;
    },
    queryable: {
      query: async <R>(sql: string, params?: readonly unknown[]) => {
        if (closed) return ended();
        inFlight += 1;
        try {
          return await boundQuery<R>(client, timeoutMs, sql, params);
        } catch (error) {
          throw noted(error);
        } finally {
          inFlight -= 1;
        }
      },
      copyIn: async (table, columns, data) => {
        if (closed) return ended();
        await opening;
        if (inFlight > 0) throw new Error("a COPY must wait until the statements before it are answered");
        setPipeline(client, false);
        inFlight += 1;
        try {
          return await postgresCopyIn(client, table, columns, data);
        } catch (error) {
          throw noted(error);
        } finally {
          inFlight -= 1;
          setPipeline(client, true);
        }
      },
    },
  };
}
