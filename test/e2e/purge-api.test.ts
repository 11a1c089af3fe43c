/**
 * The operator's purge API on a running collector, on PGlite and PostgreSQL:
 * only with the service token; a surgical dry run and the real run agree on
 * their counts, and the runs are recorded with their reason; a request the
 * dictionary cannot mean removes nothing.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { loadServiceToken } from "../../src/core/keys/index.ts";
import { buildEnvelope, diagnosticsBatch, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

/** The parts of the purge API's answers these tests read. */
interface Answer {
  error?: { code: string };
  region?: string;
  plan: { total: number };
  result: { runId: number; kind: string; dryRun: boolean; removed: number; sha256: string };
  runs: {
    id: number;
    kind: string;
    dryRun: boolean;
    reason: string | null;
    removed: number;
    scope: { field?: string } | null;
    finishedAt: string | null;
  }[];
}

const REASON = "build 00WW_3_40 sent crash counts before the notice named them";

for (const backend of BACKENDS) {
  describe(`purge API on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let device: DeviceIdentity;
    let token: string;
    const region = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const stored = () =>
      findDiagnosticsEvents(region().db, deviceRef(region().intake.pseudonymSecret, device.keyId));
    const call = async (path: string, init: { body?: unknown; token?: string | null } = {}) => {
      const headers: Record<string, string> = {};
      const bearer = init.token === undefined ? token : init.token;
      if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
      if (init.body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(`${region().url}${path}`, {
        method: init.body === undefined ? "GET" : "POST",
        headers,
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return { status: response.status, body: (await response.json()) as Answer };
    };
    const window = () => ({
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
    });

    before(async () => {
      t = await startTestSystem(backend);
      [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
      token = loadServiceToken(t.dataDir);
      const yes = await fetch(`${region().url}/v1/owner/consents/uep.diagnostics`, {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${await mintOwnerToken(device)}`,
        },
        body: JSON.stringify({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" }),
      });
      assert.equal(yes.status, 200);
      for (let i = 0; i < 2; i++) {
        const answer = await post(
          `${region().url}/v1/diagnostics`,
          await buildEnvelope(device, {
            payload: diagnosticsBatch(device, 3),
            header: { collection: "uep.diagnostics", schemaVersion: 1 },
          }),
        );
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      }
    });
    after(async () => {
      await t?.close();
    });

    test("every purge route needs the service token, and a refused call removes nothing", async () => {
      const body = { collection: "uep.diagnostics", ...window(), reason: REASON };
      for (const bearer of [null, "not-the-token-but-long-enough"]) {
        const surgical = await call("/v1/purges/surgical", { body, token: bearer });
        assert.equal(surgical.status, 401);
        assert.equal(surgical.body.error?.code, "auth.service_token_invalid");
        const retention = await call("/v1/purges/retention", { body: {}, token: bearer });
        assert.equal(retention.status, 401);
        assert.equal((await call("/v1/purges", { token: bearer })).status, 401);
      }
      assert.equal((await stored()).length, 6);
    });

    test("a field the collection never declared is refused with purge.invalid and removes nothing", async () => {
      const answer = await call("/v1/purges/surgical", {
        body: { collection: "uep.diagnostics", field: "imei", ...window(), reason: REASON },
      });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error?.code, "purge.invalid");
      const empty = await call("/v1/purges/surgical", {
        body: { collection: "uep.diagnostics", from: window().to, to: window().from, reason: REASON },
      });
      assert.equal(empty.status, 400);
      assert.equal(empty.body.error?.code, "purge.invalid");
      const unknownKey = await call("/v1/purges/retention", { body: { now: "2099-01-01T00:00:00Z" } });
      assert.equal(unknownKey.status, 400);
      assert.equal((await stored()).length, 6);
      assert.ok((await stored()).every((e) => "crashCount" in e.data));
    });

    test("a surgical dry run and the real run agree, the field goes, and both runs are recorded", async () => {
      const body = {
        collection: "uep.diagnostics",
        version: 1,
        field: "crashCount",
        ...window(),
        reason: REASON,
      };
      const dry = await call("/v1/purges/surgical", { body: { ...body, dryRun: true } });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.region, "global");
      assert.equal(dry.body.result.dryRun, true);
      assert.equal(dry.body.plan.total, 6);
      assert.equal(dry.body.result.removed, 6);
      assert.ok(
        (await stored()).every((e) => "crashCount" in e.data),
        "a dry run removes nothing",
      );

      const real = await call("/v1/purges/surgical", { body });
      assert.equal(real.status, 200, JSON.stringify(real.body));
      assert.equal(real.body.result.dryRun, false);
      assert.equal(real.body.result.removed, dry.body.result.removed);
      assert.equal(real.body.result.sha256, dry.body.result.sha256);
      const after = await stored();
      assert.equal(after.length, 6);
      assert.ok(after.every((e) => !("crashCount" in e.data) && e.data.batteryHealthPercent === 97));

      const runs = await call("/v1/purges?limit=5");
      assert.equal(runs.status, 200);
      const [latest, previous] = runs.body.runs;
      assert.ok(latest && previous);
      assert.deepEqual(
        [latest.id, latest.kind, latest.dryRun, latest.reason, latest.removed],
        [real.body.result.runId, "surgical", false, REASON, 6],
      );
      assert.equal(latest.scope?.field, "crashCount");
      assert.notEqual(latest.finishedAt, null);
      assert.deepEqual([previous.id, previous.dryRun], [dry.body.result.runId, true]);
    });

    test("a retention purge on demand removes only what is due (nothing yet) and is recorded", async () => {
      const answer = await call("/v1/purges/retention", { body: { dryRun: false } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.result.kind, "retention");
      assert.equal(answer.body.result.removed, 0);
      assert.equal((await stored()).length, 6);
      const runs = await call("/v1/purges?limit=1");
      assert.equal(runs.body.runs[0]?.id, answer.body.result.runId);
      assert.equal((await call("/v1/purges?limit=501")).body.error?.code, "request.invalid");
    });
  });
}
