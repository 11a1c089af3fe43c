/**
 * A backup goes back into its own store only: the same region (or the control
 * plane), the same kind of store, and a migration this phonehome knows.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { checkFits, type Manifest, type RestoreTarget } from "./manifest.ts";

const manifest: Manifest = {
  format: "phonehome-backup",
  version: 1,
  createdAt: "2031-05-01T12:00:00.000Z",
  phonehome: "0.1.0",
  store: { role: "region", region: "cn" },
  archive: {
    format: "pglite-datadir-tgz",
    schema: null,
    serverVersion: "17.4",
    tool: "PGlite dumpDataDir",
    bytes: 10,
    sha256: "c".repeat(64),
  },
  facts: {
    migrations: 12,
    tables: [],
    audit: { intact: true, entries: 0, head: { seq: 0, hash: "0".repeat(64) } },
  },
};

const wrong = (pattern: RegExp) => (e: unknown) =>
  isPhoneHomeError(e, "backup.wrong_store") && pattern.test(e.message);
const fits =
  (target: RestoreTarget, known = 12) =>
  () =>
    checkFits(manifest, target, known);

test("a backup fits its own store: same region, same kind, a migration known", () => {
  assert.doesNotThrow(fits({ store: { role: "region", region: "cn" }, kind: "pglite" }));
  assert.doesNotThrow(
    fits({ store: { role: "region", region: "cn" }, kind: "pglite" }, 14),
    "an older backup fits",
  );
});

test("a region's backup is refused by another region and by the control plane; the control plane's by a region", () => {
  assert.throws(
    fits({ store: { role: "region", region: "global" }, kind: "pglite" }),
    wrong(/region cn's store, not region global's/),
  );
  assert.throws(fits({ store: { role: "control-plane" }, kind: "pglite" }), wrong(/not the control plane's/));
  const control = { ...manifest, store: { role: "control-plane" as const } };
  assert.throws(
    () => checkFits(control, { store: { role: "region", region: "cn" }, kind: "pglite" }, 12),
    wrong(/the control plane's store, not region cn's/),
  );
});

test("a backup of the other kind of store, or of a newer migration, is refused", () => {
  assert.throws(
    fits({ store: { role: "region", region: "cn" }, kind: "postgres" }),
    wrong(/embedded \(PGlite\).*PostgreSQL/),
  );
  assert.throws(
    fits({ store: { role: "region", region: "cn" }, kind: "pglite" }, 11),
    wrong(/migration 12, newer than this phonehome knows \(11\)/),
  );
});
