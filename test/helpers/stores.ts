/**
 * Database test backends. Every store test runs on PGlite and on a real
 * PostgreSQL. Without PostgreSQL a laptop reports the PostgreSQL half as
 * skipped with the reason; in CI (CI=true) it fails instead.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { StoreConfig } from "../../src/core/db/index.ts";

/** The PostgreSQL the tests use: `$PHONEHOME_TEST_POSTGRES_URL`, else the local server's `test` database. */
export const POSTGRES_URL =
  process.env.PHONEHOME_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** True when tests run in CI, where a missing PostgreSQL is a failure, not a skip. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

/** Asks PostgreSQL for `SELECT 1`, three times at most: a busy machine may be slow to answer once. */
async function probePostgres(): Promise<string | null> {
  let problem = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.query("SELECT 1");
      return null;
    } catch (error) {
      problem = `PostgreSQL is not reachable at ${POSTGRES_URL}: ${(error as Error).message}`;
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    } finally {
      await client.end().catch(() => {});
    }
  }
  return problem;
}

const postgresProblem = await probePostgres();

/** One backend a store test runs on. `skip` is a reason, or false. */
export interface Backend {
  name: "pglite" | "postgres";
  skip: string | false;
  /** A fresh, empty store; `cleanup` removes it. */
  fresh(label?: string): Promise<{ store: StoreConfig; cleanup: () => Promise<void> }>;
}

/** PGlite in a temporary directory (removed by `cleanup`). */
export const pgliteBackend: Backend = {
  name: "pglite",
  skip: false,
  fresh: async (label = "store") => {
    const dir = mkdtempSync(join(tmpdir(), `phonehome-${label}-`));
    return {
      store: { kind: "pglite", dataDir: dir },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

/** PostgreSQL in a fresh schema (dropped by `cleanup`). */
export const postgresBackend: Backend = {
  name: "postgres",
  skip: postgresProblem !== null && !IN_CI ? postgresProblem : false,
  fresh: async (label = "store") => {
    if (postgresProblem !== null) throw new Error(postgresProblem);
    const schema = `t_${label.replace(/[^a-z0-9]/g, "_").slice(0, 20)}_${randomBytes(5).toString("hex")}`;
    return {
      store: { kind: "postgres", url: POSTGRES_URL, schema, poolSize: 8 },
      cleanup: async () => {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  },
};

/** Both backends, PGlite first. */
export const BACKENDS: readonly Backend[] = [pgliteBackend, postgresBackend];

/**
 * A fresh PostgreSQL database on the test server, for what must begin with an
 * empty database (a restore); `drop` removes it, closing what is still
 * connected to it.
 */
export async function freshDatabase(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (postgresProblem !== null) throw new Error(postgresProblem);
  const name = `phonehome_${label.replace(/[^a-z0-9]/g, "_").slice(0, 20)}_${randomBytes(5).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  // The name is made here of [a-z0-9_]; identifiers cannot be bound.
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
