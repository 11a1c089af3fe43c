/**
 * The commands' two small decisions: which store `--region`/`--control-plane`
 * name, and where a restored copy differs from its manifest.
 */
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { buildConfig } from "../../core/config/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { differences, namedStore } from "./backup.service.ts";
import type { StoreFacts } from "./manifest.ts";

test("--region R or --control-plane names one configured store", () => {
  const config = buildConfig({}, tmpdir());
  assert.deepEqual(namedStore(config, { region: "cn" }).role, { role: "region", region: "cn" });
  assert.equal(namedStore(config, { region: "cn" }).migrations, "region");
  assert.deepEqual(namedStore(config, { controlPlane: true }).role, { role: "control-plane" });
  assert.equal(namedStore(config, { controlPlane: true }).migrations, "control");
  assert.deepEqual(namedStore(config, { controlPlane: true }).store, config.controlPlane.store);
  for (const neither of [{}, { region: "cn", controlPlane: true }]) {
    assert.throws(
      () => namedStore(config, neither),
      (e) => isPhoneHomeError(e, "backup.invalid") && /name one store/.test(e.message),
    );
  }
  assert.throws(
    () => namedStore(config, { region: "eu" }),
    (e) => isPhoneHomeError(e, "backup.invalid") && e.problems?.map((p) => p.path).join() === "global,cn",
  );
});

const facts: StoreFacts = {
  migrations: 12,
  tables: [
    { name: "activations", rows: 41 },
    { name: "audit_log", rows: 3 },
  ],
  audit: { intact: true, entries: 3, head: { seq: 3, hash: "a".repeat(64) } },
};

test("a restored copy that holds what its manifest says differs in nothing", () => {
  assert.deepEqual(differences(facts, structuredClone(facts)), []);
});

test("every difference of a restored copy is named: migration, rows, tables missing or extra, the audit chain", () => {
  const found: StoreFacts = {
    migrations: 11,
    tables: [
      { name: "activations", rows: 40 },
      { name: "extra", rows: 0 },
    ],
    audit: {
      intact: false,
      entries: 2,
      head: { seq: 2, hash: "b".repeat(64) },
      broken: { seq: 3, problem: "changed" },
    },
  };
  assert.deepEqual(
    differences(facts, found).map((p) => p.path),
    ["migrations", "tables/activations", "tables/audit_log", "tables/extra", "audit"],
  );
  assert.match(differences(facts, found)[1]?.message ?? "", /has 40 rows, where the backup has 41/);
  assert.match(differences(facts, found)[2]?.message ?? "", /is missing \(the backup has 3 rows\)/);
  const otherHead = structuredClone(facts);
  otherHead.audit.head.hash = "c".repeat(64);
  assert.deepEqual(
    differences(facts, otherHead).map((p) => p.path),
    ["audit"],
    "the same number of entries under another head is a difference",
  );
});
