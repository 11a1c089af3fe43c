/**
 * The collector through the real HTTP stack, on PGlite and on PostgreSQL:
 * region pinning, refusal of undeclared data, idempotent activation, and every
 * error code a collector answers.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, isSdkError, PhoneHomeClient } from "@phonehome/sdk";
import { activationPayload, buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { collectorLedger, startTestSystem, type TestSystem } from "../helpers/system.ts";

function client(device: DeviceIdentity): PhoneHomeClient {
  return new PhoneHomeClient({
    identity: device,
    queueDir: mkdtempSync(join(tmpdir(), "phonehome-queue-")),
    retry: { baseMs: 5, maxMs: 20, maxAttempts: 2 },
  });
}

for (const backend of BACKENDS) {
  describe(`collector on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let no: DeviceIdentity[];
    let cn: DeviceIdentity[];
    let wrong: DeviceIdentity;
    const url = (region: string) => {
      const r = t.system.regions.find((x) => x.id === region);
      if (!r) throw new Error(region);
      return r.url;
    };
    const ledger = (region: string) => collectorLedger(t, region);
    const refusals = async (region: string, reason: string) =>
      (await ledger(region)).filter((r) => r.outcome === "refused" && r.reason === reason);
    const storedKeys = async () => {
      const all = await t.activationsByRegion();
      return new Map([...all].map(([region, rows]) => [region, new Set(rows.map((r) => r.deviceKey))]));
    };

    before(async () => {
      t = await startTestSystem(backend);
      const devices = await t.provision([
        { market: "NO" },
        { market: "NO" },
        { market: "FI" },
        { market: "NO" },
        { market: "CN" },
        { market: "CN" },
        // The incident: sold in Norway, provisioned with the China region's descriptor.
        { market: "NO", home: "cn" },
      ]);
      no = devices.slice(0, 4);
      cn = devices.slice(4, 6);
      wrong = devices[6] as DeviceIdentity;
    });
    after(async () => {
      await t?.close();
    });

    test("a device sold in NO activates in global and one sold in CN in cn, each stored only there", async () => {
      const [n, c] = [no[0] as DeviceIdentity, cn[0] as DeviceIdentity];
      const a = await client(n).activate();
      const b = await client(c).activate();
      assert.equal((a as { activation: { region: string } }).activation.region, "global");
      assert.equal((b as { activation: { storedIn: string } }).activation.storedIn, "CN");
      const stored = await storedKeys();
      assert.ok(stored.get("global")?.has(n.keyId));
      assert.ok(!stored.get("cn")?.has(n.keyId));
      assert.ok(stored.get("cn")?.has(c.keyId));
      assert.ok(!stored.get("global")?.has(c.keyId));
    });

    test("stored activations hold only declared fields, with the serial pseudonymised", async () => {
      const n = no[0] as DeviceIdentity;
      const row = (await t.activationsByRegion()).get("global")?.find((r) => r.deviceKey === n.keyId);
      assert.ok(row);
      const declared = t.system.dictionary.get("activation", 1)?.fields.map((f) => f.name) ?? [];
      for (const key of Object.keys(row.data)) assert.ok(declared.includes(key), `${key} is declared`);
      assert.notEqual(row.data.serial, n.serial);
      assert.match(String(row.data.serial), /^ps_/);
      assert.equal(row.data.market, "NO");
      assert.match(
        String(row.data.activatedAt),
        /T00:00:00(\.000)?Z$/,
        "activation time coarsened to the day",
      );
    });

    test("the SDK of a device provisioned with another region's descriptor refuses to send (the incident)", async () => {
      const before = await ledger("cn");
      await assert.rejects(client(wrong).activate(), (e) => isSdkError(e, "sdk.market_region_mismatch"));
      const stored = await storedKeys();
      assert.ok(!stored.get("cn")?.has(wrong.keyId) && !stored.get("global")?.has(wrong.keyId));
      assert.deepEqual(await ledger("cn"), before, "no request reached the cn collector");
    });

    test("a hand-built request to the wrong collector is refused, stores nothing, and is counted with batch and build", async () => {
      const legacy = await buildEnvelope(wrong); // sealed to cn, as the wrong client would
      const answer = await post(`${url("cn")}/v1/activations`, legacy);
      assert.equal(answer.status, 403);
      assert.equal(answer.body.error?.code, "region.misrouted");
      // A NO device that seals to its real home but posts to cn is refused the same way.
      const n = no[1] as DeviceIdentity;
      const sent = await post(`${url("cn")}/v1/activations`, await buildEnvelope(n));
      assert.equal(sent.body.error?.code, "region.misrouted");

      const stored = await storedKeys();
      for (const keys of stored.values()) {
        assert.ok(!keys.has(wrong.keyId) && !keys.has(n.keyId));
      }
      const rows = await refusals("cn", "region.misrouted");
      const counted = rows.reduce((sum, r) => sum + r.count, 0);
      assert.equal(counted, 2);
      assert.ok(
        rows.every(
          (r) => r.market === "NO" && /^B[0-9A-Z]{6}NO$/.test(r.batch) && r.build === "00WW_3_39B_SP03",
        ),
      );
      const alerts = (await (
        await fetch(`${url("cn")}/v1/alerts/misrouting`, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        })
      ).json()) as {
        alerts: { batch: string; build: string; expectedRegion: string; count: number }[];
      };
      assert.equal(alerts.alerts.length >= 1, true);
      assert.ok(alerts.alerts.every((a) => a.expectedRegion === "global" && a.batch.endsWith("NO")));
      const metrics = await (
        await fetch(`${url("cn")}/metrics`, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        })
      ).text();
      assert.match(metrics, /phonehome_misrouting_total\{[^}]*batch="B[0-9A-Z]{6}NO"[^}]*\} 2/);
    });

    test("a field the approved collection does not declare is refused and nothing is stored", async () => {
      const n = no[2] as DeviceIdentity;
      for (const extra of [{ imsi: "242011234567890" }, { iccid: "8947080012345678901" }, { cellId: 1234 }]) {
        const answer = await post(
          `${url("global")}/v1/activations`,
          await buildEnvelope(n, { payload: { ...activationPayload(n), ...extra } }),
        );
        assert.equal(answer.status, 400);
        assert.equal(answer.body.error?.code, "payload.undeclared_field");
        assert.equal(answer.body.error?.path, `/payload/${Object.keys(extra)[0]}`);
      }
      assert.ok(!(await storedKeys()).get("global")?.has(n.keyId));
      const counted = (await refusals("global", "payload.undeclared_field")).reduce((s, r) => s + r.count, 0);
      assert.equal(counted, 3);
    });

    test("the same activation sent five times concurrently, and again later, is stored once", async () => {
      const n = no[3] as DeviceIdentity;
      const envelope = await buildEnvelope(n);
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => post(`${url("global")}/v1/activations`, envelope)),
      );
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 201]);
      const again = [
        await post(`${url("global")}/v1/activations`, envelope),
        await post(`${url("global")}/v1/activations`, await buildEnvelope(n)), // a new event id, same device
      ];
      const views = [...answers, ...again].map((a) => a.body.activation as Record<string, unknown>);
      for (const v of views) {
        assert.equal(v.activatedAt, views[0]?.activatedAt);
        assert.equal(v.warrantyUntil, views[0]?.warrantyUntil);
        assert.equal(v.eventId, envelope.eventId);
      }
      assert.ok(again.every((a) => a.status === 200 && a.body.replayed === true));
      const rows =
        (await t.activationsByRegion()).get("global")?.filter((r) => r.deviceKey === n.keyId) ?? [];
      assert.equal(rows.length, 1);
      const first = new Date(String(views[0]?.activatedAt));
      const until = new Date(String(views[0]?.warrantyUntil));
      assert.equal(until.getUTCFullYear() - first.getUTCFullYear(), 2, "24-month warranty");
    });

    describe("every error code of the collector", () => {
      const activations = () => `${url("global")}/v1/activations`;
      const expectError = async (
        answer: Awaited<ReturnType<typeof post>>,
        status: number,
        code: string,
        path?: string,
      ) => {
        assert.equal(answer.body.error?.code, code, JSON.stringify(answer.body));
        assert.equal(answer.status, status);
        assert.equal(typeof answer.body.error?.message, "string");
        if (path !== undefined) assert.equal(answer.body.error?.path, path);
      };
      let device: DeviceIdentity;
      before(async () => {
        [device] = (await t.provision([{ market: "FI" }])) as [DeviceIdentity];
      });

      test("request.malformed, request.too_large, request.unsupported_media_type, route.not_found", async () => {
        await expectError(await post(activations(), "{not json"), 400, "request.malformed");
        await expectError(
          await post(activations(), JSON.stringify({ pad: "x".repeat(70_000) })),
          413,
          "request.too_large",
        );
        await expectError(
          await post(activations(), "hello", { "content-type": "text/plain" }),
          415,
          "request.unsupported_media_type",
        );
        await expectError(await post(`${url("global")}/v1/nothing`, {}), 404, "route.not_found");
        const bad = await fetch(`${url("global")}/v1/ledger?limit=abc`, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        });
        assert.equal(bad.status, 400);
        assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "request.invalid");
      });

      test("envelope.invalid names the field", async () => {
        const good = await buildEnvelope(device);
        const { sig: _sig, ...unsigned } = good;
        await expectError(await post(activations(), unsigned), 400, "envelope.invalid", "/sig");
        await expectError(
          await post(activations(), { ...good, imei: "x" }),
          400,
          "envelope.invalid",
          "/imei",
        );
        await expectError(
          await post(activations(), { ...good, device: "nope" }),
          400,
          "envelope.invalid",
          "/device",
        );
        for (const ct of ["A".repeat(21), `${"A".repeat(40)}=`, `${"A".repeat(40)}é`]) {
          await expectError(await post(activations(), { ...good, ct }), 400, "envelope.invalid", "/ct");
        }
      });

      test("envelope.collection_mismatch and envelope.stale", async () => {
        const other = await buildEnvelope(device, { header: { collection: "uep.diagnostics" } });
        await expectError(
          await post(activations(), other),
          400,
          "envelope.collection_mismatch",
          "/collection",
        );
        const future = new Date(Date.now() + 3_600_000).toISOString();
        const stale = await buildEnvelope(device, { header: { sentAt: future } });
        await expectError(await post(activations(), stale), 400, "envelope.stale", "/sentAt");
      });

      test("device.unknown and signature.invalid", async () => {
        const good = await buildEnvelope(device);
        const stranger = { ...good, device: `dk_${"A".repeat(27)}` };
        await expectError(await post(activations(), stranger), 403, "device.unknown", "/device");
        const flipped = good.sig.startsWith("A") ? `B${good.sig.slice(1)}` : `A${good.sig.slice(1)}`;
        await expectError(
          await post(activations(), { ...good, sig: flipped }),
          403,
          "signature.invalid",
          "/sig",
        );
        // Changing the header after signing breaks the signature too.
        await expectError(
          await post(activations(), { ...good, build: "00WW_3_22C_SP05" }),
          403,
          "signature.invalid",
        );
      });

      test("collection.version_unknown for a version the dictionary does not have", async () => {
        const v2 = await buildEnvelope(device, { header: { schemaVersion: 2 } });
        await expectError(await post(activations(), v2), 400, "collection.version_unknown", "/schemaVersion");
      });

      test("seal.invalid for another key id and for a seal that does not open", async () => {
        const wrongKid = await buildEnvelope(device, { header: { kid: t.descriptor("cn").kid } });
        await expectError(await post(activations(), wrongKid), 400, "seal.invalid", "/kid");
        // Sealed to cn's key but labelled with global's kid: signed correctly, cannot be opened here.
        const cnKey = { ...t.descriptor("cn"), region: "global", kid: t.descriptor("global").kid };
        const foreign = await buildEnvelope(device, { to: cnKey });
        await expectError(await post(activations(), foreign), 400, "seal.invalid", "/ct");
      });

      test("payload.malformed, payload.invalid and payload.device_mismatch", async () => {
        await expectError(
          await post(activations(), await buildEnvelope(device, { payload: ["not", "an", "object"] })),
          400,
          "payload.malformed",
        );
        const lower = { ...activationPayload(device), serial: "lowercase!" };
        await expectError(
          await post(activations(), await buildEnvelope(device, { payload: lower })),
          400,
          "payload.invalid",
          "/payload/serial",
        );
        const { market: _m, ...missing } = activationPayload(device);
        await expectError(
          await post(activations(), await buildEnvelope(device, { payload: missing })),
          400,
          "payload.invalid",
        );
        const someoneElse = { ...activationPayload(device), serial: (no[0] as DeviceIdentity).serial };
        await expectError(
          await post(activations(), await buildEnvelope(device, { payload: someoneElse })),
          400,
          "payload.device_mismatch",
          "/payload/serial",
        );
      });

      test("after every refusal above, the device has no activation, and each refusal is in the ledger", async () => {
        assert.ok(!(await storedKeys()).get("global")?.has(device.keyId));
        const reasons = new Set(
          (await ledger("global")).filter((r) => r.outcome === "refused").map((r) => r.reason),
        );
        for (const code of [
          "envelope.invalid",
          "envelope.collection_mismatch",
          "envelope.stale",
          "device.unknown",
          "signature.invalid",
          "collection.version_unknown",
          "seal.invalid",
          "payload.malformed",
          "payload.invalid",
          "payload.device_mismatch",
        ]) {
          assert.ok(reasons.has(code), `ledger counts ${code}`);
        }
        // The device can still activate after all that.
        const answer = await post(activations(), await buildEnvelope(device));
        assert.equal(answer.status, 201);
      });
    });
  });
}
