/**
 * The `isolation` suite: what one bad item costs the real ones that share its
 * group commit. On PostgreSQL, a region's writer commits a batch of 256
 * activations; in the measured runs one of them is a refusal whose ledger row
 * the store refuses (a CHECK constraint stands in for any value it cannot
 * hold). Three ways are timed, each from the first submit until the last real
 * item is answered:
 *
 * - baseline: the batch without the bad item, one transaction;
 * - bisect (what the group committer does, docs/decisions/0025): the shared
 *   transaction fails, then halves are committed down to the bad item;
 * - one by one: the shared transaction fails, then every item is committed
 *   in its own transaction.
 *
 * Printed as time and transactions per way, and each way's ratio against the
 * baseline of the same round.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type Db, openDb } from "../src/core/db/index.ts";
import { migrate } from "../src/core/db/migrate.ts";
import { GroupCommitter } from "../src/collector/ingest/group-commit.ts";
import {
  regionFlush,
  stepItem,
  type WriteItem,
  type WriteResult,
} from "../src/collector/ingest/region-writer.ts";
import { DEVICE_TABLES, writeSteps } from "../src/collector/device-tables.ts";
import { activationWrites } from "../src/collector/activation/index.ts";
import { type SuiteContext, table } from "./harness.ts";

/** The region writer's flush, over the collector's tables. */
const flushRegionBatch = regionFlush(writeSteps(DEVICE_TABLES));

/** Items of one group commit: the collector's default batch size. */
const BATCH = 256;
const POISON_BUILD = "POISON_BUILD";

function activation(): WriteItem {
  const now = new Date();
  return stepItem(
    activationWrites,
    {
      deviceKey: `dk_${randomBytes(20).toString("base64url")}`,
      eventId: randomUUID(),
      schemaVersion: 1,
      data: { model: "TA-1062", variant: "00WW", market: "NO", build: "00WW_3_39B_SP03" },
      activatedAt: now,
      warrantyUntil: new Date(now.getTime() + 730 * 86_400_000),
      expiresAt: new Date(now.getTime() + 3650 * 86_400_000),
    },
    {
      collection: "activation",
      schemaVersion: 1,
      batch: "B-BENCH",
      build: "00WW_3_39B_SP03",
      market: "NO",
    },
  );
}

const poison: () => WriteItem = () => ({
  kind: "refusal",
  ledger: {
    outcome: "refused",
    reason: "envelope.invalid",
    collection: "activation",
    schemaVersion: 1,
    batch: "",
    build: POISON_BUILD,
    market: "",
  },
});

/** A store whose transactions are counted. */
function counted(db: Db): { db: Db; transactions: () => number } {
  let n = 0;
  return {
    db: { ...db, kind: db.kind, transaction: (fn, options) => ((n += 1), db.transaction(fn, options)) },
    transactions: () => n,
  };
}

/** Milliseconds until every real item of `items` is answered, through the group committer. */
async function viaCommitter(db: Db, items: WriteItem[]): Promise<number> {
  const writer = new GroupCommitter<WriteItem, WriteResult>(db, flushRegionBatch, {
    maxBatch: BATCH,
    maxDelayMs: 60_000,
  });
  const started = performance.now();
  const answers = items.map((item) =>
    writer.submit(item).then(
      () => true,
      (error: unknown) => (item.kind === "refusal" ? true : (console.error(error), false)),
    ),
  );
  const failedReal = (await Promise.all(answers)).some((ok) => !ok);
  const took = performance.now() - started;
  await writer.close();
  if (failedReal) throw new Error("a real item failed");
  return took;
}

/** Milliseconds until every real item is answered when, after the shared try, each goes alone. */
async function oneByOne(db: Db, items: WriteItem[]): Promise<number> {
  const started = performance.now();
  try {
    await db.transaction((tx) => flushRegionBatch(tx, items));
    throw new Error("the shared transaction was expected to fail");
  } catch {
    for (const item of items) {
      try {
        await db.transaction((tx) => flushRegionBatch(tx, [item]));
      } catch (error) {
        if (item.kind !== "refusal") throw error;
      }
    }
  }
  return performance.now() - started;
}

/** Runs the suite; answers whether it is valid (no real item failed). */
export async function runIsolation(ctx: SuiteContext): Promise<boolean> {
  // Each round is short (a batch of each way): three per --rounds, for a median.
  const rounds = ctx.settings.rounds * 3;
  const schema = `bench_${ctx.tag}_isolation`;
  ctx.schemas.push(schema);
  const store = await openDb({ kind: "postgres", url: ctx.settings.postgres, schema, poolSize: 4 });
  try {
    await migrate(store, "region");
    await store.query(
      `ALTER TABLE ingest_ledger ADD CONSTRAINT bench_poison CHECK (build <> '${POISON_BUILD}')`,
    );
    console.log(
      `isolation: ${BATCH} activations per group commit, one of them a refusal the store refuses; ` +
        `${rounds} rounds, each way once per round, in turn`,
    );
    const ways = ["baseline", "bisect", "one-by-one"] as const;
    const times = new Map<string, number[]>(ways.map((w) => [w, []]));
    const transactions = new Map<string, number>(ways.map((w) => [w, 0]));
    for (let round = 0; round < rounds; round++) {
      for (const way of ways) {
        const items = Array.from({ length: BATCH }, activation);
        if (way !== "baseline") items.splice(Math.floor(Math.random() * BATCH), 1, poison());
        const { db, transactions: count } = counted(store);
        const took = way === "one-by-one" ? await oneByOne(db, items) : await viaCommitter(db, items);
        times.get(way)?.push(took);
        transactions.set(way, count());
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const base = median(times.get("baseline") ?? []);
    const rows = ways.map((way) => {
      const m = median(times.get(way) ?? []);
      return [way, String(transactions.get(way)), `${m.toFixed(1)} ms`, (m / base).toFixed(2)];
    });
    for (const line of table(
      [
        ["way", 12],
        ["transactions", 12],
        ["median", 10],
        ["ratio", 8],
      ],
      rows,
    )) {
      console.log(line);
    }
    const bisect = median(times.get("bisect") ?? []);
    const single = median(times.get("one-by-one") ?? []);
    console.log(
      `ratio bisect / baseline: ${(bisect / base).toFixed(3)}; one-by-one / bisect: ${(single / bisect).toFixed(3)}`,
    );
    return true;
  } finally {
    await store.close();
  }
}
