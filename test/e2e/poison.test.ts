/**
 * Poison requests mixed into real devices' load, on PGlite and PostgreSQL:
 * a request whose own write fails (or whose values no column can hold) is
 * answered alone, and never fails the writes of the real devices whose records
 * share its group commit; a refusal whose accounting fails is still answered
 * with its own error. Under ~20 poison requests a second, no real device's
 * request fails and every acknowledged record is stored once.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, PhoneHomeClient } from "@phonehome/sdk";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { poisons, tampered } from "../helpers/poison.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { collectorLedger, startTestSystem, type TestSystem } from "../helpers/system.ts";

for (const backend of BACKENDS) {
  describe(`poison requests on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let queues: string;
    const global = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const ledger = () => collectorLedger(t, "global");

    before(async () => {
      // Batches wait for company (40 ms), so that poison and real records share transactions.
      t = await startTestSystem(backend, { ingest: { batchDelayMs: 40 } });
      queues = await mkdtemp(join(tmpdir(), "phonehome-poison-"));
    });
    after(async () => {
      await t?.close();
      if (queues) await rm(queues, { recursive: true, force: true });
    });

    test("values no ledger column can hold are refused as envelope.invalid and counted as '' or 0, and fail nobody's activation", async () => {
      const devices = await t.provision(Array.from({ length: 6 }, () => ({ market: "NO" })));
      const [attacker] = devices as [DeviceIdentity];
      const real = devices.slice(1);
      const junk = [
        await tampered(attacker, { schemaVersion: 3_000_000_000, sig: "x" }),
        await tampered(attacker, { build: "00WW\u0000_3_39B" }),
        await tampered(attacker, { collection: "activ\u0000ation" }),
      ];
      const answers = await Promise.all([
        ...junk.map((body) => post(`${global().url}/v1/activations`, body)),
        ...real.map(async (d) => post(`${global().url}/v1/activations`, await buildEnvelope(d))),
      ]);
      assert.deepEqual(
        answers.slice(0, 3).map((a) => [a.status, a.body.error?.code]),
        [
          [400, "envelope.invalid"],
          [400, "envelope.invalid"],
          [400, "envelope.invalid"],
        ],
      );
      assert.deepEqual(
        answers.slice(3).map((a) => a.status),
        real.map(() => 201),
      );
      const stored = new Set((await t.activationsByRegion()).get("global")?.map((a) => a.deviceKey));
      for (const d of real) assert.ok(stored.has(d.keyId));
      const refused = (await ledger()).filter((r) => r.reason === "envelope.invalid");
      // Only what the schema allows is kept: the out-of-range version as 0, the NUL-bearing texts as ''.
      assert.ok(
        refused.some((r) => r.schemaVersion === 0 && r.collection === "activation" && r.build !== ""),
      );
      assert.ok(refused.some((r) => r.build === "" && r.collection === "activation"));
      assert.ok(refused.some((r) => r.collection === "" && r.build !== ""));
    });

    test("a refusal whose ledger count fails is still answered with its own error, and the batch it shared is stored", async () => {
      const devices = await t.provision(Array.from({ length: 5 }, () => ({ market: "SE" })));
      const [attacker] = devices as [DeviceIdentity];
      const real = devices.slice(1);
      // The store refuses this one ledger row (as it would a value it cannot hold).
      await global().db.query(
        "ALTER TABLE ingest_ledger ADD CONSTRAINT poison_row CHECK (build <> 'POISON_BUILD')",
      );
      try {
        const envelopes = await Promise.all(real.map((d) => buildEnvelope(d)));
        const poison = await tampered(attacker, { build: "POISON_BUILD", sig: "x" });
        const reals = envelopes.map((e) => post(`${global().url}/v1/activations`, e));
        // The refusal needs no look-up: sent a moment later, it joins the batch the real ones wait in.
        await new Promise((resolve) => setTimeout(resolve, 10));
        const answers = await Promise.all([post(`${global().url}/v1/activations`, poison), ...reals]);
        assert.deepEqual([answers[0]?.status, answers[0]?.body.error?.code], [400, "envelope.invalid"]);
        assert.deepEqual(
          answers.slice(1).map((a) => a.status),
          real.map(() => 201),
        );
        const stored = new Set((await t.activationsByRegion()).get("global")?.map((a) => a.deviceKey));
        for (const d of real) assert.ok(stored.has(d.keyId));
        assert.ok(!(await ledger()).some((r) => r.build === "POISON_BUILD"));
      } finally {
        await global().db.query("ALTER TABLE ingest_ledger DROP CONSTRAINT poison_row");
      }
    });

    test("under ~20 poison requests a second, no real device's request fails and every acknowledged record is stored once", async () => {
      const DEVICES = 16;
      const EVENTS = 12;
      const identities = await t.provision([
        { market: "FI" },
        ...Array.from({ length: DEVICES }, (_, i) => ({ market: i % 2 === 0 ? "NO" : "DK" })),
      ]);
      const [attacker, ...realIdentities] = identities as [DeviceIdentity, ...DeviceIdentity[]];

      // Real devices, through the SDK; every answer they get is recorded.
      const statuses: { status: number; path: string }[] = [];
      const clients = realIdentities.map(
        (identity) =>
          new PhoneHomeClient({
            identity,
            queueDir: join(queues, identity.keyId),
            retry: { baseMs: 10, maxMs: 50, maxAttempts: 3 },
            diagnostics: { batchSize: 4 },
            fetch: async (url, init) => {
              const response = await fetch(url, init);
              statuses.push({ status: response.status, path: new URL(url).pathname });
              return response;
            },
          }),
      );

      // As if the store refused some refusals' own ledger rows: they must fail nobody else's write.
      await global().db.query(
        "ALTER TABLE ingest_ledger ADD CONSTRAINT poison_load CHECK (build <> 'POISON_BUILD')",
      );

      // Poison at ~20 requests a second until the devices are done, and at least POISON_AT_LEAST of them.
      const POISON_AT_LEAST = 30;
      const kinds = poisons(attacker);
      const poisonAnswers: { kind: number; status: number; code: string | undefined }[] = [];
      const pending: Promise<void>[] = [];
      let done = false;
      const poisoning = (async () => {
        for (let n = 0; !done || n < POISON_AT_LEAST; n++) {
          const kind = n % kinds.length;
          const make = kinds[kind];
          if (!make) continue;
          const { path, body } = await make(n);
          pending.push(
            post(`${global().url}${path}`, body).then((a) => {
              poisonAnswers.push({ kind, status: a.status, code: a.body.error?.code });
            }),
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();

      const recorded = new Map<string, string[]>();
      await Promise.all(
        clients.map(async (client, i) => {
          const identity = realIdentities[i] as DeviceIdentity;
          await client.sendConsent({
            granted: true,
            noticeVersion: 1,
            language: "en",
            method: "device-settings",
          });
          await client.setConsent("granted");
          await client.activate();
          const ids: string[] = [];
          for (let e = 0; e < EVENTS; e++) {
            const at = new Date(Date.now() - (EVENTS - e) * 60_000);
            const r = await client.recordEvent(
              {
                batteryHealthPercent: 90,
                batteryCycles: 10 + e,
                crashCount: e,
                anrCount: 0,
                thermalEvents: 0,
              },
              at,
            );
            if (r.status === "held") ids.push(r.id);
            if (e % 4 === 3) await client.flush();
          }
          await client.flush();
          recorded.set(identity.keyId, ids);
        }),
      );
      done = true;
      await poisoning;
      await Promise.all(pending);
      await global().db.query("ALTER TABLE ingest_ledger DROP CONSTRAINT poison_load");

      const failed = statuses.filter((s) => s.status >= 400);
      assert.deepEqual(failed, [], "a real device's request failed");
      assert.equal(poisonAnswers.length, pending.length, "every poison request was answered");
      assert.ok(pending.length >= POISON_AT_LEAST);
      const badPoison = poisonAnswers.filter((a) => a.status >= 500 || a.status < 400);
      assert.deepEqual(badPoison, [], "a poison request was answered other than 4xx");

      // Every acknowledged record is in the store, once.
      const activated = (await t.activationsByRegion()).get("global") ?? [];
      for (const identity of realIdentities) {
        assert.equal(activated.filter((a) => a.deviceKey === identity.keyId).length, 1);
        const rows = await findDiagnosticsEvents(
          global().db,
          deviceRef(global().intake.pseudonymSecret, identity.keyId),
        );
        assert.deepEqual(
          rows.map((r) => r.eventId).sort(),
          [...(recorded.get(identity.keyId) ?? [])].sort(),
          `diagnostics of ${identity.serial}`,
        );
      }
      for (const client of clients) {
        assert.deepEqual((await client.diagnosticsState()).queued, { batches: 0, events: 0 });
      }
      // Nothing of the attacker was stored.
      assert.ok(!activated.some((a) => a.deviceKey === attacker.keyId));
    });
  });
}
