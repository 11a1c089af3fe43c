import { DEVICE_TABLES } from "../device-tables.ts";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  allEvents,
  freshRegionStore,
  putEvents,
  retentionDictionary,
} from "../../../test/helpers/retention.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import pg from "pg";
import type { Db, StoreConfig } from "../../core/db/index.ts";
import {
  detachDiagnosticsPartition,
  ensureDiagnosticsPartitions,
  listDiagnosticsPartitions,
  partitionMonthsAhead,
  partitionOf,
} from "./partitions.ts";

describe("partition names and months ahead", () => {
  it("names a month's partition from its numbers, with UTC bounds", () => {
    assert.deepEqual(partitionOf(new Date("2027-12-31T23:59:59.999Z")), {
      name: "diagnostics_events_202712",
      from: new Date("2027-12-01T00:00:00Z"),
      to: new Date("2028-01-01T00:00:00Z"),
    });
    // 23:30 on 31 January in New York is already February in UTC: months are UTC months.
    assert.equal(partitionOf(new Date("2027-01-31T23:30:00-05:00")).name, "diagnostics_events_202702");
  });

  it("covers the longest diagnostics retention, not the activations' five years", () => {
    const { dictionary, cleanup } = retentionDictionary();
    try {
      // test.diag v1 keeps P1Y: stored 15 January 2027, it expires 15 January 2028, 13 months on.
      assert.equal(partitionMonthsAhead(DEVICE_TABLES, dictionary, new Date("2027-01-15T00:00:00Z")), 13);
    } finally {
      cleanup();
    }
  });
});

for (const backend of BACKENDS) {
  describe(`diagnostics partitions on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let store: StoreConfig;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db, store, cleanup } = await freshRegionStore(backend, "partitions"));
    });
    after(async () => cleanup());

    it("moves rows that arrived before their month's partition into it, and loses none", async () => {
      // Before any partition exists every event lands in the default partition.
      const early = await putEvents(db, [
        { deviceRef: "dr_a", expiresAt: new Date("2031-01-01T00:00:00Z") },
        { deviceRef: "dr_b", expiresAt: new Date("2031-01-31T23:59:59.999Z") },
        { deviceRef: "dr_a", expiresAt: new Date("2031-02-10T00:00:00Z") },
        { deviceRef: "dr_c", expiresAt: new Date("2031-03-01T00:00:00Z") },
        { deviceRef: "dr_c", expiresAt: new Date("2030-12-31T23:59:59.999Z") },
      ]);
      const before = await allEvents(db);
      assert.ok(before.every((e) => e.partition === "diagnostics_events_default"));

      const created = await ensureDiagnosticsPartitions(db, new Date("2031-01-20T00:00:00Z"), 2);
      assert.deepEqual(created, [
        { name: "diagnostics_events_203101", moved: 2 },
        { name: "diagnostics_events_203102", moved: 1 },
      ]);
      const afterwards = await allEvents(db);
      assert.equal(afterwards.length, early.length);
      const where = new Map(afterwards.map((e) => [e.eventId, e.partition]));
      assert.deepEqual(
        early.map((id) => where.get(id)),
        [
          "diagnostics_events_203101",
          "diagnostics_events_203101",
          "diagnostics_events_203102",
          "diagnostics_events_default", // March has no partition yet
          "diagnostics_events_default", // December 2030 is before the months asked for
        ],
      );
      // Moved, not copied: the data is intact and no row is there twice.
      assert.deepEqual(
        afterwards.map(({ partition: _p, ...rest }) => rest),
        before.map(({ partition: _p, ...rest }) => rest),
      );
    });

    it("is idempotent, and new events go straight to their month", async () => {
      const again = await ensureDiagnosticsPartitions(db, new Date("2031-01-01T00:00:00Z"), 3);
      assert.deepEqual(again, [{ name: "diagnostics_events_203103", moved: 1 }]);
      assert.deepEqual(await ensureDiagnosticsPartitions(db, new Date("2031-01-01T00:00:00Z"), 3), []);
      const [id] = await putEvents(db, [{ deviceRef: "dr_d", expiresAt: new Date("2031-02-14T12:00:00Z") }]);
      const stored = (await allEvents(db)).find((e) => e.eventId === id);
      assert.equal(stored?.partition, "diagnostics_events_203102");
      const listed = await listDiagnosticsPartitions(db);
      assert.deepEqual(
        listed.map((p) => [p.name, p.from.toISOString(), p.to.toISOString(), p.attached]),
        [
          ["diagnostics_events_203101", "2031-01-01T00:00:00.000Z", "2031-02-01T00:00:00.000Z", true],
          ["diagnostics_events_203102", "2031-02-01T00:00:00.000Z", "2031-03-01T00:00:00.000Z", true],
          ["diagnostics_events_203103", "2031-03-01T00:00:00.000Z", "2031-04-01T00:00:00.000Z", true],
        ],
      );
    });

    it("gives every new partition the parent's indexes, the purge's walk index among them", async () => {
      const { rows } = await db.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'diagnostics_events_203101'`,
      );
      assert.ok(rows.some((r) => /\(expires_at, device_ref COLLATE "C", event_id\)/.test(r.indexdef)));
      assert.ok(rows.some((r) => /UNIQUE/.test(r.indexdef)));
    });

    it("never holds ingest up while it waits to detach behind a reader, and detaches once the reader ends", async () => {
      await ensureDiagnosticsPartitions(db, new Date("2032-01-01T00:00:00Z"), 2);
      await putEvents(db, [{ deviceRef: "dr_old", expiresAt: new Date("2032-01-10T00:00:00Z") }]);
      const patience = { attemptMs: 50, pauseMs: 200, budgetMs: 2000 };
      if (store.kind === "pglite") {
        // One connection: nothing else can hold the table, the first attempt detaches.
        const outcome = await detachDiagnosticsPartition(db, "diagnostics_events_203201", patience);
        assert.deepEqual([outcome.detached, outcome.attempts], [true, 1]);
        const listed = await listDiagnosticsPartitions(db);
        assert.equal(listed.find((p) => p.name === "diagnostics_events_203201")?.attached, false);
        return;
      }
      // A report: a read transaction left open on another connection holds the parent table.
      const reader = new pg.Client({ connectionString: store.url });
      reader.on("error", () => {});
      await reader.connect();
      try {
        await reader.query(`SET search_path = "${store.schema ?? "public"}"`);
        await reader.query("BEGIN");
        await reader.query("SELECT count(*) FROM diagnostics_events");
        // Ingest goes on throughout: one insert at a time into the current month, each one timed.
        let detaching = true;
        const waits: number[] = [];
        const ingest = (async () => {
          while (detaching) {
            const started = performance.now();
            await putEvents(db, [{ deviceRef: "dr_new", expiresAt: new Date("2032-02-10T00:00:00Z") }]);
            waits.push(performance.now() - started);
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        })();
        const outcome = await detachDiagnosticsPartition(db, "diagnostics_events_203201", patience).finally(
          () => {
            detaching = false;
          },
        );
        await ingest;
        assert.equal(outcome.detached, false, "the reader holds the table: the partition is left for later");
        assert.ok(outcome.attempts > 3, `attempts: ${outcome.attempts}`);
        assert.ok(outcome.elapsedMs >= 1500 && outcome.elapsedMs < 4000, `elapsed: ${outcome.elapsedMs} ms`);
        assert.ok(waits.length > 10, `inserts: ${waits.length}`);
        const longest = Math.max(...waits);
        assert.ok(longest < 1500, `the longest insert waited ${Math.round(longest)} ms`);
        const listed = await listDiagnosticsPartitions(db);
        assert.equal(listed.find((p) => p.name === "diagnostics_events_203201")?.attached, true);

        await reader.query("COMMIT");
        const again = await detachDiagnosticsPartition(db, "diagnostics_events_203201", patience);
        assert.deepEqual([again.detached, again.attempts], [true, 1]);
        const after = await listDiagnosticsPartitions(db);
        assert.equal(after.find((p) => p.name === "diagnostics_events_203201")?.attached, false);
      } finally {
        await reader.query("ROLLBACK").catch(() => {});
        await reader.end();
      }
    });

    it("refuses a count of months out of range", async () => {
      await assert.rejects(ensureDiagnosticsPartitions(db, new Date(), 0), RangeError);
      await assert.rejects(ensureDiagnosticsPartitions(db, new Date(), 121), RangeError);
    });
  });
}
