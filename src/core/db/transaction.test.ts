import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb } from "./index.ts";

for (const backend of BACKENDS.filter((b) => b.name === "postgres")) {
  describe(`a transaction's timeout (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("timeouts");
      cleanup = fresh.cleanup;
      if (fresh.store.kind !== "postgres") throw new Error("a PostgreSQL store was expected");
      // A short statement timeout for the store: what a transaction asks for replaces it.
      db = await openDb({ ...fresh.store, timeouts: { statementMs: 300 } });
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    it("cuts a statement longer than the store's timeout", async () => {
      await assert.rejects(db.transaction((tx) => tx.query("SELECT pg_sleep(1)")));
    });

    it("lets a statement run past the store's and the driver's usual wait when the transaction asks for none (0)", async () => {
      // The driver's own wait would be the store's 300 ms plus 2 s of grace; this statement outlasts it.
      const rows = await db.transaction(
        (tx) => tx.query<{ done: boolean }>("SELECT true AS done FROM pg_sleep(2.6)"),
        {
          timeoutMs: 0,
        },
      );
      assert.deepEqual(rows.rows, [{ done: true }]);
    });

    it("refuses a timeout no timer can hold, before anything is sent", async () => {
      for (const timeoutMs of [2 ** 31, -1, 1.5]) {
        await assert.rejects(
          db.transaction((tx) => tx.query("SELECT 1"), { timeoutMs }),
          /bad timeout/,
        );
      }
    });
  });
}
