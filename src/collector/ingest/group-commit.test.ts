import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, isStoreUnavailable, openDb, type Queryable } from "../../core/db/index.ts";
import { type FlushFn, type GroupCommitOptions, GroupCommitter } from "./group-commit.ts";

let tables = 0;

/** Creates a fresh table `(id integer PRIMARY KEY)` and returns its name (from a fixed pattern). */
async function freshTable(db: Db): Promise<string> {
  tables += 1;
  const name = `gc_items_${tables}`;
  await db.exec(`CREATE TABLE ${name} (id integer PRIMARY KEY)`);
  return name;
}

/** A flush that inserts every item of the batch in one statement and answers each with `id * 10`. */
function inserting(table: string, before?: (tx: Queryable, items: readonly number[]) => Promise<void>) {
  const flush: FlushFn<number, number> = async (tx, items) => {
    await tx.query(`INSERT INTO ${table} (id) SELECT unnest($1::int[])`, [items]);
    await before?.(tx, items);
    return items.map((id) => id * 10);
  };
  return flush;
}

/** The ids stored in `table`, in order. */
async function storedIds(db: Queryable, table: string): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
  return rows.map((r) => r.id);
}

/** A committer that records the size of every committed batch. */
function committer(db: Db, flush: FlushFn<number, number>, options: GroupCommitOptions) {
  const writer = new GroupCommitter(db, flush, options);
  const commits: number[][] = [];
  writer.onCommit = (items, results, seconds) => {
    assert.equal(results.length, items.length);
    assert.ok(seconds >= 0 && seconds < 60, `implausible commit time ${seconds}`);
    commits.push([...items]);
  };
  return { writer, commits };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/** Settles a promise into a value that records whether it was fulfilled. */
async function settle<T>(promise: Promise<T>) {
  try {
    return { ok: true as const, value: await promise };
  } catch (error) {
    return { ok: false as const, error };
  }
}

for (const backend of BACKENDS) {
  describe(`group commit (${backend.name})`, { skip: backend.skip }, () => {
    // One store for the file (PGlite takes a second or two to create); each test has its own table.
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("group-commit");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    it("lets many concurrent submits share fewer transactions, each answered with its own result", async () => {
      const table = await freshTable(db);
      const { writer, commits } = committer(db, inserting(table), { maxBatch: 64, maxDelayMs: 5 });
      const ids = range(1, 300);
      const results = await Promise.all(ids.map((id) => writer.submit(id)));
      assert.deepEqual(
        results,
        ids.map((id) => id * 10),
      );
      assert.ok(commits.length < ids.length / 4, `${commits.length} commits for ${ids.length} items`);
      assert.deepEqual(
        commits.flat().sort((a, b) => a - b),
        ids,
      );
      assert.deepEqual(await storedIds(db, table), ids);
      await writer.close();
    });

    it("never puts more than maxBatch items in one transaction, and sends a full batch without waiting", async () => {
      const table = await freshTable(db);
      // The delay is far longer than the test may take: only full batches (and close) may flush.
      const { writer, commits } = committer(db, inserting(table), { maxBatch: 7, maxDelayMs: 60_000 });
      const started = performance.now();
      await Promise.all(range(1, 70).map((id) => writer.submit(id)));
      assert.ok(performance.now() - started < 10_000, "full batches waited for the timer");
      assert.ok(commits.length >= 10, `${commits.length} commits`);
      for (const batch of commits) assert.ok(batch.length <= 7, `batch of ${batch.length}`);
      assert.deepEqual(
        commits.flat().sort((a, b) => a - b),
        range(1, 70),
      );
      await writer.close();
    });

    it("queues what arrives during a flush and sends it as the next batch", async () => {
      const table = await freshTable(db);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered: () => void = () => {};
      const inFlush = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let first = true;
      const { writer, commits } = committer(
        db,
        inserting(table, async () => {
          if (!first) return;
          first = false;
          entered();
          await gate;
        }),
        { maxBatch: 100, maxDelayMs: 0 },
      );
      const one = writer.submit(1);
      await inFlush;
      const later = range(2, 20).map((id) => writer.submit(id));
      release();
      await Promise.all([one, ...later]);
      assert.deepEqual(commits, [[1], range(2, 20)]);
      await writer.close();
    });

    it("runs at most maxInFlight transactions at once, each within maxBatch", async () => {
      const table = await freshTable(db);
      let active = 0;
      let most = 0;
      // The first transaction waits (up to 2 s) for a second to overlap it, so that a slow
      // connection set-up cannot hide the concurrency; a third must never join them.
      let overlap: () => void = () => {};
      const overlapped = new Promise<void>((resolve) => {
        overlap = resolve;
      });
      const { writer, commits } = committer(
        db,
        inserting(table, async () => {
          active += 1;
          most = Math.max(most, active);
          if (active >= 2) overlap();
          await Promise.race([
            overlapped,
            new Promise((resolve) => setTimeout(resolve, db.kind === "postgres" ? 2000 : 5)),
          ]);
          await new Promise((resolve) => setTimeout(resolve, 5));
          active -= 1;
        }),
        { maxBatch: 5, maxDelayMs: 1, maxInFlight: 2 },
      );
      await Promise.all(range(1, 40).map((id) => writer.submit(id)));
      // PGlite runs one transaction at a time whatever the committer allows.
      assert.equal(most, db.kind === "postgres" ? 2 : 1);
      for (const batch of commits) assert.ok(batch.length <= 5, `batch of ${batch.length}`);
      assert.deepEqual(await storedIds(db, table), range(1, 40));
      await writer.close();
    });

    it("resolves a submit only after the transaction that carries it has settled, with the row visible", async () => {
      const table = await freshTable(db);
      const events: string[] = [];
      // Wraps the store so that the end of every transaction is recorded.
      const watched: Db = {
        ...db,
        kind: db.kind,
        query: (sql, params) => db.query(sql, params),
        exec: (script) => db.exec(script),
        close: () => db.close(),
        transaction: async (fn) => {
          try {
            return await db.transaction(fn);
          } finally {
            events.push("transaction settled");
          }
        },
      };
      const unseenInsideFlush: number[] = [];
      const flush = inserting(table, async (_tx, items) => {
        events.push(`flushed ${items.join(",")}`);
        // Another connection must not see the batch before it commits. PGlite has
        // one connection, which the transaction holds, so only PostgreSQL can ask.
        if (db.kind === "postgres") {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${table} WHERE id = ANY($1::int[])`,
            [items],
          );
          unseenInsideFlush.push(items.length - (rows[0]?.n ?? 0));
          assert.equal(rows[0]?.n, 0, "rows visible to another connection before commit");
        }
      });
      const writer = new GroupCommitter(watched, flush, { maxBatch: 5, maxDelayMs: 1 });
      const visibleAtResolve: number[] = [];
      await Promise.all(
        range(1, 20).map((id) =>
          writer.submit(id).then(async () => {
            events.push(`resolved ${id}`);
            const { rows } = await db.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
            if (rows.length === 1) visibleAtResolve.push(id);
          }),
        ),
      );
      assert.deepEqual(
        visibleAtResolve.sort((a, b) => a - b),
        range(1, 20),
      );
      if (db.kind === "postgres") assert.deepEqual(unseenInsideFlush, [5, 5, 5, 5]);
      // Every item resolves after the transaction of its batch settled, never before.
      for (let id = 1; id <= 20; id += 1) {
        const flushed = events.findIndex(
          (e) => e.startsWith("flushed ") && e.slice(8).split(",").includes(`${id}`),
        );
        const settled = events.indexOf("transaction settled", flushed);
        const resolved = events.indexOf(`resolved ${id}`);
        assert.ok(flushed >= 0 && settled > flushed, events.join("\n"));
        assert.ok(resolved > settled, `item ${id} resolved before its commit:\n${events.join("\n")}`);
      }
      await writer.close();
    });

    it("answers only the item whose write fails, after committing the rest of its batch without it", async () => {
      const table = await freshTable(db);
      const poison = new Error("flush failed");
      let transactions = 0;
      const { writer, commits } = committer(
        db,
        inserting(table, async (_tx, items) => {
          transactions += 1;
          // Thrown after the rows were inserted: the rollback must take them away.
          if (items.includes(13)) throw poison;
        }),
        { maxBatch: 64, maxDelayMs: 60_000 },
      );
      const failed: number[] = [];
      writer.onItemFailed = (item, error) => {
        assert.equal(error, poison);
        failed.push(item);
      };
      const ids = range(1, 64);
      const outcomes = await Promise.all(ids.map((id) => settle(writer.submit(id))));
      assert.deepEqual(
        outcomes,
        ids.map((id) => (id === 13 ? { ok: false, error: poison } : { ok: true, value: id * 10 })),
      );
      assert.deepEqual(failed, [13]);
      assert.deepEqual(
        await storedIds(db, table),
        ids.filter((id) => id !== 13),
      );
      // Bisection: the shared try, then two halves per level down to the one item (log2 64 = 6).
      assert.ok(transactions <= 1 + 2 * 6, `${transactions} transactions to find one bad item among 64`);
      assert.deepEqual(
        commits.flat().sort((a, b) => a - b),
        ids.filter((id) => id !== 13),
      );
      await writer.close();
    });

    it("isolates every failing item of a batch, in order, and carries on with the next batch", async () => {
      const table = await freshTable(db);
      const poisoned = new Set([2, 3, 17, 30]);
      const { writer } = committer(
        db,
        inserting(table, async (_tx, items) => {
          const bad = items.find((id) => poisoned.has(id));
          if (bad !== undefined) throw new Error(`item ${bad} is bad`);
        }),
        { maxBatch: 30, maxDelayMs: 60_000 },
      );
      const answered: number[] = [];
      const ids = range(1, 30);
      const outcomes = await Promise.all(
        ids.map((id) =>
          settle(
            writer.submit(id).finally(() => {
              answered.push(id);
            }),
          ),
        ),
      );
      for (const [i, id] of ids.entries()) {
        const outcome = outcomes[i];
        if (poisoned.has(id))
          assert.match(String(outcome?.ok ? "" : outcome?.error), new RegExp(`item ${id} `));
        else assert.deepEqual(outcome, { ok: true, value: id * 10 });
      }
      // The halves are committed in order, so items are answered in the order they came.
      assert.deepEqual(answered, ids);
      assert.deepEqual(
        await storedIds(db, table),
        ids.filter((id) => !poisoned.has(id)),
      );
      const next = Promise.all([40, 41].map((id) => writer.submit(id)));
      await writer.close();
      assert.deepEqual(await next, [400, 410]);
    });

    it("fails the whole batch at once, trying no item alone, when the store cannot be reached", async () => {
      const table = await freshTable(db);
      const down = Object.assign(new Error("terminating connection due to administrator command"), {
        code: "57P01",
      });
      let transactions = 0;
      const { writer } = committer(
        db,
        inserting(table, async () => {
          transactions += 1;
          throw down;
        }),
        { maxBatch: 16, maxDelayMs: 60_000 },
      );
      writer.onItemFailed = () => assert.fail("a store that is down is nobody's fault");
      const outcomes = await Promise.all(range(1, 16).map((id) => settle(writer.submit(id))));
      // PostgreSQL's store reports it as service.unavailable; PGlite passes the error on as it is.
      for (const outcome of outcomes) assert.ok(!outcome.ok && isStoreUnavailable(outcome.error));
      assert.equal(transactions, 1);
      assert.deepEqual(await storedIds(db, table), []);
      await writer.close();
    });

    it("answers the one item the database refuses (a duplicate key) and stores the rest of its batch", async () => {
      const table = await freshTable(db);
      const { writer } = committer(db, inserting(table), { maxBatch: 4, maxDelayMs: 60_000 });
      await Promise.all(range(1, 4).map((id) => writer.submit(id)));
      const outcomes = await Promise.all([5, 6, 1, 7].map((id) => settle(writer.submit(id))));
      assert.deepEqual(outcomes[0], { ok: true, value: 50 });
      assert.deepEqual(outcomes[1], { ok: true, value: 60 });
      assert.deepEqual(outcomes[3], { ok: true, value: 70 });
      assert.equal(outcomes[2]?.ok, false);
      assert.match(String(outcomes[2]?.ok ? "" : outcomes[2]?.error), /duplicate key/);
      assert.deepEqual(await storedIds(db, table), [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(await Promise.all([8, 9, 10, 11].map((id) => writer.submit(id))), [80, 90, 100, 110]);
      await writer.close();
    });

    it("rolls back and rejects a batch whose flush answers fewer results than items", async () => {
      const table = await freshTable(db);
      const short: FlushFn<number, number> = async (tx, items) => {
        await inserting(table)(tx, items);
        return items.slice(1).map((id) => id * 10);
      };
      const writer = new GroupCommitter(db, short, { maxBatch: 10, maxDelayMs: 5 });
      const outcomes = await Promise.all([1, 2, 3].map((id) => settle(writer.submit(id))));
      assert.ok(
        outcomes.every((o) => !o.ok && /a flush of \d items answered \d results/.test(String(o.error))),
      );
      assert.deepEqual(await storedIds(db, table), []);
      await writer.close();
    });

    it("answers a committed batch even when the onCommit callback throws", async () => {
      const table = await freshTable(db);
      const writer = new GroupCommitter(db, inserting(table), { maxBatch: 3, maxDelayMs: 60_000 });
      writer.onCommit = () => {
        throw new Error("metrics broke");
      };
      const results = await Promise.all(range(1, 3).map((id) => writer.submit(id)));
      assert.deepEqual(results, [10, 20, 30]);
      assert.deepEqual(await storedIds(db, table), range(1, 3));
      await writer.close();
    });

    it("close() flushes what is queued at once, then refuses new work", async () => {
      const table = await freshTable(db);
      const { writer, commits } = committer(db, inserting(table), { maxBatch: 4, maxDelayMs: 60_000 });
      let resolved = 0;
      const pending = range(1, 10).map((id) =>
        writer.submit(id).then((r) => {
          resolved += 1;
          return r;
        }),
      );
      const started = performance.now();
      await writer.close();
      assert.ok(performance.now() - started < 10_000, "close waited for the timer");
      // Everything queued was committed and answered by the time close() resolved.
      assert.equal(resolved, 10);
      assert.deepEqual(
        await Promise.all(pending),
        range(1, 10).map((id) => id * 10),
      );
      for (const batch of commits) assert.ok(batch.length <= 4);
      assert.deepEqual(await storedIds(db, table), range(1, 10));
      await assert.rejects(writer.submit(11), /group committer is closed/);
      assert.deepEqual(await storedIds(db, table), range(1, 10));
    });
  });
}
