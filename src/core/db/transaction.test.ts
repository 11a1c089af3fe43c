import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Backend, BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb } from "./index.ts";

/** A fresh store of `backend` with one table, `probe (n integer)`; `timeouts` replace the store's. */
function withStore(backend: Backend, timeouts?: { statementMs: number }): { db: () => Db } {
  let db: Db | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const fresh = await backend.fresh("transactions");
    cleanup = fresh.cleanup;
    db = await openDb(
      timeouts === undefined || fresh.store.kind !== "postgres" ? fresh.store : { ...fresh.store, timeouts },
    );
    await db.query("CREATE TABLE probe (n integer)");
  });
  after(async () => {
    await db?.close();
    await cleanup?.();
  });
  return {
    db: () => {
      if (db === undefined) throw new Error("the store is not open yet");
      return db;
    },
  };
}

async function probeRows(db: Db): Promise<number[]> {
  const { rows } = await db.query<{ n: number }>("SELECT n FROM probe ORDER BY n");
  return rows.map((r) => r.n);
}

for (const backend of BACKENDS) {
  describe(`transactions (${backend.name})`, { skip: backend.skip }, () => {
    const store = withStore(backend);

    it("rolls back a transaction whose statement fails, and leaves the store usable, COPY included", async () => {
      const db = store.db();
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO probe VALUES (1)");
          await tx.query("SELECT 1/0");
        }),
        /division by zero/,
      );
      assert.deepEqual(await probeRows(db), [], "nothing of the failed transaction is stored");
      // The client went back to the pool out of pipeline mode: a COPY works in the next transaction.
      assert.equal(await db.transaction((tx) => tx.copyIn("probe", ["n"], "1\n2\n3\n")), 3);
      assert.deepEqual(await probeRows(db), [1, 2, 3]);
      await db.query("DELETE FROM probe");
    });

    it("runs a transaction's statements, made without waiting, in the order they were made", async () => {
      const out = await store.db().transaction(async (tx) => {
        await tx.query("CREATE TEMP TABLE pipe_probe (n integer) ON COMMIT DROP");
        const writes = [1, 2, 3, 4, 5].map((n) => tx.query("INSERT INTO pipe_probe VALUES ($1)", [n]));
        const read = tx.query<{ n: number[] }>("SELECT array_agg(n ORDER BY n) AS n FROM pipe_probe");
        await Promise.all(writes);
        return (await read).rows[0]?.n;
      });
      assert.deepEqual(out, [1, 2, 3, 4, 5]);
    });

    it("refuses a statement made after its transaction ended, so that it cannot commit on its own", async () => {
      const db = store.db();
      let late: Promise<unknown> | undefined;
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO probe VALUES (10)");
          // Work left running inside the transaction, which makes a statement after it failed.
          late = new Promise((resolve) => setTimeout(resolve, 100)).then(() =>
            tx.query("INSERT INTO probe VALUES (11)"),
          );
          late.catch(() => {});
          throw new Error("the transaction fails");
        }),
        /the transaction fails/,
      );
      await assert.rejects(late ?? Promise.resolve(), /ended|closed/i);
      assert.deepEqual(await probeRows(db), [], "nothing of the transaction, nor of the late statement");
    });
  });
}

// PostgreSQL only: PGlite runs no statement ahead of the one before it, and has no driver timeouts.
for (const backend of BACKENDS.filter((b) => b.name === "postgres")) {
  describe(`pipelined transactions (${backend.name})`, { skip: backend.skip }, () => {
    const store = withStore(backend);

    it("fails a transaction whose failed statement nobody awaited with that statement's error, not COMMIT's ROLLBACK", async () => {
      const db = store.db();
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO probe VALUES (20)");
          tx.query("SELECT 1/0").catch(() => {}); // made, failed, and never awaited
          await tx.query("SELECT 1").catch(() => {});
        }),
        /division by zero/,
      );
      assert.deepEqual(await probeRows(db), []);
    });

    it("refuses a COPY made while statements before it are unanswered, and rolls back", async () => {
      const db = store.db();
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO probe VALUES (30)");
          await Promise.all([tx.query("SELECT pg_sleep(0.05)"), tx.copyIn("probe", ["n"], "31\n")]);
        }),
        /statements before it/,
      );
      assert.deepEqual(await probeRows(db), []);
    });
  });

  describe(`a transaction's timeout (${backend.name})`, { skip: backend.skip }, () => {
    // A short statement timeout for the store: what a transaction asks for replaces it.
    const store = withStore(backend, { statementMs: 300 });

    it("cuts a statement longer than the store's timeout", async () => {
      await assert.rejects(store.db().transaction((tx) => tx.query("SELECT pg_sleep(1)")));
    });

    it("lets a statement run past the store's and the driver's usual wait when the transaction asks for none (0)", async () => {
      // The driver's own wait would be the store's 300 ms plus 2 s of grace; this statement outlasts it.
      const rows = await store
        .db()
        .transaction((tx) => tx.query<{ done: boolean }>("SELECT true AS done FROM pg_sleep(2.6)"), {
          timeoutMs: 0,
        });
      assert.deepEqual(rows.rows, [{ done: true }]);
    });

    it("refuses a timeout no timer can hold, before anything is sent", async () => {
      for (const timeoutMs of [2 ** 31, -1, 1.5]) {
        await assert.rejects(
          store.db().transaction((tx) => tx.query("SELECT 1"), { timeoutMs }),
          /bad timeout/,
        );
      }
    });
  });
}
