/**
 * Storing diagnostics events: COPY for new rows, and the fall-back for a
 * batch that repeats stored events, on both backends.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { freshRegionStore } from "../../../test/helpers/retention.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import type { Db, Queryable } from "../../core/db/index.ts";
import {
  type DiagnosticsRow,
  eventKey,
  findDiagnosticsEvents,
  insertDiagnosticsEvents,
} from "./diagnostics.repository.ts";

function rows(deviceRef: string, n: number): DiagnosticsRow[] {
  const at = Date.UTC(2026, 10, 1);
  return Array.from({ length: n }, (_, i) => ({
    deviceRef,
    eventId: randomUUID(),
    collection: "uep.diagnostics",
    schemaVersion: 1,
    occurredAt: new Date(at + i * 1000),
    expiresAt: new Date(at + 180 * 86_400_000 + i * 1000),
    consentReceipt: randomUUID(),
    data: { build: `tab\tand\\backslash ${i}`, crashCount: i },
  }));
}

/** Wraps a transaction so that the test sees which statements a call sent, in order. */
function recording(tx: Queryable): { tx: Queryable; sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    tx: {
      query: (sql, params) => {
        sent.push(sql.trim().split(/\s+/).slice(0, 2).join(" "));
        return tx.query(sql, params);
      },
      copyIn: (table, columns, data) => {
        sent.push(`COPY ${table}`);
        return tx.copyIn(table, columns, data);
      },
    },
  };
}

for (const backend of BACKENDS) {
  describe(`insertDiagnosticsEvents (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db, cleanup } = await freshRegionStore(backend, "diagrepo"));
    });
    after(async () => {
      await cleanup?.();
    });

    it("stores new events as given and reports every one inserted", async () => {
      const batch = [...rows("dr_b", 20), ...rows("dr_a", 20)];
      let sent: string[] = [];
      const inserted = await db.transaction((tx) => {
        const r = recording(tx);
        sent = r.sent;
        return insertDiagnosticsEvents(r.tx, batch);
      });
      assert.deepEqual(sent, ["SAVEPOINT diagnostics_copy", "COPY diagnostics_events", "RELEASE SAVEPOINT"]);
      assert.deepEqual([...inserted].sort(), batch.map(eventKey).sort());
      const stored = await findDiagnosticsEvents(db, "dr_a");
      assert.equal(stored.length, 20);
      const first = batch.find((r) => r.deviceRef === "dr_a");
      const back = stored.find((r) => r.eventId === first?.eventId);
      assert.deepEqual(back?.data, first?.data);
      assert.equal(back?.occurredAt.getTime(), first?.occurredAt.getTime());
      assert.equal(back?.consentReceipt, first?.consentReceipt);
    });

    it("skips events already stored, inserting only the new ones of a repeated batch", async () => {
      const first = rows("dr_c", 10);
      await db.transaction((tx) => insertDiagnosticsEvents(tx, first.slice(0, 6)));
      let sent: string[] = [];
      const inserted = await db.transaction((tx) => {
        const r = recording(tx);
        sent = r.sent;
        return insertDiagnosticsEvents(r.tx, first);
      });
      assert.deepEqual(sent, [
        "SAVEPOINT diagnostics_copy",
        "COPY diagnostics_events",
        "ROLLBACK TO",
        "INSERT INTO",
      ]);
      assert.deepEqual([...inserted].sort(), first.slice(6).map(eventKey).sort());
      assert.equal((await findDiagnosticsEvents(db, "dr_c")).length, 10);
    });

    it("stores an event repeated within one call once", async () => {
      const batch = rows("dr_d", 5);
      const inserted = await db.transaction((tx) =>
        insertDiagnosticsEvents(tx, [...batch, ...batch.slice(0, 2)]),
      );
      assert.equal(inserted.size, 5);
      assert.equal((await findDiagnosticsEvents(db, "dr_d")).length, 5);
    });

    it("keeps the transaction usable after the fall-back", async () => {
      const batch = rows("dr_e", 3);
      await db.transaction((tx) => insertDiagnosticsEvents(tx, batch));
      const after = await db.transaction(async (tx) => {
        await insertDiagnosticsEvents(tx, batch);
        return insertDiagnosticsEvents(tx, rows("dr_e", 2));
      });
      assert.equal(after.size, 2);
      assert.equal((await findDiagnosticsEvents(db, "dr_e")).length, 5);
    });
  });
}
