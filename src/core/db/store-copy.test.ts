/**
 * Whole-store copies on PGlite and PostgreSQL: a dump's reads see the state
 * it copies; a restore into an empty store holds the same rows, sequences,
 * partitions and triggers; a store that holds data is replaced only when the
 * caller lets it, and a copy whose check fails never replaces it; a copy of
 * the other kind or of another schema is refused; an embedded store another
 * process holds is neither copied nor restored.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type Backend, BACKENDS, freshDatabase } from "../../../test/helpers/stores.ts";
import { isPhoneHomeError } from "../errors/index.ts";
import type { ArchiveFile } from "./archive.ts";
import { openDb, type Queryable, type StoreConfig } from "./index.ts";
import { libpqConnection } from "./pg-tools.ts";
import { LOCK_FILE } from "./store-lock.ts";
import { dumpStore, restoreStore } from "./store-copy.ts";

const scratch = mkdtempSync(join(tmpdir(), "phonehome-copy-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Bytes before the copy in the test's file, so that offsets are honoured. */
const PREFIX = "not part of the copy\n";

async function things(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM things");
  return rows[0]?.n ?? -1;
}

async function withStore<T>(store: StoreConfig, work: (q: Queryable) => Promise<T>): Promise<T> {
  const db = await openDb(store, "store-copy test");
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/** A store of 50 things (a serial key, a trigger that refuses updates) and 30 parts in two partitions. */
async function fill(store: StoreConfig): Promise<void> {
  await withStore(store, async (q) => {
    for (const sql of [
      "CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL)",
      "INSERT INTO things (name) SELECT 'thing ' || g FROM generate_series(1, 50) g",
      "CREATE FUNCTION things_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'kept'; END $$",
      "CREATE TRIGGER things_kept BEFORE UPDATE ON things FOR EACH ROW EXECUTE FUNCTION things_are_kept()",
      "CREATE TABLE parts (k int NOT NULL, v text) PARTITION BY RANGE (k)",
      "CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (10)",
      "CREATE TABLE parts_rest PARTITION OF parts DEFAULT",
      "INSERT INTO parts SELECT g, 'p' FROM generate_series(1, 30) g",
    ])
      await q.query(sql);
  });
}

/** Dumps `store` into a file after `PREFIX`; answers where the copy lies and what `read` saw. */
async function dumpToFile(store: StoreConfig, name: string): Promise<{ archive: ArchiveFile; seen: number }> {
  const path = join(scratch, name);
  writeFileSync(path, PREFIX);
  const { facts, archive } = await dumpStore(store, {
    holder: "store-copy test",
    read: things,
    write: (bytes: Readable) => pipeline(bytes, createWriteStream(path, { flags: "a" })),
  });
  const offset = Buffer.byteLength(PREFIX);
  return { archive: { path, offset, bytes: statSync(path).size - offset, info: archive }, seen: facts };
}

const noReplacing = async () => {
  throw new Error("replacing was asked, but the store is empty");
};
const noCheck = async () => {};

/** A second store of the backend's kind, empty, with the same schema name as `source` (pg_restore keeps it). */
async function emptyTarget(
  backend: Backend,
  source: StoreConfig,
): Promise<{ store: StoreConfig; cleanup: () => Promise<void> }> {
  if (backend.name === "pglite" || source.kind === "pglite") return backend.fresh("copy-target");
  const database = await freshDatabase("copy");
  return {
    store: {
      kind: "postgres",
      url: database.url,
      ...(source.schema === undefined ? {} : { schema: source.schema }),
    },
    cleanup: database.drop,
  };
}

/** What lies beside the store that a restore may have left: staging folders, schemas set aside. */
async function leftovers(store: StoreConfig): Promise<string[]> {
  if (store.kind === "pglite") {
    return readdirSync(dirname(store.dataDir)).filter((n) => n.startsWith(`.${basename(store.dataDir)}.`));
  }
  const client = new pg.Client({ connectionString: store.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE '%\\_replaced\\_%'",
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

for (const backend of BACKENDS) {
  describe(`whole-store copies on ${backend.name}`, { skip: backend.skip }, () => {
    let source: { store: StoreConfig; cleanup: () => Promise<void> };
    let target: { store: StoreConfig; cleanup: () => Promise<void> };
    let copy: ArchiveFile;
    before(async () => {
      source = await backend.fresh("copy-source");
      await fill(source.store);
      target = await emptyTarget(backend, source.store);
    });
    after(async () => {
      await source?.cleanup();
      await target?.cleanup();
    });

    test("a dump reads the state it copies; restored into an empty store, rows, sequences, partitions and triggers are back", async () => {
      const dumped = await dumpToFile(source.store, `${backend.name}.copy`);
      copy = dumped.archive;
      assert.equal(dumped.seen, 50);
      assert.equal(copy.info.format, backend.name === "pglite" ? "pglite-datadir-tgz" : "pg_dump-custom");
      assert.equal(copy.info.schema, source.store.kind === "postgres" ? source.store.schema : null);
      let checked = -1;
      await restoreStore(target.store, copy, {
        holder: "store-copy test",
        replacing: noReplacing,
        check: async (q) => {
          checked = await things(q);
        },
      });
      assert.equal(checked, 50, "the check ran on the copy");
      await withStore(target.store, async (q) => {
        assert.equal(await things(q), 50);
        const { rows } = await q.query<{ id: number }>(
          "INSERT INTO things (name) VALUES ('next') RETURNING id",
        );
        assert.equal(rows[0]?.id, 51, "the sequence goes on where it was");
        await assert.rejects(q.query("UPDATE things SET name = 'x'"), /kept/, "the trigger is back");
        const parts = await q.query<{ low: number; all: number }>(
          "SELECT (SELECT count(*)::int FROM parts_low) AS low, (SELECT count(*)::int FROM parts) AS all",
        );
        assert.deepEqual(parts.rows[0], { low: 9, all: 30 });
      });
      assert.deepEqual(await leftovers(target.store), []);
      if (target.store.kind === "pglite") {
        assert.equal(
          existsSync(join(target.store.dataDir, LOCK_FILE)),
          false,
          "the store is not left locked",
        );
      }
    });

    test("a store that holds data is replaced only when the caller lets it, and never by a copy that fails its check", async () => {
      // The target holds 51 things now.
      const refused = new Error("not without --force");
      let seen = -1;
      await assert.rejects(
        restoreStore(target.store, copy, {
          holder: "store-copy test",
          replacing: async (current) => {
            seen = await things(current);
            throw refused;
          },
          check: noCheck,
        }),
        (e) => e === refused,
      );
      assert.equal(seen, 51, "replacing is shown the store as it is");
      await withStore(target.store, async (q) => assert.equal(await things(q), 51));

      const failed = new Error("the copy is not what the manifest says");
      await assert.rejects(
        restoreStore(target.store, copy, {
          holder: "store-copy test",
          replacing: async () => {},
          check: async (q) => {
            assert.equal(await things(q), 50, "the check runs on the copy, not on the store");
            throw failed;
          },
        }),
        (e) => e === failed,
      );
      await withStore(target.store, async (q) => assert.equal(await things(q), 51, "the store is as it was"));
      assert.deepEqual(await leftovers(target.store), [], "nothing is left beside it");

      await restoreStore(target.store, copy, {
        holder: "store-copy test",
        replacing: async () => {},
        check: noCheck,
      });
      await withStore(target.store, async (q) => assert.equal(await things(q), 50, "replaced by the copy"));
      assert.deepEqual(await leftovers(target.store), []);
    });

    test("a copy of the other kind of store, or of another schema, is refused and nothing changes", async () => {
      const other = copy.info.format === "pglite-datadir-tgz" ? "pg_dump-custom" : "pglite-datadir-tgz";
      await assert.rejects(
        restoreStore(
          target.store,
          { ...copy, info: { ...copy.info, format: other } },
          {
            holder: "store-copy test",
            replacing: async () => {},
            check: noCheck,
          },
        ),
        (e) => isPhoneHomeError(e, "backup.wrong_store"),
      );
      if (target.store.kind === "postgres") {
        await assert.rejects(
          restoreStore(
            target.store,
            { ...copy, info: { ...copy.info, schema: "another_schema" } },
            {
              holder: "store-copy test",
              replacing: async () => {},
              check: noCheck,
            },
          ),
          (e) =>
            isPhoneHomeError(e, "backup.wrong_store") &&
            e.message.includes("another_schema") &&
            e.message.includes(String(target.store.kind === "postgres" && target.store.schema)),
        );
      }
      await withStore(target.store, async (q) => assert.equal(await things(q), 50));
    });

    if (backend.name === "pglite") {
      test("an embedded store another process holds is neither copied nor restored", async () => {
        if (source.store.kind !== "pglite") throw new Error("not an embedded store");
        const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
        await new Promise((resolve) => other.once("spawn", resolve));
        try {
          const lock = join(source.store.dataDir, LOCK_FILE);
          writeFileSync(
            lock,
            JSON.stringify({ pid: other.pid, holder: "collector of region global", since: "now" }),
          );
          await assert.rejects(
            dumpStore(source.store, { holder: "test", read: things, write: async () => {} }),
            (e) => isPhoneHomeError(e, "store.locked") && e.message.includes("collector of region global"),
          );
          await assert.rejects(
            restoreStore(source.store, copy, { holder: "test", replacing: async () => {}, check: noCheck }),
            (e) => isPhoneHomeError(e, "store.locked"),
          );
          assert.equal(JSON.parse(readFileSync(lock, "utf8")).pid, other.pid, "the holder keeps its lock");
          rmSync(lock);
        } finally {
          other.kill("SIGKILL");
        }
        await withStore(source.store, async (q) => assert.equal(await things(q), 50));
      });

      test("a folder that holds files but no store is never replaced", async () => {
        const dataDir = join(scratch, "not-a-store");
        const notes = join(dataDir, "notes.txt");
        mkdirSync(dataDir, { recursive: true });
        writeFileSync(notes, "mine");
        await assert.rejects(
          restoreStore({ kind: "pglite", dataDir }, copy, {
            holder: "test",
            replacing: async () => {},
            check: noCheck,
          }),
          (e) => isPhoneHomeError(e, "backup.target_not_empty") && e.message.includes("notes.txt"),
        );
        assert.equal(readFileSync(notes, "utf8"), "mine");
      });
    }
  });
}

test("pg_dump and pg_restore are given the store without its password, which goes into a file of their own", () => {
  const { url, remove } = libpqConnection(
    "postgres://phonehome:s3cr:et%40@db.example.com:5433/phonehome",
    3000,
  );
  const parsed = new URL(url);
  assert.equal(parsed.password, "");
  assert.equal(parsed.username, "phonehome");
  assert.equal(parsed.searchParams.get("connect_timeout"), "3");
  const passfile = parsed.searchParams.get("passfile") ?? "";
  assert.equal(
    readFileSync(passfile, "utf8"),
    "*:*:*:*:s3cr\\:et@\n",
    "':' escaped, the URL's encoding undone",
  );
  assert.equal(statSync(passfile).mode & 0o777, 0o600);
  remove();
  assert.equal(existsSync(passfile), false);
  const none = libpqConnection("postgres://postgres@127.0.0.1:5432/test", 500);
  assert.equal(new URL(none.url).searchParams.get("passfile"), null);
  assert.equal(new URL(none.url).searchParams.get("connect_timeout"), "2", "libpq's least");
});
