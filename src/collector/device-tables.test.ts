import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SHIPPED_DICTIONARY } from "../../test/helpers/dictionary.ts";
import { freshRegionStore } from "../../test/helpers/retention.ts";
import { BACKENDS } from "../../test/helpers/stores.ts";
import type { Db } from "../core/db/index.ts";
import { loadDictionary } from "../core/dictionary/index.ts";
import { type DeviceTable, expiringTables, ownerTables, tableStoring } from "./device-data/index.ts";
import { DEVICE_TABLES, writeSteps } from "./device-tables.ts";

describe("the collector's list of device tables", () => {
  it("stores every collection of the shipped dictionary in exactly one table", () => {
    const { dictionary } = loadDictionary(SHIPPED_DICTIONARY, { regions: ["global", "cn"] });
    const where = Object.fromEntries(
      dictionary.collections.map((c) => [c.name, tableStoring(DEVICE_TABLES, c.name).name]),
    );
    assert.equal(where.activation, "activations");
    assert.equal(where["update.check"], "device_builds");
    const diagnostics = dictionary.collections.filter((c) => c.legalBasis === "consent");
    assert.ok(diagnostics.length > 0, "the shipped dictionary has consent-based collections");
    for (const c of diagnostics) assert.equal(where[c.name], "diagnostics_events", c.name);
  });

  it("refuses a collection claimed by two tables, or by none", () => {
    const activations =
      DEVICE_TABLES.find((t) => t.name === "activations") ?? assert.fail("activations listed");
    const twice: DeviceTable = { ...activations, name: "activations_again" };
    assert.throws(
      () => tableStoring([...DEVICE_TABLES, twice], "activation"),
      /activations and activations_again/,
    );
    assert.throws(
      () => tableStoring([activations], "uep.battery"),
      /no table .* holds collection uep\.battery/,
    );
  });

  it("pages an owner's export through one table, and writes through the writer's steps in the list's order", () => {
    assert.equal(ownerTables(DEVICE_TABLES).paged.table.name, "diagnostics_events");
    assert.deepEqual(
      writeSteps(DEVICE_TABLES).map((s) => s.kind),
      ["activation", "diagnostics"],
    );
    assert.throws(
      () => ownerTables(DEVICE_TABLES.filter((t) => t.name !== "diagnostics_events")),
      /exactly one/,
    );
  });

  it("expires every table but the decisions in force, collected records before proof records", () => {
    assert.deepEqual(
      expiringTables(DEVICE_TABLES).map((t) => `${t.holds}:${t.name}`),
      [
        "collected:activations",
        "collected:diagnostics_events",
        "collected:device_builds",
        "proof:consent_history",
        "proof:erasures",
        "proof:access_receipts",
        "proof:notice_deliveries",
      ],
    );
  });
});

for (const backend of BACKENDS) {
  describe(`the list against a migrated region store (${backend.name})`, { skip: backend.skip }, () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ db, cleanup } = await freshRegionStore(backend, "device-tables"));
    });
    after(async () => {
      await cleanup?.();
    });

    it("describes every table that names a device, and only tables that exist", async () => {
      // A table with a device's key or pseudonym holds device data: a new one must be described in the list.
      const { rows } = await db.query<{ name: string }>(
        `SELECT DISTINCT c.table_name AS name
           FROM information_schema.columns c
           JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = to_regnamespace(c.table_schema)
          WHERE c.table_schema = current_schema() AND c.column_name IN ('device_key', 'device_ref')
            AND NOT k.relispartition
          ORDER BY 1`,
      );
      assert.deepEqual(
        rows.map((r) => r.name),
        DEVICE_TABLES.map((t) => t.name).sort(),
      );
    });

    it("names key columns that exist in each table", async () => {
      for (const table of expiringTables(DEVICE_TABLES)) {
        const { rows } = await db.query<{ column: string }>(
          `SELECT column_name AS column FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = $1`,
          [table.name],
        );
        const columns = new Set(rows.map((r) => r.column));
        assert.ok(columns.has("expires_at"), `${table.name} has expires_at`);
        for (const key of table.expiry?.keys ?? [])
          assert.ok(columns.has(key.column), `${table.name}.${key.column}`);
        if (table.expiry?.fieldClock) assert.ok(columns.has(table.expiry.fieldClock), `${table.name} clock`);
      }
    });

    it("walks each table along a unique key: purges page by (expiry, key), so no two rows may share one", async () => {
      for (const table of expiringTables(DEVICE_TABLES)) {
        const walk = new Set(["expires_at", ...(table.expiry?.keys ?? []).map((k) => k.column)]);
        // A unique index (or the primary key) all of whose columns the walk orders by.
        const { rows } = await db.query<{ columns: string[] }>(
          `SELECT array_agg(a.attname::text) AS columns
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid AND c.relnamespace = to_regnamespace(current_schema())
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
            WHERE c.relname = $1 AND i.indisunique
            GROUP BY i.indexrelid`,
          [table.name],
        );
        assert.ok(
          rows.some((r) => r.columns.every((c) => walk.has(c))),
          `${table.name}: no unique index within ${[...walk].join(", ")}`,
        );
      }
    });
  });
}
