import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import { listLedger } from "./ledger.repository.ts";
import type { WriteStep } from "../device-data/index.ts";
import { regionFlush, stepItem, type WriteItem } from "./region-writer.ts";

/** A writer over no steps: these items are refusals only. */
const flushRegionBatch = regionFlush([]);

/** A refusal counted under one of `keys` distinct ledger rows. */
function refusal(key: number): WriteItem {
  return {
    kind: "refusal",
    ledger: {
      outcome: "refused",
      reason: "region.misrouted",
      collection: "activation",
      schemaVersion: 1,
      batch: `B-${String(key).padStart(3, "0")}`,
      build: "00WW_3_39B_SP03",
      market: "NO",
    },
    misrouting: {
      batch: `B-${String(key).padStart(3, "0")}`,
      build: "00WW_3_39B_SP03",
      market: "NO",
      expectedRegion: "global",
      claimedRegion: "cn",
    },
  };
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

for (const backend of BACKENDS) {
  describe(`region writer (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("writer");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await migrate(db, "region");
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    it("counts shared ledger rows from concurrent transactions without deadlock, whatever their order", async () => {
      const keys = Array.from({ length: 24 }, (_, i) => i);
      const rounds = 4;
      const perRound = 8;
      for (let round = 0; round < rounds; round++) {
        // Each transaction touches every ledger row and alert, in its own order.
        await Promise.all(
          Array.from({ length: perRound }, (_, t) =>
            db.transaction((tx) => flushRegionBatch(tx, shuffled(keys, round * 100 + t + 1).map(refusal))),
          ),
        );
      }
      const rows = await listLedger(db, new Date(Date.now() - 3_600_000), 5000);
      const total = rows.reduce((n, r) => n + r.count, 0);
      assert.equal(total, rounds * perRound * keys.length);
      const alerts = await db.query<{ n: number; sum: number }>(
        "SELECT count(*)::int AS n, sum(count)::int AS sum FROM misrouting_alerts",
      );
      assert.deepEqual(alerts.rows[0], { n: keys.length, sum: rounds * perRound * keys.length });
    });

    it("fails a commit before writing anything when an item has no step, or a step miscounts its answers", async () => {
      const ledger = refusal(900).ledger;
      const context = { ...ledger, batch: "B-STEPS" };
      const written: string[] = [];
      const step = (kind: string, extra: number): WriteStep<string, string> => ({
        kind,
        async write(_tx, values) {
          written.push(...values);
          return [...values, ...Array.from({ length: extra }, () => "more")].map((v) => ({
            result: v,
            outcome: "stored" as const,
            reason: "stored",
          }));
        },
      });
      const known = step("known", 0);
      const stranger = step("stranger", 0);
      const countLedger = async () =>
        (
          await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM ingest_ledger WHERE batch = 'B-STEPS'",
          )
        ).rows[0]?.n;
      await assert.rejects(
        db.transaction((tx) =>
          regionFlush([known])(tx, [stepItem(known, "a", context), stepItem(stranger, "b", context)]),
        ),
        /no step of this writer writes stranger/,
      );
      assert.deepEqual(written, [], "no step ran");
      const greedy = step("greedy", 1);
      await assert.rejects(
        db.transaction((tx) => regionFlush([greedy])(tx, [stepItem(greedy, "c", context)])),
        /greedy step answered 2 items for the 1/,
      );
      assert.equal(await countLedger(), 0, "nothing was counted");
      const results = await db.transaction((tx) => regionFlush([known])(tx, [stepItem(known, "d", context)]));
      assert.deepEqual(
        results.map((r) => [r.result, r.counted.outcome]),
        [["d", "stored"]],
      );
      assert.equal(await countLedger(), 1);
    });
  });
}
