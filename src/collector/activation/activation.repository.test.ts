import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import {
  type ActivationRow,
  countActivations,
  findActivations,
  storeActivations,
} from "./activation.repository.ts";
import { activationWrites } from "./activation.table.ts";

/** An activation row for `deviceKey`, as the intake hands it to the writer. */
function row(deviceKey: string): ActivationRow {
  const day = new Date(Date.UTC(2026, 11, 7));
  return {
    deviceKey,
    eventId: randomUUID(),
    schemaVersion: 1,
    data: { model: "7 Plus", marker: randomUUID() },
    activatedAt: day,
    warrantyUntil: new Date(Date.UTC(2028, 11, 7)),
    expiresAt: new Date(Date.UTC(2038, 11, 7)),
  };
}

for (const backend of BACKENDS) {
  describe(`storing activations (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("activations");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await migrate(db, "region");
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    it("stores new devices and answers every device's first activation in one statement's answer", async () => {
      const first = row("dk_first");
      await db.transaction((tx) => storeActivations(tx, [first]));
      const again = row("dk_first");
      const fresh = row("dk_second");
      const { stored, inserted } = await db.transaction((tx) => storeActivations(tx, [again, fresh, fresh]));
      assert.deepEqual([...inserted].sort(), ["dk_second"]);
      assert.equal(stored.get("dk_first")?.eventId, first.eventId, "the first activation is kept");
      assert.equal(stored.get("dk_first")?.activatedAt.getTime(), first.activatedAt.getTime());
      assert.equal(stored.get("dk_first")?.warrantyUntil.getTime(), first.warrantyUntil.getTime());
      assert.equal(stored.get("dk_first")?.schemaVersion, 1);
      assert.equal(stored.get("dk_second")?.eventId, fresh.eventId);
      assert.equal(await countActivations(db), 2);
      const [kept] = await findActivations(db, ["dk_first"]);
      assert.deepEqual(kept?.data, first.data, "the stored payload is the first one");
    });

    it("stores a device that is many times in one batch from the first of them, whatever the batch's size", async () => {
      for (let trial = 0; trial < 5; trial++) {
        const key = `dk_many_${trial}`;
        const batch = Array.from({ length: 60 }, (_, i) => row(i % 2 === 0 ? key : `dk_other_${trial}_${i}`));
        const written = await db.transaction((tx) => activationWrites.write(tx, batch));
        const mine = written.filter((_, i) => i % 2 === 0);
        assert.equal(mine[0]?.outcome, "stored");
        assert.ok(mine.slice(1).every((w) => w.outcome === "replayed"));
        for (const w of mine)
          assert.equal(w.result.stored.eventId, batch[0]?.eventId, "the first one sent is kept");
      }
    });

    it("answers a device twice in one batch as stored once, then replayed", async () => {
      const a = row("dk_twice");
      const b = row("dk_twice");
      const written = await db.transaction((tx) => activationWrites.write(tx, [a, b]));
      assert.deepEqual(
        written.map((w) => w.outcome),
        ["stored", "replayed"],
      );
      assert.equal(written[1]?.result.stored.eventId, a.eventId);
    });

    it("answers an activation another transaction committed while this one waited on the key", async () => {
      // Transaction A inserts and holds its row lock; B's insert of the same key waits for A. When A
      // commits, B's statement inserts nothing and its snapshot predates A's row: B must read it anew.
      const key = `dk_race_${backend.name}`;
      const a = row(key);
      const b = row(key);
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let aStored!: () => void;
      const aWrote = new Promise<void>((resolve) => {
        aStored = resolve;
      });
      const first = db.transaction(async (tx) => {
        const out = await activationWrites.write(tx, [a]);
        aStored();
        await held;
        return out;
      });
      await aWrote;
      const second = db.transaction((tx) => activationWrites.write(tx, [b]));
      // PGlite runs one transaction at a time: B only begins after A. PostgreSQL lets B wait on the key.
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      const [wa, wb] = await Promise.all([first, second]);
      assert.equal(wa[0]?.outcome, "stored");
      assert.equal(wb[0]?.outcome, "replayed");
      assert.equal(wb[0]?.result.stored.eventId, a.eventId, "B answers A's activation, the one stored");
    });

    it("rolls back a transaction whose statement fails, and keeps the store usable", async () => {
      await assert.rejects(
        db.transaction(async (tx) => {
          await storeActivations(tx, [row("dk_rolled_back")]);
          await tx.query("SELECT 1/0");
        }),
      );
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM activations WHERE device_key = $1",
        ["dk_rolled_back"],
      );
      assert.equal(rows[0]?.n, 0, "nothing of the failed transaction is stored");
      // The pool's client came back out of pipeline mode: a plain query and a COPY work.
      const copied = await db.transaction(async (tx) => {
        await tx.query("CREATE TEMP TABLE copy_probe (n integer) ON COMMIT DROP");
        return tx.copyIn("copy_probe", ["n"], "1\n2\n3\n");
      });
      assert.equal(copied, 3);
    });

    it("runs a transaction's statements, made without waiting, in the order they were made", async () => {
      const out = await db.transaction(async (tx) => {
        await tx.query("CREATE TEMP TABLE pipe_probe (n integer) ON COMMIT DROP");
        const writes = [1, 2, 3, 4, 5].map((n) => tx.query("INSERT INTO pipe_probe VALUES ($1)", [n]));
        const read = tx.query<{ n: number[] }>("SELECT array_agg(n ORDER BY n) AS n FROM pipe_probe");
        await Promise.all(writes);
        return (await read).rows[0]?.n;
      });
      assert.deepEqual(out, [1, 2, 3, 4, 5]);
    });

    it("fails a transaction whose failed statement nobody awaited with that statement's error, not COMMIT's ROLLBACK", async () => {
      // PostgreSQL only: PGlite runs no statement ahead of the one before it.
      if (backend.name !== "postgres") return;
      await assert.rejects(
        db.transaction(async (tx) => {
          await storeActivations(tx, [row("dk_unawaited")]);
          tx.query("SELECT 1/0").catch(() => {}); // made, failed, and never awaited
          await tx.query("SELECT 1").catch(() => {});
        }),
        /division by zero/,
      );
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM activations WHERE device_key = $1",
        ["dk_unawaited"],
      );
      assert.equal(rows[0]?.n, 0);
    });

    it("refuses a statement made after its transaction ended, so that it cannot commit on its own", async () => {
      let late: Promise<unknown> | undefined;
      await assert.rejects(
        db.transaction(async (tx) => {
          await storeActivations(tx, [row("dk_late_first")]);
          // Work left running inside the transaction, which makes a statement after it failed.
          late = new Promise((resolve) => setTimeout(resolve, 100)).then(() =>
            storeActivations(tx, [row("dk_late")]),
          );
          late.catch(() => {});
          throw new Error("the transaction fails");
        }),
        /the transaction fails/,
      );
      await assert.rejects(late ?? Promise.resolve(), /ended|closed/i);
      const { rows } = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM activations WHERE device_key IN ('dk_late_first', 'dk_late')",
      );
      assert.equal(rows[0]?.n, 0, "nothing of the failed transaction, nor of the late statement, is stored");
      assert.equal((await db.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one, 1);
    });

    it("refuses a COPY made while statements before it are unanswered, and rolls back", async () => {
      if (backend.name !== "postgres") return;
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query("CREATE TEMP TABLE copy_early (n integer) ON COMMIT DROP");
          await Promise.all([tx.query("SELECT pg_sleep(0.05)"), tx.copyIn("copy_early", ["n"], "1\n")]);
        }),
        /statements before it/,
      );
      assert.equal((await db.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one, 1);
    });
  });
}
