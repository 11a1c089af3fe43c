/** What names a store: where it lives and how long its statements may take. */

/** Where a store lives: a PGlite data directory, or a PostgreSQL URL with an optional schema. */
export type StoreConfig =
  | { kind: "pglite"; dataDir: string }
  | {
      kind: "postgres";
      url: string;
      schema?: string | undefined;
      poolSize?: number | undefined;
      /** Connect, statement and idle-in-transaction timeouts; `DEFAULT_STORE_TIMEOUTS` fills what is absent. */
      timeouts?: Partial<StoreTimeouts> | undefined;
    };

/** Timeouts of a PostgreSQL store, in milliseconds (see `StoreConfig`). */
export interface StoreTimeouts {
  connectMs: number;
  statementMs: number;
  idleInTransactionMs: number;
}
