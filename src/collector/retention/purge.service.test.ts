import { DEVICE_TABLES } from "../device-tables.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, beforeEach, describe, it } from "node:test";
import pg from "pg";
import {
  allActivations,
  allEvents,
  freshRegionStore,
  putActivations,
  putEvents,
  retentionDictionary,
} from "../../../test/helpers/retention.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import type { Db, StoreConfig } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { createLogger } from "../../core/log/index.ts";
import { ensureDiagnosticsPartitions, listDiagnosticsPartitions } from "./partitions.ts";
import { listPurgeRuns, withPurgeLock } from "./purge.repository.ts";
import { formatResult } from "./purge.presenter.ts";
import { planPurge, runPurge } from "./purge.service.ts";
import { prepareRetention } from "./schedule.ts";
import { listJobRuns, startLeasedJobs } from "../../core/leases/index.ts";

const NOW = new Date("2031-03-15T00:00:00Z");
const at = (iso: string) => new Date(iso);
const EMPTY_SHA256 = createHash("sha256").digest("hex");

/** Empties the store: rows, runs, and every monthly partition. */
async function reset(db: Db): Promise<void> {
  await db.query(
    "TRUNCATE activations, diagnostics_events, device_builds, purge_runs, consent_history, erasures, access_receipts, notice_deliveries, incident_notices",
  );
  for (const p of await listDiagnosticsPartitions(db)) await db.query(`DROP TABLE ${p.name}`);
}

/**
 * Rows on both sides of `NOW` (2031-03-15): partitions for January to April
 * 2031; January and February lie wholly in the past.
 */
async function scenario(db: Db): Promise<void> {
  await ensureDiagnosticsPartitions(db, at("2031-01-01T00:00:00Z"), 4);
  await putActivations(db, [
    { deviceKey: "act-1", expiresAt: at("2031-03-14T00:00:00Z") },
    { deviceKey: "act-2", expiresAt: NOW }, // due at the very instant
    { deviceKey: "act-3", expiresAt: at("2031-03-15T00:00:00.001Z") },
    { deviceKey: "act-4", expiresAt: at("2036-01-01T00:00:00Z") },
  ]);
  const v2 = (deviceRef: string, expiresAt: string) => ({
    deviceRef,
    expiresAt: at(expiresAt),
    schemaVersion: 2,
  });
  await putEvents(db, [
    v2("dr_jan1", "2031-01-02T00:00:00Z"),
    v2("dr_jan2", "2031-01-15T00:00:00Z"),
    v2("dr_jan3", "2031-01-31T23:59:59.999Z"),
    v2("dr_feb1", "2031-02-01T00:00:00Z"),
    v2("dr_feb2", "2031-02-28T00:00:00Z"),
    v2("dr_mar1", "2031-03-02T00:00:00Z"),
    v2("dr_mar2", "2031-03-15T00:00:00Z"),
    v2("dr_mar3", "2031-03-20T00:00:00Z"),
    v2("dr_apr1", "2031-04-02T00:00:00Z"),
    v2("dr_old", "2030-06-01T00:00:00Z"), // default partition: no month partition for it
    v2("dr_far", "2032-01-01T00:00:00Z"), // default partition, far ahead
  ]);
}

for (const backend of BACKENDS) {
  describe(`retention purge on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let store: StoreConfig;
    let cleanup: () => Promise<void>;
    let dictionary: Dictionary;
    let dropDictionary: () => void;
    before(async () => {
      ({ db, store, cleanup } = await freshRegionStore(backend, "purge"));
      ({ dictionary, cleanup: dropDictionary } = retentionDictionary());
    });
    after(async () => {
      await cleanup();
      dropDictionary();
    });
    beforeEach(async () => reset(db));

    it("plans per table: months that go whole, rows that go one by one, and nothing else", async () => {
      await scenario(db);
      const plan = await planPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      assert.deepEqual(plan.tables, {
        activations: { rows: 2, fields: 0, partitions: [] },
        diagnostics_events: {
          rows: 8,
          fields: 0,
          partitions: ["diagnostics_events_203101", "diagnostics_events_203102"],
        },
        device_builds: { rows: 0, fields: 0, partitions: [] },
        consent_history: { rows: 0, fields: 0, partitions: [] },
        erasures: { rows: 0, fields: 0, partitions: [] },
        access_receipts: { rows: 0, fields: 0, partitions: [] },
        notice_deliveries: { rows: 0, fields: 0, partitions: [] },
      });
      assert.equal(plan.total, 10);
      const steps = plan.steps.filter((s) => s.action !== "remove-field");
      assert.deepEqual(
        steps.map((s) => [s.table, s.action, s.partition ?? null, s.due]),
        [
          ["activations", "delete-rows", null, 2],
          ["diagnostics_events", "drop-partition", "diagnostics_events_203101", 3],
          ["diagnostics_events", "drop-partition", "diagnostics_events_203102", 2],
          ["diagnostics_events", "delete-rows", null, 3],
          ["device_builds", "delete-rows", null, 0],
          ["consent_history", "delete-rows", null, 0],
          ["erasures", "delete-rows", null, 0],
          ["access_receipts", "delete-rows", null, 0],
          ["notice_deliveries", "delete-rows", null, 0],
        ],
      );
    });

    it("removes proof records whose own retention has run out, and never a decision still in force", async () => {
      const device = `dk_${"P".repeat(27)}`;
      const at = (iso: string) => new Date(iso).toISOString();
      // Three decisions: two replaced (one long ago, one recently), the last in force (no expiry).
      const history: [string, string | null][] = [
        ["00000000-0000-4000-8000-000000000001", at("2031-03-14T00:00:00Z")],
        ["00000000-0000-4000-8000-000000000002", at("2034-01-01T00:00:00Z")],
        ["00000000-0000-4000-8000-000000000003", null],
      ];
      for (const [receipt, expires] of history) {
        await db.query(
          `INSERT INTO consent_history (receipt_id, device_key, purpose, granted, notice_version, language, method,
                                        decided_at, receipt, expires_at)
           VALUES ($1, $2, 'uep.diagnostics', true, 1, 'en', 'device-settings', '2028-01-01T00:00:00Z', '{}', $3)`,
          [receipt, device, expires],
        );
      }
      for (const [request, expires] of [
        ["00000000-0000-4000-8000-00000000000a", at("2031-03-15T00:00:00Z")], // due exactly now
        ["00000000-0000-4000-8000-00000000000b", at("2031-03-15T00:00:00.001Z")],
      ]) {
        await db.query(
          `INSERT INTO erasures (request_id, device_key, erased_at, deleted, kept, jws, expires_at)
           VALUES ($1, $2, '2028-03-15T00:00:00Z', '[]', '[]', 'x.y.z', $3)`,
          [request, device, expires],
        );
        await db.query(
          `INSERT INTO access_receipts (request_id, device_key, accessed_at, held, jws, expires_at)
           VALUES ($1, $2, '2028-03-15T00:00:00Z', '[]', 'x.y.z', $3)`,
          [request, device, expires],
        );
      }
      await db.query(
        `INSERT INTO incident_notices (id, incident, title, body, sent_at)
         VALUES ('INC-1-N1', 'INC-1', 'A notice', 'Its text', '2028-03-15T00:00:00Z')`,
      );
      for (const [device, expires] of [
        [`dk_${"a".repeat(27)}`, at("2031-03-15T00:00:00Z")], // due exactly now
        [`dk_${"b".repeat(27)}`, at("2031-03-15T00:00:00.001Z")],
      ]) {
        await db.query(
          `INSERT INTO notice_deliveries (device_key, notice, delivered_at, expires_at)
           VALUES ($1, 'INC-1-N1', '2028-03-16T00:00:00Z', $2)`,
          [device, expires],
        );
      }
      const dry = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, dryRun: true });
      const result = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      for (const r of [dry, result]) {
        assert.deepEqual(
          [
            r.tables.consent_history?.rows,
            r.tables.erasures?.rows,
            r.tables.access_receipts?.rows,
            r.tables.notice_deliveries?.rows,
          ],
          [1, 1, 1, 1],
        );
      }
      assert.equal(result.sha256, dry.sha256);
      const left = await db.query<{ t: string; id: string }>(
        `SELECT 'consent_history' AS t, receipt_id::text AS id FROM consent_history
         UNION ALL SELECT 'erasures', request_id::text FROM erasures
         UNION ALL SELECT 'access_receipts', request_id::text FROM access_receipts
         UNION ALL SELECT 'notice_deliveries', device_key FROM notice_deliveries ORDER BY 1, 2`,
      );
      assert.deepEqual(
        left.rows.map((r) => `${r.t} ${r.id.slice(-1)}`),
        ["access_receipts b", "consent_history 2", "consent_history 3", "erasures b", "notice_deliveries b"],
      );
    });

    it("removes exactly the rows past retention, drops past months whole, and a dry run first says the same", async () => {
      await scenario(db);
      const before = { activations: await allActivations(db), events: await allEvents(db) };

      const dry = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, dryRun: true });
      assert.equal(dry.removed, 10);
      assert.deepEqual(await allActivations(db), before.activations, "a dry run removes nothing");
      assert.deepEqual(await allEvents(db), before.events);
      assert.equal((await listDiagnosticsPartitions(db)).length, 4);

      const real = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      assert.equal(real.removed, 10);
      assert.deepEqual(real.tables, dry.tables);
      assert.equal(real.sha256, dry.sha256, "the dry run walked the very rows the real run removed");
      assert.deepEqual(
        real.steps.map((s) => s.removed),
        dry.steps.map((s) => s.removed),
      );

      assert.deepEqual(
        (await allActivations(db)).map((a) => a.deviceKey),
        ["act-3", "act-4"],
      );
      const events = await allEvents(db);
      assert.deepEqual(
        events.map((e) => [e.deviceRef, e.partition]),
        [
          ["dr_apr1", "diagnostics_events_203104"],
          ["dr_far", "diagnostics_events_default"],
          ["dr_mar3", "diagnostics_events_203103"],
        ],
      );
      assert.deepEqual(
        (await listDiagnosticsPartitions(db)).map((p) => p.name),
        ["diagnostics_events_203103", "diagnostics_events_203104"],
        "January and February were dropped whole",
      );

      const runs = await listPurgeRuns(db, 10);
      assert.deepEqual(
        runs.map((r) => [r.kind, r.dryRun, r.removed, r.sha256, r.asOf.toISOString(), r.finishedAt !== null]),
        [
          ["retention", false, 10, real.sha256, NOW.toISOString(), true],
          ["retention", true, 10, dry.sha256, NOW.toISOString(), true],
        ],
      );
      assert.equal(runs[0]?.id, real.runId);
      assert.deepEqual((runs[0]?.counts as { tables: unknown }).tables, real.tables);
      assert.equal(runs[0]?.reason, null);

      const again = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      assert.equal(again.removed, 0, "a second run finds nothing due");
      assert.equal(again.sha256, EMPTY_SHA256);
    });

    it("digests the removed keys as documented: one line per row, in (expiry, key) order, keys byte-wise", async () => {
      // Upper case sorts before lower case byte-wise, unlike in most locales' collations.
      const keys = ["b-device", "B-device", "a-device", "A-device"];
      await putActivations(
        db,
        keys.map((deviceKey) => ({ deviceKey, expiresAt: at("2031-03-01T12:00:00.123Z") })),
      );
      await putActivations(db, [{ deviceKey: "0-later", expiresAt: at("2031-03-02T00:00:00Z") }]);
      const result = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      const lines = ["A-device", "B-device", "a-device", "b-device"]
        .map((k) => `activations\t2031-03-01T12:00:00.123000Z\t${k}\n`)
        .concat("activations\t2031-03-02T00:00:00.000000Z\t0-later\n");
      assert.equal(result.sha256, createHash("sha256").update(lines.join("")).digest("hex"));
    });

    it("deletes in chunks of the given size and reports progress after each", async () => {
      await putActivations(
        db,
        Array.from({ length: 7 }, (_, i) => ({
          deviceKey: `act-${i}`,
          expiresAt: at("2031-03-01T00:00:00Z"),
        })),
      );
      await putEvents(
        db,
        Array.from({ length: 5 }, (_, i) => ({
          deviceRef: `dr_${i}`,
          expiresAt: at("2030-01-01T00:00:00Z"),
        })),
      );
      const seen: [number, number][] = [];
      const result = await runPurge(db, NOW, {
        dictionary,
        tables: DEVICE_TABLES,
        chunkSize: 2,
        onProgress: (done, total) => seen.push([done, total]),
      });
      assert.equal(result.removed, 12);
      // 7 activations in chunks of 2 (4 chunks), then 5 events (3 chunks).
      assert.deepEqual(
        seen.map(([done]) => done),
        [2, 4, 6, 7, 9, 11, 12],
      );
      assert.ok(seen.every(([, total]) => total === 12));
      assert.equal((await allActivations(db)).length, 0);
      assert.equal((await allEvents(db)).length, 0);
    });

    it("removes a field when its own, shorter retention ends, and leaves the rest of the row", async () => {
      // test.diag v1 keeps rows a year, its `model` field 30 days, counted from when the event happened.
      const ids = await putEvents(db, [
        { deviceRef: "dr_1", occurredAt: at("2031-02-01T00:00:00Z"), expiresAt: at("2032-02-01T00:00:00Z") },
        { deviceRef: "dr_2", occurredAt: at("2031-02-13T00:00:00Z"), expiresAt: at("2032-02-13T00:00:00Z") },
        { deviceRef: "dr_3", occurredAt: at("2031-02-14T00:00:00Z"), expiresAt: at("2032-02-14T00:00:00Z") },
        // v2 keeps `model` as long as the row.
        {
          deviceRef: "dr_4",
          schemaVersion: 2,
          occurredAt: at("2031-01-01T00:00:00Z"),
          expiresAt: at("2031-04-01T00:00:00Z"),
        },
        // Past its own retention: the row goes, and is not counted as a field removal too.
        { deviceRef: "dr_5", occurredAt: at("2030-01-01T00:00:00Z"), expiresAt: at("2031-01-01T00:00:00Z") },
      ]);
      const plan = await planPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      assert.deepEqual(plan.tables.diagnostics_events, { rows: 1, fields: 2, partitions: [] });
      const result = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES });
      const step = result.steps.find((s) => s.action === "remove-field" && s.removed > 0);
      assert.deepEqual(step && [step.collection, step.version, step.field, step.removed], [
        "test.diag",
        1,
        "model",
        2,
      ]);
      const data = new Map((await allEvents(db)).map((e) => [e.eventId, e.data]));
      // 1 Feb + 30 days = 3 March, 13 Feb + 30 days = 15 March (= now): both due; 14 Feb + 30 days is not.
      assert.deepEqual(
        ids.map((id) => data.get(id)),
        [
          { battery: 80 },
          { battery: 80 },
          { model: "TA-1062", battery: 80 },
          { model: "TA-1062", battery: 80 },
          undefined,
        ],
      );
    });

    it("refuses a second purge in the same process while one runs (the schedule and an operator's request)", async () => {
      const outcome = await withPurgeLock(db, () =>
        runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, dryRun: true }).then(
          () => "ran",
          (e: unknown) => (isPhoneHomeError(e, "store.locked") ? "locked" : e),
        ),
      );
      assert.deepEqual(outcome, { value: "locked" });
      assert.equal(
        (await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, dryRun: true })).dryRun,
        true,
      );
    });

    if (backend.name === "postgres") {
      it("refuses to run while another process of the region is purging", async () => {
        if (store.kind !== "postgres") throw new Error("expected a PostgreSQL store");
        const other = new pg.Client({ connectionString: store.url });
        await other.connect();
        try {
          await other.query(`SET search_path = ${store.schema ?? "public"}`);
          await other.query("BEGIN");
          await other.query("SELECT pg_advisory_xact_lock(hashtext('phonehome.purge.' || current_schema()))");
          await assert.rejects(runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES }), (e) =>
            isPhoneHomeError(e, "store.locked"),
          );
          await other.query("COMMIT");
          assert.equal((await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES })).removed, 0);
        } finally {
          await other.end();
        }
      });

      it("skips a partition a reader keeps busy, says so in the result, and drops it at the next run", async () => {
        if (store.kind !== "postgres") throw new Error("expected a PostgreSQL store");
        await reset(db);
        await scenario(db);
        const reader = new pg.Client({ connectionString: store.url });
        await reader.connect();
        const detachPatience = { attemptMs: 50, pauseMs: 100, budgetMs: 600 };
        try {
          await reader.query(`SET search_path = ${store.schema ?? "public"}`);
          await reader.query("BEGIN");
          await reader.query("SELECT count(*) FROM diagnostics_events");
          const busy = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, detachPatience });
          const drops = busy.steps.filter((s) => s.action === "drop-partition");
          assert.deepEqual(
            drops.map((s) => [s.partition, s.skipped]),
            [
              ["diagnostics_events_203101", true],
              ["diagnostics_events_203102", true],
            ],
          );
          for (const s of drops)
            assert.match(s.skippedBecause ?? "", /stayed locked .* left for the next run/);
          assert.deepEqual(busy.tables.diagnostics_events?.partitions, []);
          const lines = formatResult(busy).filter((l) => l.includes("was skipped"));
          assert.equal(lines.length, 2);
          assert.match(lines[0] ?? "", /diagnostics_events_203101 was skipped: .*attempts of at most 50 ms/);
          // The run still ended and was recorded; the partitions are still there, attached.
          const [record] = await listPurgeRuns(db, 1);
          assert.equal(record?.id, busy.runId);
          assert.notEqual(record?.finishedAt, null);
          const attached = (await listDiagnosticsPartitions(db)).filter((p) => p.attached).map((p) => p.name);
          assert.ok(attached.includes("diagnostics_events_203101"));

          await reader.query("COMMIT");
          const next = await runPurge(db, NOW, { dictionary, tables: DEVICE_TABLES, detachPatience });
          assert.deepEqual(next.tables.diagnostics_events?.partitions, [
            "diagnostics_events_203101",
            "diagnostics_events_203102",
          ]);
          assert.ok(next.steps.every((s) => !s.skipped));
        } finally {
          await reader.query("ROLLBACK").catch(() => {});
          await reader.end();
        }
      });
    }
  });

  describe(`scheduled retention on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    let dictionary: Dictionary;
    let dropDictionary: () => void;
    before(async () => {
      ({ db, cleanup } = await freshRegionStore(backend, "schedule"));
      ({ dictionary, cleanup: dropDictionary } = retentionDictionary());
    });
    after(async () => {
      await cleanup();
      dropDictionary();
    });

    it("makes the months ahead at start, purges once a period against its clock on the lease holder, and stops", async () => {
      await putActivations(db, [
        { deviceKey: "gone", expiresAt: at("2031-03-01T00:00:00Z") },
        { deviceKey: "kept", expiresAt: at("2031-04-01T00:00:00Z") },
      ]);
      const job = await prepareRetention(db, {
        dictionary,
        tables: DEVICE_TABLES,
        intervalMs: 100,
        logger: createLogger("silent"),
        clock: () => NOW,
      });
      // Periods on the real clock; the purge itself against the test's.
      const retention = startLeasedJobs([job], { db, ttlMs: 1000, logger: createLogger("silent") });
      try {
        // test.diag keeps a year at most: March 2031 to March 2032.
        const names = (await listDiagnosticsPartitions(db)).map((p) => p.name);
        assert.equal(names.length, 13);
        assert.equal(names[0], "diagnostics_events_203103");
        assert.equal(names.at(-1), "diagnostics_events_203203");
        const finished = async () => (await listJobRuns(db, "retention")).some((r) => r.finished);
        for (let i = 0; i < 500 && !(await finished()); i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      } finally {
        await retention.stop();
      }
      const [run] = await listPurgeRuns(db, 1);
      assert.equal(run?.kind, "retention");
      assert.ok(
        (await listJobRuns(db, "retention")).some((r) => r.finished),
        "the period's run is recorded",
      );
      assert.equal(run?.asOf.toISOString(), NOW.toISOString());
      assert.deepEqual(
        (await allActivations(db)).map((a) => a.deviceKey),
        ["kept"],
      );
    });
  });
}
