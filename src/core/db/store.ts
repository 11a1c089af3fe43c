/** What a store is to the code that queries it: a database or a transaction to run bound queries on. */

/** Anything that runs a bound query: the database itself or an open transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
  /**
   * Loads rows into `table (columns)` with `COPY ... FROM` in PostgreSQL's text
   * format (`data`: lines made by `copyTextLine`); resolves with the number of
   * rows. Names must be plain lower-case identifiers; they are checked, as
   * they cannot be bound.
   */
  copyIn(table: string, columns: readonly string[], data: string): Promise<number>;
}

/** A database: queries, explicit transactions, and a way to close it. */
export interface Db extends Queryable {
  readonly kind: "pglite" | "postgres";
  /**
   * Runs `fn` in one transaction; commits when it resolves, rolls back when it throws.
   * `timeoutMs` replaces the store's statement timeout for this transaction's
   * statements (0: none; for migrations, whose statements may be long).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: { timeoutMs?: number }): Promise<T>;
  /**
   * Resolves when the store takes writes now; `service.unavailable` when it
   * cannot be reached or is a standby (what `/readyz` asks).
   */
  checkWritable(): Promise<void>;
  /** Runs a script of several statements without parameters (migrations only). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}
