/**
 * The audit log on PGlite and PostgreSQL, in both kinds of store (the control
 * plane's and a region's): entries chain in one order even when appended
 * concurrently; the database refuses changes; and a change, deletion or
 * reordering made past the database's refusal (as the store's owner could) is
 * found by `verifyChain`, naming the entry. A cut-off tail shows against a
 * published head. Every read the log makes is along an index (no sort of the
 * whole log), and stores that share a PostgreSQL database by schema append
 * without waiting for each other.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { BACKENDS, POSTGRES_URL, postgresBackend } from "../../../test/helpers/stores.ts";
import { PhoneHomeError } from "../errors/index.ts";
import { type Db, openDb } from "../db/index.ts";
import { migrate } from "../db/migrate.ts";
import { AUDIT_QUERIES, allAuditEntries, appendAudit, auditHead, auditPage } from "./audit.repository.ts";
import { entryHash, GENESIS, verifyChain } from "./chain.ts";

const entry = (n: number) => ({
  actor: "service-token",
  action: "release.checked",
  subject: `00WW_3_39B_SP${String(n).padStart(2, "0")}`,
  reason: n % 2 === 0 ? `reason ${n}` : null,
  detail: { n, findings: ["component.not_allowed"], nested: { b: 1, a: [1, 2] } },
});

for (const backend of BACKENDS) {
  for (const kind of ["control", "region"] as const) {
    describe(`the audit log of a ${kind} store on ${backend.name}`, { skip: backend.skip }, () => {
      let db: Db;
      let cleanup: () => Promise<void>;
      /** Runs `sql` as the store's owner could: past the append-only triggers. */
      const tamper = async (...statements: string[]) => {
        await db.query("ALTER TABLE audit_log DISABLE TRIGGER USER");
        try {
          for (const sql of statements) await db.query(sql);
        } finally {
          await db.query("ALTER TABLE audit_log ENABLE TRIGGER USER");
        }
      };
      const fresh = async (n: number) => {
        await tamper("TRUNCATE audit_log");
        for (let i = 1; i <= n; i++) await db.transaction((tx) => appendAudit(tx, entry(i)));
      };
      const verdict = (expect?: { seq: number; hash: string }) => verifyChain(allAuditEntries(db, 2), expect);

      before(async () => {
        const fresh = await backend.fresh(`audit-${kind}`);
        cleanup = fresh.cleanup;
        db = await openDb(fresh.store, "audit test");
        await migrate(db, kind);
      });
      after(async () => {
        await db?.close();
        await cleanup?.();
      });

      test("entries chain in one order, also when appended concurrently, and the head is the last", async () => {
        await fresh(0);
        assert.deepEqual(await auditHead(db), { seq: 0, hash: GENESIS, at: null });
        await Promise.all(
          Array.from({ length: 12 }, (_, i) => db.transaction((tx) => appendAudit(tx, entry(i)))),
        );
        const result = await verdict();
        assert.deepEqual([result.ok, result.entries, result.broken], [true, 12, undefined]);
        const head = await auditHead(db);
        assert.deepEqual(
          { seq: head.seq, hash: head.hash },
          { seq: result.head.seq, hash: result.head.hash },
        );
        assert.equal(head.seq, 12);
      });

      test("the database refuses to change, delete or empty the log", async () => {
        await fresh(3);
        for (const sql of [
          "UPDATE audit_log SET actor = 'someone else' WHERE seq = 2",
          "DELETE FROM audit_log WHERE seq = 3",
          "TRUNCATE audit_log",
        ]) {
          await assert.rejects(db.query(sql), /append-only/, sql);
        }
        assert.equal((await verdict()).entries, 3);
      });

      test("a changed entry is named", async () => {
        await fresh(5);
        await tamper(`UPDATE audit_log SET detail = '{"n": 99}' WHERE seq = 3`);
        assert.deepEqual((await verdict()).broken?.seq, 3);
        await fresh(5);
        await tamper(`UPDATE audit_log SET reason = 'another reason' WHERE seq = 4`);
        const result = await verdict();
        assert.equal(result.broken?.seq, 4);
        assert.match(result.broken?.problem ?? "", /changed/);
        assert.equal(result.entries, 3, "the entries before it verify");
      });

      test("a changed entry whose hash was recomputed breaks the next one's link", async () => {
        await fresh(5);
        // Whoever rewrites entry 2 and gives it a matching hash still leaves entry 3 pointing at the old one.
        const [two] = await auditPage(db, 1, 1);
        assert.ok(two !== undefined);
        const rewritten = { ...two, actor: "someone else" };
        const hash = entryHash(rewritten);
        await tamper(`UPDATE audit_log SET actor = 'someone else', hash = '${hash}' WHERE seq = 2`);
        const result = await verdict();
        assert.equal(result.broken?.seq, 3);
        assert.match(result.broken?.problem ?? "", /does not follow entry 2/);
      });

      test("a deleted entry is named", async () => {
        await fresh(5);
        await tamper("DELETE FROM audit_log WHERE seq = 3");
        const result = await verdict();
        assert.equal(result.broken?.seq, 3);
        assert.match(result.broken?.problem ?? "", /missing/);
      });

      test("reordered entries are named", async () => {
        await fresh(5);
        await tamper(
          "UPDATE audit_log SET seq = 1000 WHERE seq = 2",
          "UPDATE audit_log SET seq = 2 WHERE seq = 4",
          "UPDATE audit_log SET seq = 4 WHERE seq = 1000",
        );
        assert.equal((await verdict()).broken?.seq, 2);
      });

      test("the head, a page and the last anchor are read along an index, never by sorting the log", async () => {
        // 20,000 entries (as the store's owner could write them: the chain does not matter here).
        await tamper(
          "TRUNCATE audit_log",
          `INSERT INTO audit_log (seq, at, actor, action, subject, reason, detail, prev_hash, hash)
             SELECT n, now(), 'service-token', CASE WHEN n % 100 = 0 THEN 'audit.anchored' ELSE 'release.checked' END,
                    'cn', NULL, '{}'::jsonb, repeat('0', 64), lpad(to_hex(n), 64, '0')
               FROM generate_series(1, 20000) AS n`,
          "ANALYZE audit_log",
        );
        const plans: Record<string, string> = {};
        for (const [name, sql, params] of [
          ["appendHead", AUDIT_QUERIES.appendHead, []],
          ["head", AUDIT_QUERIES.head, []],
          ["page", AUDIT_QUERIES.page.replace("$1", "100").replace("$2", "50"), []],
          ["lastAnchor", AUDIT_QUERIES.lastAnchor.replace("$1", "'cn'"), []],
        ] as const) {
          const { rows } = await db.query<Record<string, string>>(`EXPLAIN ${sql}`, [...params]);
          plans[name] = rows.map((r) => Object.values(r).join("")).join("\n");
        }
        for (const [name, plan] of Object.entries(plans)) {
          assert.doesNotMatch(plan, /Sort|Seq Scan/, `${name} sorts or scans the log:\n${plan}`);
          assert.match(plan, /Index (Only )?Scan/, `${name}:\n${plan}`);
        }
        await fresh(0);
      });

      test("a cut-off tail shows against a head published before", async () => {
        await fresh(5);
        const published = await auditHead(db);
        await tamper("DELETE FROM audit_log WHERE seq = 5");
        assert.equal((await verdict()).ok, true, "the rest of the chain is whole");
        const result = await verdict({ seq: published.seq, hash: published.hash });
        assert.equal(result.ok, false);
        assert.equal(result.broken?.seq, 5);
        // And a head that names an entry the chain holds with another hash.
        const other = await verdict({ seq: 3, hash: "0".repeat(63) + "1" });
        assert.equal(other.broken?.seq, 3);
      });
    });
  }
}

describe("stores that share a PostgreSQL database", { skip: postgresBackend.skip }, () => {
  test("append to their audit logs without waiting for each other", async () => {
    const stores = await Promise.all([postgresBackend.fresh("audit-a"), postgresBackend.fresh("audit-b")]);
    const [a, b] = await Promise.all(stores.map((s) => openDb(s.store, "audit lock test")));
    try {
      await migrate(a as Db, "region");
      await migrate(b as Db, "region");
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let appended = () => {};
      const inA = new Promise<void>((resolve) => {
        appended = resolve;
      });
      // A holds its audit lock (an append not yet committed)...
      const holding = (a as Db).transaction(async (tx) => {
        await appendAudit(tx, entry(1));
        appended();
        await held;
      });
      await inA;
      try {
        // ...and B, another store in the same database, appends at once.
        const started = performance.now();
        await (b as Db).transaction(async (tx) => {
          await tx.query("SET LOCAL lock_timeout = '2s'");
          await appendAudit(tx, entry(2));
        });
        assert.ok(performance.now() - started < 2000);
      } finally {
        release();
        await holding;
      }
      assert.equal((await auditHead(a as Db)).seq, 1);
      assert.equal((await auditHead(b as Db)).seq, 1);
    } finally {
      await Promise.all([a?.close(), b?.close()]);
      await Promise.all(stores.map((s) => s.cleanup()));
    }
  });

  test("an entry numbered at the same moment by a process that does not take the lock is answered service.unavailable", async () => {
    const fresh = await postgresBackend.fresh("audit-race");
    const db = await openDb(fresh.store, "audit race test");
    const other = new pg.Client({ connectionString: POSTGRES_URL });
    try {
      await migrate(db, "region");
      await db.transaction((tx) => appendAudit(tx, entry(1)));
      // As a process of an older version would: entry 2, without this version's lock, not yet committed.
      await other.connect();
      await other.query(`SET search_path TO "${(fresh.store as { schema: string }).schema}"`);
      await other.query("BEGIN");
      await other.query(
        `INSERT INTO audit_log (seq, at, actor, action, subject, reason, detail, prev_hash, hash)
         VALUES (2, now(), 'service-token', 'release.checked', 'x', NULL, '{}', $1, $2)`,
        [(await auditHead(db)).hash, "f".repeat(64)],
      );
      const appending = db.transaction((tx) => appendAudit(tx, entry(2)));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.query("COMMIT");
      await assert.rejects(appending, (error: unknown) => {
        assert.ok(error instanceof PhoneHomeError);
        assert.equal(error.code, "service.unavailable");
        assert.equal(error.retryAfterSeconds, 1);
        return true;
      });
      assert.equal((await auditHead(db)).seq, 2);
    } finally {
      await other.end();
      await db.close();
      await fresh.cleanup();
    }
  });
});
