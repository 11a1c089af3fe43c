/** Leased jobs: one holder at a time, one run per period, takeover when the holder dies, on both stores. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, migrate, openDb } from "../db/index.ts";
import { createLogger } from "../log/index.ts";
import { type LeasedJob, listJobRuns, listLeases, startLeasedJobs } from "./index.ts";

const logger = createLogger("silent");

/**
 * A replica's view of the store that can be cut (every query fails as a reset
 * connection would) or frozen (every query waits for ever, as on a store that
 * stopped answering).
 */
function cuttable(db: Db): { db: Db; cut(): void; freeze(): void } {
  let state: "up" | "cut" | "frozen" = "up";
  const reset = () => Object.assign(new Error("Connection terminated"), { code: "ECONNRESET" });
  // Queries waiting on a frozen store fail once it is cut (as the driver's own timeout would end them).
  const waiting: ((error: Error) => void)[] = [];
  const fail = (): Promise<never> =>
    state === "cut" ? Promise.reject(reset()) : new Promise<never>((_, reject) => waiting.push(reject));
  return {
    db: {
      ...db,
      query: (sql, params) => (state === "up" ? db.query(sql, params) : fail()),
      transaction: (fn, options) => (state === "up" ? db.transaction(fn, options) : fail()),
    },
    cut: () => {
      state = "cut";
      for (const reject of waiting.splice(0)) reject(reset());
    },
    freeze: () => {
      state = "frozen";
    },
  };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<number> {
  const start = performance.now();
  while (!(await ok())) {
    if (performance.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
  return performance.now() - start;
}

for (const backend of BACKENDS) {
  describe(`leased jobs on ${backend.name}`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("leases");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await migrate(db, "region");
    });
    after(async () => {
      await db.close();
      await cleanup();
    });

    it("runs each period once on one of two replicas, and shows which holds the lease", async () => {
      const ran: { job: string; start: number; by: string }[] = [];
      const job = (by: string, name = "every-second"): LeasedJob => ({
        name,
        periodMs: 1000,
        run: async ({ start }) => {
          ran.push({ job: name, start: start.getTime(), by });
        },
      });
      const metrics = new Registry();
      const a = startLeasedJobs([job("a")], { db, ttlMs: 3000, logger, holder: "a", metrics });
      const b = startLeasedJobs([job("b")], { db, ttlMs: 3000, logger, holder: "b" });
      const sampled: string[][] = [];
      try {
        await until(
          "four periods run",
          async () => {
            sampled.push([...a.held(), ...b.held()]);
            return ran.length >= 4;
          },
          15_000,
        );
      } finally {
        await a.stop();
        await b.stop();
      }
      assert.ok(
        sampled.every((s) => s.length <= 1),
        "never two holders at once",
      );
      const starts = ran.map((r) => r.start);
      assert.equal(new Set(starts).size, starts.length, "no period ran twice");
      assert.equal(new Set(ran.map((r) => r.by)).size, 1, "one replica ran them all");
      assert.deepEqual(
        starts.slice(1).map((s, i) => s - (starts[i] ?? 0)),
        starts.slice(1).map(() => 1000),
        "no period skipped",
      );
      const runs = await listJobRuns(db, "every-second");
      assert.ok(runs.length >= starts.length && runs.every((r) => r.finished && r.attempts === 1));
      assert.deepEqual(await listLeases(db), [], "stopping gives the leases up");
      const text = await metrics.metrics();
      assert.match(text, /phonehome_job_runs_total\{job="every-second",outcome="finished"\}/);
      assert.match(text, /phonehome_lease_held\{lease="every-second"\} 0/);
    });

    it("a replica that starts runs nothing at once, and gives its lease up on stop for another to take", async () => {
      const ran: string[] = [];
      const job = (by: string): LeasedJob => ({
        name: "hourly",
        periodMs: 3_600_000,
        run: async () => {
          ran.push(by);
        },
      });
      const a = startLeasedJobs([job("a")], { db, ttlMs: 60_000, logger, holder: "a" });
      await until("a holds the lease", () => a.held().length === 1);
      const b = startLeasedJobs([job("b")], { db, ttlMs: 60_000, logger, holder: "b" });
      try {
        await sleep(200);
        assert.deepEqual(b.held(), [], "b waits while a holds it");
        await a.stop();
        // b ticks every 5 s at most (a third of the time to live, capped): far sooner than the 60 s lease's end.
        await until("b takes the released lease", () => b.held().length === 1, 8000);
      } finally {
        await b.stop();
      }
      assert.deepEqual(ran, [], "the hour that ended before they started is not run");
    });

    it("a replica that starts runs the latest period at once when the job missed it (the period before has a run)", async () => {
      const hour = 3_600_000;
      const latest = Math.floor(Date.now() / hour) - 1;
      await db.query(
        "INSERT INTO job_runs (job, period_start, holder, started_at, finished_at) VALUES ('hourly-missed', $1, 'gone', now(), now())",
        [new Date((latest - 1) * hour).toISOString()],
      );
      const ran: number[] = [];
      const a = startLeasedJobs(
        [{ name: "hourly-missed", periodMs: hour, run: async ({ start }) => void ran.push(start.getTime()) }],
        { db, ttlMs: 60_000, logger, holder: "late" },
      );
      try {
        await until("the missed period runs", () => ran.length === 1);
      } finally {
        await a.stop();
      }
      assert.deepEqual(ran, [latest * hour]);
    });

    it("a holder whose renewals hang lets the lease go when its time is up", async () => {
      const job: LeasedJob = {
        name: "frozen",
        periodMs: 3_600_000,
        run: async () => {},
      };
      const store = cuttable(db);
      const a = startLeasedJobs([job], { db: store.db, ttlMs: 900, logger, holder: "frozen-a" });
      try {
        await until("a holds the lease", () => a.held().length === 1);
        store.freeze();
        const frozenAt = performance.now();
        await until("a lets the lease go", () => a.held().length === 0, 5000);
        const after = performance.now() - frozenAt;
        // At most the lease's time after the last renewal that answered (which began before the freeze).
        assert.ok(after <= 900 + 300, `let go ${Math.round(after)} ms after the store froze`);
      } finally {
        store.cut();
        await a.stop();
      }
    });

    it("takes the lease over when the holder dies, and runs again the period it left unfinished", async () => {
      const calls: { by: string; start: number }[] = [];
      let releaseHang: (() => void) | undefined;
      const job = (by: string): LeasedJob => ({
        name: "takeover",
        // Far longer than the takeover (also on a busy machine), so that a's period is still the latest
        // ended when b takes the lease.
        periodMs: 8000,
        run: async ({ start, signal }) => {
          calls.push({ by, start: start.getTime() });
          if (by === "a") {
            // a hangs in its run until its lease is lost.
            await new Promise<void>((resolve) => {
              releaseHang = resolve;
              signal.addEventListener("abort", () => resolve(), { once: true });
            });
            if (signal.aborted) throw signal.reason;
          }
        },
      });
      const aStore = cuttable(db);
      const a = startLeasedJobs([job("a")], { db: aStore.db, ttlMs: 1200, logger, holder: "a" });
      await until("a holds the lease", () => a.held().length === 1);
      const b = startLeasedJobs([job("b")], { db, ttlMs: 1200, logger, holder: "b" });
      try {
        await until("a starts a run", () => calls.some((c) => c.by === "a"), 12_000);
        const period = calls.find((c) => c.by === "a")?.start;
        aStore.cut();
        const died = performance.now();
        await until("b holds the lease", () => b.held().length === 1);
        const takeover = performance.now() - died;
        // The lease's time, one tick, and room for a busy machine.
        assert.ok(takeover < 1200 + 2500, `taken over in ${Math.round(takeover)} ms`);
        assert.deepEqual(a.held(), [], "a knows it lost the lease");
        await until("b finished a's period", async () =>
          (await listJobRuns(db, "takeover")).some((r) => r.periodStart.getTime() === period && r.finished),
        );
        const row = (await listJobRuns(db, "takeover")).find((r) => r.periodStart.getTime() === period);
        assert.equal(row?.attempts, 2, "started by a, finished by b");
        assert.equal(row?.holder, "b");
      } finally {
        releaseHang?.();
        await a.stop();
        await b.stop();
      }
      const perPeriod = new Map<number, string[]>();
      for (const c of calls) perPeriod.set(c.start, [...(perPeriod.get(c.start) ?? []), c.by]);
      for (const [, by] of perPeriod)
        assert.ok(by.length === 1 || by.join() === "a,b", `ran by ${by.join()}`);
    });
  });
}
