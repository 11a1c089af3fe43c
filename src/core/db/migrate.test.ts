import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { type Db, openDb } from "./index.ts";
import { MIGRATIONS_DIR, migrate, readMigrations, splitStatements } from "./migrate.ts";

const SETS = ["region", "control"] as const;

/** The migration files shipped for `set`, in the order they must be applied. */
const shipped = (set: (typeof SETS)[number]) =>
  readdirSync(join(MIGRATIONS_DIR, set))
    .filter((f) => f.endsWith(".sql"))
    .sort();

const scratch = mkdtempSync(join(tmpdir(), "phonehome-migrate-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let folders = 0;

/** A migrations root with the given `region` files; returns the root. */
function migrationsRoot(files: Record<string, string>): string {
  folders += 1;
  const root = join(scratch, `root${folders}`);
  mkdirSync(join(root, "region"), { recursive: true });
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(root, "region", name), sql);
  return root;
}

/** Names of the tables in the store's current schema. */
async function tables(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

describe("splitStatements", () => {
  it("splits on a semicolon at the end of a line and drops comment lines and empty statements", () => {
    const sql = [
      "-- A header comment; with a semicolon at its end;",
      "CREATE TABLE a (",
      "  id integer PRIMARY KEY, -- the key",
      "  note text DEFAULT 'x; y'",
      ");",
      "",
      "   -- indented comment",
      "CREATE INDEX a_note ON a (note);   ",
      ";",
      "INSERT INTO a (id) VALUES (1)",
    ].join("\n");
    assert.deepEqual(splitStatements(sql), [
      "CREATE TABLE a (\n  id integer PRIMARY KEY, -- the key\n  note text DEFAULT 'x; y'\n)",
      "CREATE INDEX a_note ON a (note)",
      "INSERT INTO a (id) VALUES (1)",
    ]);
  });

  it("gives nothing for a script of comments and blank lines", () => {
    assert.deepEqual(splitStatements("-- only a comment;\n\n  \n-- another\n"), []);
    assert.deepEqual(splitStatements(""), []);
  });

  it("cuts every shipped migration into statements without a trailing semicolon or a comment line", () => {
    for (const set of SETS) {
      for (const migration of readMigrations(set)) {
        const statements = splitStatements(migration.sql);
        assert.ok(statements.length > 0, migration.name);
        for (const s of statements) {
          assert.doesNotMatch(s, /;\s*$/m, `${migration.name}: ${s}`);
          assert.ok(!s.split("\n").some((line) => line.trim().startsWith("--")), `${migration.name}: ${s}`);
        }
      }
    }
  });
});

describe("readMigrations", () => {
  it("reads the shipped sets in order, numbered from 1", () => {
    for (const set of SETS) {
      const migrations = readMigrations(set);
      assert.deepEqual(
        migrations.map((m) => m.name),
        shipped(set),
      );
      assert.deepEqual(
        migrations.map((m) => m.id),
        migrations.map((_, i) => i + 1),
      );
      for (const m of migrations) assert.match(m.sql, /CREATE TABLE|CREATE INDEX|ALTER TABLE/);
    }
  });

  it("reads files in numeric order and ignores files that are not NNNN_name.sql", () => {
    const root = migrationsRoot({
      "0002_second.sql": "SELECT 2;",
      "0001_first.sql": "SELECT 1;",
      "README.md": "notes",
      "0003_draft.sql.bak": "SELECT 3;",
      "3_bad_name.sql": "SELECT 3;",
      "0003-dashes.sql": "SELECT 3;",
    });
    assert.deepEqual(
      readMigrations("region", root).map(({ id, name, sql }) => ({ id, name, sql })),
      [
        { id: 1, name: "0001_first.sql", sql: "SELECT 1;" },
        { id: 2, name: "0002_second.sql", sql: "SELECT 2;" },
      ],
    );
  });

  it("refuses a gap in the numbering", () => {
    const root = migrationsRoot({ "0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 3;" });
    assert.throws(() => readMigrations("region", root), {
      message: "migration region/0003_c.sql is out of sequence (expected 2)",
    });
  });

  it("refuses a set that does not start at 1, and two files with one number", () => {
    const late = migrationsRoot({ "0002_b.sql": "SELECT 2;" });
    assert.throws(() => readMigrations("region", late), /0002_b\.sql is out of sequence \(expected 1\)/);
    const twice = migrationsRoot({ "0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;" });
    assert.throws(() => readMigrations("region", twice), /0001_b\.sql is out of sequence \(expected 2\)/);
  });
});

for (const backend of BACKENDS) {
  describe(`migrate and transactions (${backend.name})`, { skip: backend.skip }, () => {
    for (const set of SETS) {
      it(`applies every ${set} migration once on a fresh store, and nothing on the second run`, async () => {
        const { store, cleanup } = await backend.fresh(`migrate-${set}`);
        const db = await openDb(store);
        try {
          assert.deepEqual(await tables(db), []);
          assert.deepEqual(await migrate(db, set), shipped(set));
          const { rows } = await db.query<{ id: number; name: string }>(
            "SELECT id, name FROM schema_migrations ORDER BY id",
          );
          assert.deepEqual(
            rows,
            shipped(set).map((name, i) => ({ id: i + 1, name })),
          );
          const created = await tables(db);
          assert.ok(created.length > 1, `no tables created: ${created.join(", ")}`);
          assert.ok(created.includes(set === "region" ? "activations" : "devices"), created.join(", "));

          assert.deepEqual(await migrate(db, set), []);
          assert.deepEqual(await tables(db), created);
          const again = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM schema_migrations");
          assert.equal(again.rows[0]?.n, shipped(set).length);
        } finally {
          await db.close();
          await cleanup();
        }
      });
    }

    it("applies pending migrations all or nothing, and later only the new ones", async () => {
      const { store, cleanup } = await backend.fresh("migrate-custom");
      const db = await openDb(store);
      try {
        const broken = migrationsRoot({
          "0001_ok.sql": "CREATE TABLE ok_table (id integer PRIMARY KEY);\n",
          "0002_broken.sql": "CREATE TABLE broken (id integer REFERENCES no_such_table (id));\n",
        });
        await assert.rejects(migrate(db, "region", broken), /no_such_table/);
        // A failing file leaves no earlier one applied, not even the bookkeeping table.
        assert.deepEqual(await tables(db), []);

        const first = migrationsRoot({
          "0001_things.sql": "CREATE TABLE things (id integer PRIMARY KEY);\n",
        });
        assert.deepEqual(await migrate(db, "region", first), ["0001_things.sql"]);
        await db.query("INSERT INTO things (id) VALUES (1)");
        const second = migrationsRoot({
          "0001_things.sql": "CREATE TABLE things (id integer PRIMARY KEY);\n",
          "0002_colour.sql": "ALTER TABLE things ADD COLUMN colour text NOT NULL DEFAULT 'red';\n",
        });
        assert.deepEqual(await migrate(db, "region", second), ["0002_colour.sql"]);
        assert.deepEqual(await migrate(db, "region", second), []);
        const { rows } = await db.query("SELECT id, colour FROM things");
        assert.deepEqual(rows, [{ id: 1, colour: "red" }]);
        assert.deepEqual(await tables(db), ["schema_migrations", "things"]);
      } finally {
        await db.close();
        await cleanup();
      }
    });

    describe("transaction", () => {
      // One store for these tests (PGlite takes a second or two to create); each uses its own table.
      let db: Db;
      let cleanup: () => Promise<void>;
      before(async () => {
        const fresh = await backend.fresh("tx");
        cleanup = fresh.cleanup;
        db = await openDb(fresh.store);
      });
      after(async () => {
        await db.close();
        await cleanup();
      });

      it("commits what resolves and returns its value", async () => {
        await db.exec("CREATE TABLE committed (id integer PRIMARY KEY)");
        const value = await db.transaction(async (tx) => {
          await tx.query("INSERT INTO committed (id) VALUES ($1), ($2)", [1, 2]);
          const { rows } = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM committed");
          return rows[0]?.n;
        });
        assert.equal(value, 2);
        const { rows } = await db.query("SELECT id FROM committed ORDER BY id");
        assert.deepEqual(rows, [{ id: 1 }, { id: 2 }]);
      });

      it("rolls back when its function throws, and rethrows the same error", async () => {
        await db.exec("CREATE TABLE rolled (id integer PRIMARY KEY)");
        await db.query("INSERT INTO rolled (id) VALUES (0)");
        const boom = new Error("boom");
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.query("INSERT INTO rolled (id) VALUES (1)");
            await tx.query("UPDATE rolled SET id = 10 WHERE id = 0");
            throw boom;
          }),
          (error) => error === boom,
        );
        // A failing statement rolls back the statements before it too.
        await assert.rejects(
          db.transaction(async (tx) => {
            await tx.query("INSERT INTO rolled (id) VALUES (2)");
            await tx.query("INSERT INTO rolled (id) VALUES (2)");
          }),
          /duplicate key/,
        );
        const { rows } = await db.query("SELECT id FROM rolled ORDER BY id");
        assert.deepEqual(rows, [{ id: 0 }]);
      });

      it("stays usable after more failed transactions than the pool has connections", async () => {
        await db.exec("CREATE TABLE released (id integer PRIMARY KEY)");
        for (let i = 0; i < 12; i += 1) {
          await assert.rejects(
            db.transaction(async (tx) => {
              await tx.query("INSERT INTO released (id) VALUES ($1)", [i]);
              throw new Error(`failure ${i}`);
            }),
            { message: `failure ${i}` },
          );
        }
        await db.transaction((tx) => tx.query("INSERT INTO released (id) VALUES (99)"));
        const { rows } = await db.query("SELECT id FROM released");
        assert.deepEqual(rows, [{ id: 99 }]);
      });
    });

    if (backend.name === "postgres") {
      it("applies each migration exactly once when several processes open and migrate one schema at once", async () => {
        const { store, cleanup } = await backend.fresh("migrate-race");
        const starters = 6;
        const dbs: Db[] = [];
        try {
          const results = await Promise.all(
            Array.from({ length: starters }, async () => {
              const db = await openDb(store);
              dbs.push(db);
              return migrate(db, "region");
            }),
          );
          // Exactly one starter applied each file; the others found it done.
          assert.deepEqual(results.flat().sort(), shipped("region"));
          assert.equal(results.filter((r) => r.length > 0).length, 1, JSON.stringify(results));
          const [db] = dbs;
          assert.ok(db);
          const { rows } = await db.query<{ id: number }>("SELECT id FROM schema_migrations ORDER BY id");
          assert.deepEqual(
            rows.map((r) => r.id),
            shipped("region").map((_, i) => i + 1),
          );
        } finally {
          await Promise.all(dbs.map((db) => db.close()));
          await cleanup();
        }
      });

      it("keeps schemas apart: migrating one schema does not count for another", async () => {
        const a = await backend.fresh("migrate-a");
        const b = await backend.fresh("migrate-b");
        const dbA = await openDb(a.store);
        const dbB = await openDb(b.store);
        try {
          const [appliedA, appliedB] = await Promise.all([migrate(dbA, "region"), migrate(dbB, "region")]);
          assert.deepEqual(appliedA, shipped("region"));
          assert.deepEqual(appliedB, shipped("region"));
          assert.ok((await tables(dbB)).includes("activations"));
        } finally {
          await Promise.all([dbA.close(), dbB.close()]);
          await Promise.all([a.cleanup(), b.cleanup()]);
        }
      });
    }
  });
}
