/**
 * A collection whose approval ran out is refused by collectors — counted in
 * the ledger, nothing stored — and accepted again once a review renews the
 * approval, on PGlite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { listLedger } from "../../src/ingest/ledger.repository.ts";
import { SHIPPED_DICTIONARY } from "../helpers/dictionary.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem } from "../helpers/system.ts";

/** The shipped dictionary, with activation v1's approval given an end date (and a review reference). */
function dictionaryWith(approval: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-expiry-"));
  cpSync(SHIPPED_DICTIONARY, dir, { recursive: true });
  const file = join(dir, "activation", "v1.yaml");
  const doc = parse(readFileSync(file, "utf8")) as { approval: Record<string, string> };
  doc.approval = { ...doc.approval, ...approval };
  writeFileSync(file, stringify(doc));
  return dir;
}

for (const backend of BACKENDS) {
  describe(`an approval that runs out, on ${backend.name}`, { skip: backend.skip }, () => {
    const expired = dictionaryWith({ date: "2024-01-10", expires: "2025-01-10" });
    const renewed = dictionaryWith({ date: "2025-01-20", expires: "2099-01-10", reference: "REV-RENEWAL-1" });
    after(() => {
      rmSync(expired, { recursive: true, force: true });
      rmSync(renewed, { recursive: true, force: true });
    });

    test("is refused with collection.expired, counted and not stored; renewed, it is accepted", async () => {
      const before = await startTestSystem(backend, { extra: { dictionary: expired } });
      try {
        const [device] = await before.provision([{ market: "NO" }]);
        assert.ok(device);
        const global = before.system.regions.find((r) => r.id === "global");
        assert.ok(global);
        const answer = await post(`${global.url}/v1/activations`, await buildEnvelope(device));
        assert.equal(answer.status, 400);
        assert.equal(answer.body.error?.code, "collection.expired");
        assert.match(answer.body.error?.message ?? "", /ran out on 2025-01-10/);
        assert.deepEqual((await before.activationsByRegion()).get("global"), []);
        const refused = (await listLedger(global.db, new Date(0), 100)).filter(
          (r) => r.reason === "collection.expired",
        );
        assert.equal(
          refused.reduce((n, r) => n + r.count, 0),
          1,
        );
      } finally {
        await before.close();
      }
      const after = await startTestSystem(backend, { extra: { dictionary: renewed } });
      try {
        const [device] = await after.provision([{ market: "NO" }]);
        assert.ok(device);
        const global = after.system.regions.find((r) => r.id === "global");
        assert.ok(global);
        const answer = await post(`${global.url}/v1/activations`, await buildEnvelope(device));
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
      } finally {
        await after.close();
      }
    });
  });
}
