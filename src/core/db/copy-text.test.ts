/**
 * The COPY text encoder, alone and through `copyIn` on both backends: what
 * goes in is what PostgreSQL reads back, however awkward the text.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { copyTextField, copyTextLine } from "./copy-text.ts";
import { type Db, openDb } from "./index.ts";

describe("copyTextField", () => {
  it("escapes backslash, newline, carriage return and tab, and nothing else", () => {
    assert.equal(copyTextField("a\\b\nc\rd\te"), "a\\\\b\\nc\\rd\\te");
    assert.equal(copyTextField("plain ÆØÅ 漢字 🙂 ,\"'"), "plain ÆØÅ 漢字 🙂 ,\"'");
  });
  it("writes null as \\N and the text \\N as itself, escaped", () => {
    assert.equal(copyTextField(null), "\\N");
    assert.equal(copyTextField("\\N"), "\\\\N");
  });
  it("writes dates in ISO 8601 UTC and objects as JSON, escaped", () => {
    assert.equal(copyTextField(new Date(Date.UTC(2026, 10, 29, 12, 0, 0, 5))), "2026-11-29T12:00:00.005Z");
    assert.equal(copyTextField({ s: "x\\y" }), '{"s":"x\\\\\\\\y"}');
  });
  it("refuses what PostgreSQL cannot hold", () => {
    assert.throws(() => copyTextField("a\u0000b"), /NUL/);
    assert.throws(() => copyTextField(Number.NaN), RangeError);
    assert.throws(() => copyTextField(new Date(Number.NaN)), RangeError);
  });
  it("joins columns with tabs and ends the line", () => {
    assert.equal(copyTextLine(["a", 1, null, true]), "a\t1\t\\N\ttrue\n");
  });
});

const AWKWARD = [
  "tab\there",
  "new\nline",
  "carriage\rreturn",
  "back\\slash",
  "\\N",
  "\\.",
  "",
  " leading and trailing ",
  "ÆØÅ 漢字 🙂",
  '"quoted", comma',
];

for (const backend of BACKENDS) {
  describe(`copyIn (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      const fresh = await backend.fresh("copy");
      cleanup = fresh.cleanup;
      db = await openDb(fresh.store);
      await db.query(
        "CREATE TABLE copied (id integer PRIMARY KEY, t text, j jsonb, at timestamptz, n integer)",
      );
    });
    after(async () => {
      await db?.close();
      await cleanup?.();
    });

    it("stores exactly what it is given, awkward text included", async () => {
      const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
      const rows = AWKWARD.map((t, i) => [i, t, { t, i, nested: [t, null] }, at, i % 2 ? null : i] as const);
      const data = rows.map((r) => copyTextLine(r)).join("");
      assert.equal(await db.copyIn("copied", ["id", "t", "j", "at", "n"], data), rows.length);
      const { rows: back } = await db.query<{
        id: number;
        t: string;
        j: unknown;
        at: Date;
        n: number | null;
      }>("SELECT id, t, j, at, n FROM copied ORDER BY id");
      assert.deepEqual(
        back.map((r) => [r.id, r.t, r.j, new Date(r.at).toISOString(), r.n]),
        rows.map(([i, t, j, a, n]) => [i, t, j, a.toISOString(), n]),
      );
    });

    it("rolls back with the transaction, and a unique violation carries its SQLSTATE", async () => {
      const before = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM copied");
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.copyIn("copied", ["id", "t"], copyTextLine([1000, "fresh"]));
          await tx.copyIn("copied", ["id", "t"], copyTextLine([0, "already there"]));
        }),
        (error: { code?: string }) => error.code === "23505",
      );
      const now = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM copied");
      assert.equal(now.rows[0]?.n, before.rows[0]?.n);
    });

    it("goes on after a failed COPY rolled back to its savepoint", async () => {
      const stored = await db.transaction(async (tx) => {
        await tx.query("SAVEPOINT s");
        await assert.rejects(tx.copyIn("copied", ["id"], copyTextLine([0])));
        await tx.query("ROLLBACK TO SAVEPOINT s");
        return tx.copyIn("copied", ["id", "t"], copyTextLine([2000, "after"]));
      });
      assert.equal(stored, 1);
      const { rows } = await db.query<{ t: string }>("SELECT t FROM copied WHERE id = 2000");
      assert.equal(rows[0]?.t, "after");
    });

    it("refuses names that are not plain identifiers, before sending anything", async () => {
      await assert.rejects(db.copyIn("copied; DROP TABLE copied", ["id"], ""), /not a plain identifier/);
      await assert.rejects(db.copyIn("copied", ['id"'], ""), /not a plain identifier/);
      await assert.rejects(db.copyIn("copied", [], ""), /at least one column/);
    });
  });
}
