import { DEVICE_TABLES } from "../device-tables.ts";
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import {
  allActivations,
  allEvents,
  freshRegionStore,
  putActivations,
  putEvents,
  retentionDictionary,
} from "../../../test/helpers/retention.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import type { Db } from "../../core/db/index.ts";
import type { Dictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { listPurgeRuns } from "./purge.repository.ts";
import { planSurgicalPurge, runSurgicalPurge, type SurgicalRequest } from "./purge.service.ts";

const NOW = new Date("2031-06-01T00:00:00Z");
const FROM = new Date("2031-02-01T00:00:00Z");
const TO = new Date("2031-03-01T00:00:00Z");
const at = (iso: string) => new Date(iso);
const KEEP = at("2032-06-01T00:00:00Z");
const FULL = { model: "TA-1062", battery: 80 };

/** Events received on both sides of the window [1 February, 1 March 2031); returns their ids by name. */
async function scenario(db: Db): Promise<Record<string, string>> {
  const rows = {
    before: { receivedAt: at("2031-01-31T23:59:59.999Z") },
    first: { receivedAt: FROM }, // the window includes its start
    inside: { receivedAt: at("2031-02-20T00:00:00Z") },
    end: { receivedAt: TO }, // and excludes its end
    v2: { receivedAt: at("2031-02-10T00:00:00Z"), schemaVersion: 2 },
    other: { receivedAt: at("2031-02-10T00:00:00Z"), collection: "test.other" },
    without: { receivedAt: at("2031-02-15T00:00:00Z"), data: { battery: 70 } },
  };
  const names = Object.keys(rows);
  const ids = await putEvents(
    db,
    Object.values(rows).map((r, i) => ({ deviceRef: `dr_${i}`, expiresAt: KEEP, data: FULL, ...r })),
  );
  return Object.fromEntries(names.map((n, i) => [n, ids[i] ?? ""]));
}

for (const backend of BACKENDS) {
  describe(`surgical purge on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    let dictionary: Dictionary;
    let dropDictionary: () => void;
    before(async () => {
      ({ db, cleanup } = await freshRegionStore(backend, "surgical"));
      ({ dictionary, cleanup: dropDictionary } = retentionDictionary());
    });
    after(async () => {
      await cleanup();
      dropDictionary();
    });
    beforeEach(async () => {
      await db.query("TRUNCATE activations, diagnostics_events, purge_runs");
    });

    const request = (extra: Partial<SurgicalRequest> = {}): SurgicalRequest => ({
      collection: "test.diag",
      version: 1,
      field: "model",
      from: FROM,
      to: TO,
      reason: "build 00WW_3_40 sent the model with every event; the notice does not cover it",
      ...extra,
    });

    it("removes one field of one version inside the window only; the dry run says the same first", async () => {
      const ids = await scenario(db);
      const plan = await planSurgicalPurge(db, NOW, request(), { dictionary, tables: DEVICE_TABLES });
      assert.deepEqual(plan.tables.diagnostics_events, { rows: 0, fields: 2, partitions: [] });

      const untouched = await allEvents(db);
      const dry = await runSurgicalPurge(db, NOW, request(), {
        dictionary,
        tables: DEVICE_TABLES,
        dryRun: true,
      });
      assert.deepEqual(await allEvents(db), untouched, "a dry run changes nothing");
      const real = await runSurgicalPurge(db, NOW, request(), { dictionary, tables: DEVICE_TABLES });
      assert.equal(dry.removed, 2);
      assert.equal(real.removed, dry.removed);
      assert.deepEqual(real.tables, dry.tables);
      assert.equal(real.sha256, dry.sha256);

      const data = new Map((await allEvents(db)).map((e) => [e.eventId, e.data]));
      assert.deepEqual(Object.fromEntries(Object.entries(ids).map(([name, id]) => [name, data.get(id)])), {
        before: FULL,
        first: { battery: 80 },
        inside: { battery: 80 },
        end: FULL,
        v2: FULL,
        other: FULL,
        without: { battery: 70 },
      });

      const runs = await listPurgeRuns(db, 10);
      assert.deepEqual(
        runs.map((r) => [r.kind, r.dryRun, r.removed, r.sha256, r.reason]),
        [
          ["surgical", false, 2, real.sha256, request().reason],
          ["surgical", true, 2, dry.sha256, request().reason],
        ],
      );
      assert.deepEqual(runs[0]?.scope, {
        collection: "test.diag",
        version: 1,
        field: "model",
        from: FROM.toISOString(),
        to: TO.toISOString(),
      });
    });

    it("removes whole rows of one version, or of every version, inside the window", async () => {
      const ids = await scenario(db);
      const v2 = request({ version: 2, field: undefined });
      const dry = await runSurgicalPurge(db, NOW, v2, { dictionary, tables: DEVICE_TABLES, dryRun: true });
      const real = await runSurgicalPurge(db, NOW, v2, { dictionary, tables: DEVICE_TABLES });
      assert.deepEqual([dry.tables.diagnostics_events?.rows, real.tables.diagnostics_events?.rows], [1, 1]);
      assert.equal(real.sha256, dry.sha256);
      assert.ok(!(await allEvents(db)).some((e) => e.eventId === ids.v2));

      const every = request({ version: undefined, field: undefined });
      const plan = await planSurgicalPurge(db, NOW, every, { dictionary, tables: DEVICE_TABLES });
      const all = await runSurgicalPurge(db, NOW, every, { dictionary, tables: DEVICE_TABLES, chunkSize: 1 });
      assert.equal(plan.total, 3);
      assert.equal(all.removed, 3);
      assert.deepEqual(
        (await allEvents(db)).map((e) => e.eventId).sort(),
        [ids.before, ids.end, ids.other].sort(),
      );
    });

    it("reaches activations too: a field of the warranty records received in the window", async () => {
      await putActivations(db, [
        { deviceKey: "act-in", receivedAt: at("2031-02-03T00:00:00Z"), expiresAt: KEEP },
        { deviceKey: "act-out", receivedAt: at("2031-03-03T00:00:00Z"), expiresAt: KEEP },
      ]);
      await scenario(db);
      const ask = request({ collection: "activation", version: 1, field: "build" });
      const dry = await runSurgicalPurge(db, NOW, ask, { dictionary, tables: DEVICE_TABLES, dryRun: true });
      const real = await runSurgicalPurge(db, NOW, ask, { dictionary, tables: DEVICE_TABLES });
      assert.deepEqual([dry.tables.activations?.fields, real.tables.activations?.fields], [1, 1]);
      assert.equal(real.tables.diagnostics_events?.fields, 0);
      assert.deepEqual(await allActivations(db), [
        { deviceKey: "act-in", data: { model: "TA-1062" } },
        { deviceKey: "act-out", data: { model: "TA-1062", build: "00WW_3_39B_SP03" } },
      ]);
    });

    it("refuses what the dictionary cannot mean, an empty window or no reason, and changes nothing", async () => {
      await scenario(db);
      const untouched = await allEvents(db);
      const cases: [Partial<SurgicalRequest>, string, RegExp][] = [
        [{ field: "imsi" }, "/field", /never declared by test\.diag v1/],
        // v2 dropped `cell`; v1 declared it, so it can only be named without a version or with v1.
        [{ version: 2, field: "cell" }, "/field", /never declared by test\.diag v2/],
        [{ collection: "test.nothing" }, "/collection", /no collection test\.nothing/],
        [{ version: 7 }, "/version", /no version 7/],
        [{ from: TO, to: FROM }, "/to", /window is empty/],
        [{ from: FROM, to: FROM }, "/to", /window is empty/],
        [{ reason: "   " }, "/reason", /needs a reason/],
      ];
      for (const [extra, path, message] of cases) {
        for (const dryRun of [true, false]) {
          await assert.rejects(
            runSurgicalPurge(db, NOW, request(extra), { dictionary, tables: DEVICE_TABLES, dryRun }),
            (e) => isPhoneHomeError(e, "purge.invalid") && e.path === path && message.test(e.message),
            JSON.stringify(extra),
          );
        }
      }
      assert.deepEqual(await allEvents(db), untouched);
      assert.deepEqual(await listPurgeRuns(db, 10), []);
      // A field an earlier version declared is fine without a version.
      const ok = await runSurgicalPurge(db, NOW, request({ version: undefined, field: "cell" }), {
        dictionary,
        tables: DEVICE_TABLES,
        dryRun: true,
      });
      assert.equal(ok.removed, 0);
    });
  });
}
