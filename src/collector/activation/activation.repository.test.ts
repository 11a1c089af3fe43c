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
  });
}
