/**
 * The control plane's `GET /v1/ledger`: every region's ledger rows in one
 * answer, each named by its region, read at most 31 days back; on PGlite and
 * PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DeviceIdentity } from "@phonehome/sdk";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Ledger {
  rows: { region: string; outcome: string; reason: string; batch: string; market: string; count: number }[];
  missing: unknown[];
  truncated: string[];
  error?: { code: string; path: string };
}

for (const backend of BACKENDS) {
  describe(`the gathered ingest ledger on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let stray: DeviceIdentity;
    before(async () => {
      t = await startTestSystem(backend);
      const [home, wrong] = await t.provision([{ market: "NO" }, { market: "NO", home: "cn" }]);
      assert.ok(home && wrong);
      stray = wrong;
      const url = (id: string) => t.system.regions.find((r) => r.id === id)?.url ?? "";
      assert.equal((await post(`${url("global")}/v1/activations`, await buildEnvelope(home))).status, 201);
      assert.equal((await post(`${url("cn")}/v1/activations`, await buildEnvelope(wrong))).status, 403);
    });
    after(async () => {
      await t?.close();
    });

    test("names each row's region: stored in global, refused as misrouted in cn", async () => {
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const answer = await callControlPlane<Ledger>(t, "GET", `/v1/ledger?since=${since}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const sum = (region: string, outcome: string) =>
        answer.body.rows
          .filter((r) => r.region === region && r.outcome === outcome)
          .reduce((n, r) => n + r.count, 0);
      assert.deepEqual([sum("global", "stored"), sum("cn", "refused"), sum("cn", "stored")], [1, 1, 0]);
      const misrouted = answer.body.rows.find((r) => r.reason === "region.misrouted");
      assert.deepEqual([misrouted?.region, misrouted?.market], ["cn", stray.market]);
      assert.deepEqual([answer.body.missing, answer.body.truncated], [[], []]);
    });

    test("refuses a window of more than 31 days, or no window", async () => {
      const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
      const tooOld = await callControlPlane<Ledger>(t, "GET", `/v1/ledger?since=${old}`);
      assert.deepEqual([tooOld.status, tooOld.body.error?.code], [400, "request.invalid"]);
      const none = await callControlPlane<Ledger>(t, "GET", "/v1/ledger");
      assert.equal(none.status, 400);
    });
  });
}
