/**
 * Access requests across regions through the real HTTP stack, on PGlite and
 * PostgreSQL: the control plane asks every region for a signed access receipt
 * (one per region, 0 found where the device's data should never be), stores
 * only the receipts, and names where the owner fetches each export; the export
 * fetched from the region with the same request id carries a receipt whose
 * counts and digests are the control plane's. Another device's token cannot
 * read the request.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { RunningRegion } from "../../src/collector/region.ts";
import {
  ACCESS_RECEIPT_JWS_TYPE,
  type AccessReceipt,
  heldInExport,
  keysDigest,
} from "../../src/collector/subject-requests/index.ts";
import type { AccessExport as AccessExportShape } from "../../src/collector/subject-requests/access.presenter.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

interface ErrorBody {
  error?: { code: string; message: string; problems?: { path: string; message: string }[] };
}
type AccessExport = AccessExportShape & ErrorBody;
interface RequestView extends ErrorBody {
  requestId: string;
  kind: string;
  status: "complete" | "incomplete";
  receipts: { region: string; receipt: AccessReceipt; jws: string }[];
  missing: { region: string; reason: string }[];
  exports?: { region: string; url: string }[];
}

for (const backend of BACKENDS) {
  describe(`access requests across regions on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let answer: RequestView;
    const requestId = randomUUID();

    const region = (id: string): RunningRegion => {
      const r = t.system.regions.find((x) => x.id === id);
      if (!r) throw new Error(`no region ${id}`);
      return r;
    };
    const bearer = async (device: DeviceIdentity) => ({
      authorization: `Bearer ${await mintOwnerToken(device)}`,
    });
    const ask = async (device: DeviceIdentity, id?: string) => {
      const response = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/access`, {
        method: "POST",
        headers: { ...(await bearer(device)), "content-type": "application/json" },
        body: JSON.stringify(id === undefined ? {} : { requestId: id }),
      });
      return { status: response.status, body: (await response.json()) as RequestView };
    };
    const show = async (device: DeviceIdentity, id: string) => {
      const response = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/${id}`, {
        headers: await bearer(device),
      });
      return { status: response.status, body: (await response.json()) as RequestView };
    };
    const receiptOf = (view: RequestView, id: string) => {
      const found = view.receipts.find((r) => r.region === id);
      assert.ok(found, `a receipt from ${id}`);
      return found;
    };

    before(async () => {
      t = await startTestSystem(backend);
      [a, b] = (await t.provision([{ market: "NO" }, { market: "NO" }])) as [DeviceIdentity, DeviceIdentity];
      for (const [device, n] of [
        [a, 3],
        [b, 2],
      ] as const) {
        assert.equal(
          (await post(`${device.home.url}/v1/activations`, await buildEnvelope(device))).status,
          201,
        );
        const consent = await fetch(`${device.home.url}/v1/owner/consents/uep.diagnostics`, {
          method: "PUT",
          headers: { ...(await bearer(device)), "content-type": "application/json" },
          body: JSON.stringify({
            granted: true,
            noticeVersion: 1,
            language: "en",
            method: "device-settings",
          }),
        });
        assert.equal(consent.status, 200);
        const events = Array.from({ length: n }, (_, i) => ({
          id: randomUUID(),
          at: new Date(Date.now() - (n - i) * 60_000).toISOString(),
          data: {
            build: device.build,
            batteryHealthPercent: 91,
            batteryCycles: 345,
            crashCount: i,
            anrCount: 2,
            thermalEvents: 1,
          },
        }));
        const sent = await post(
          `${device.home.url}/v1/diagnostics`,
          await buildEnvelope(device, {
            payload: { events },
            header: { collection: "uep.diagnostics", schemaVersion: 1 },
          }),
        );
        assert.equal(sent.status, 200, JSON.stringify(sent.body));
      }
    });
    after(async () => {
      await t?.close();
    });

    test("the control plane answers one verified receipt per region; the cn region found nothing", async () => {
      const asked = await ask(a, requestId);
      assert.equal(asked.status, 200, JSON.stringify(asked.body));
      answer = asked.body;
      assert.equal(answer.requestId, requestId);
      assert.equal(answer.kind, "access");
      assert.equal(answer.status, "complete");
      assert.deepEqual(answer.missing, []);
      assert.deepEqual(answer.receipts.map((r) => r.region).sort(), ["cn", "global"]);

      const home = receiptOf(answer, "global").receipt;
      assert.equal(home.requestId, requestId);
      assert.equal(home.deviceKeyId, a.keyId);
      const held = Object.fromEntries(home.held.map((h) => [h.collection, h.count]));
      assert.deepEqual(held, {
        diagnostics_events: 3,
        activations: 1,
        device_builds: 0,
        consents: 1,
        consent_history: 1,
        notice_deliveries: 0,
      });
      assert.equal(home.found, 6);

      const elsewhere = receiptOf(answer, "cn").receipt;
      assert.equal(elsewhere.found, 0);
      for (const h of elsewhere.held) {
        assert.equal(h.count, 0);
        assert.equal(h.sha256, keysDigest(h.collection, []), "the digest of nothing");
      }

      for (const { region: id, receipt, jws } of answer.receipts) {
        const keySet = (await (await fetch(`${region(id).url}/v1/receipt-key`)).json()) as JSONWebKeySet;
        const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(keySet));
        assert.equal(protectedHeader.typ, ACCESS_RECEIPT_JWS_TYPE);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), receipt);
      }

      assert.deepEqual(answer.exports?.map((e) => e.region).sort(), ["cn", "global"]);
      for (const e of answer.exports ?? []) {
        assert.equal(e.url, `${region(e.region).url}/v1/owner/data?requestId=${requestId}`);
      }
    });

    test("the export fetched from each region with the request id carries the control plane's counts and digests", async () => {
      for (const e of answer.exports ?? []) {
        const response = await fetch(e.url, { headers: await bearer(a) });
        assert.equal(response.status, 200);
        const data = (await response.json()) as AccessExport;
        assert.ok(data.receipt && data.jws, "the export carries its receipt");
        const fromControlPlane = receiptOf(answer, e.region).receipt;
        assert.equal(data.receipt.requestId, requestId);
        assert.equal(data.receipt.found, fromControlPlane.found);
        assert.deepEqual(data.receipt.held, fromControlPlane.held);
        // The digests are over what the export shows: the owner can recompute them.
        assert.deepEqual(heldInExport(data), data.receipt.held);
        const keySet = (await (
          await fetch(`${region(e.region).url}/v1/receipt-key`)
        ).json()) as JSONWebKeySet;
        const { payload } = await compactVerify(data.jws, createLocalJWKSet(keySet));
        assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), data.receipt);
      }
      const plain = (await (
        await fetch(`${region("global").url}/v1/owner/data`, { headers: await bearer(a) })
      ).json()) as AccessExport;
      assert.equal(plain.receipt, undefined, "no request id, no receipt");
      assert.equal(plain.records.length, 4);
    });

    test("the control plane holds receipts only: no field value, no event id", async () => {
      const { rows } = await t.system.controlPlane.db.query<{ doc: unknown }>(
        `SELECT json_build_object(
           'requests', (SELECT json_agg(r) FROM subject_requests r),
           'receipts', (SELECT json_agg(x) FROM subject_request_receipts x)) AS doc`,
      );
      const json = JSON.stringify(rows[0]?.doc);
      assert.ok(json.includes(requestId), "the request is there");
      const data = (await (
        await fetch(`${region("global").url}/v1/owner/data`, { headers: await bearer(a) })
      ).json()) as AccessExport;
      for (const record of data.records) {
        for (const field of record.fields) {
          if (typeof field.value === "string") {
            assert.ok(!json.includes(JSON.stringify(field.value)), `${record.collection}.${field.name}`);
          }
        }
        if (record.facts.eventId) assert.ok(!json.includes(record.facts.eventId), "an event id");
      }
      assert.ok(!json.includes(a.serial), "the serial");
      assert.ok(!json.includes("batteryHealthPercent"), "a field name");
    });

    test("the request is shown to its device only; its id cannot be reused by another device", async () => {
      const mine = await show(a, requestId);
      assert.equal(mine.status, 200);
      assert.equal(mine.body.kind, "access");
      assert.equal(mine.body.receipts.length, 2);
      assert.equal(mine.body.exports?.length, 2);
      const byB = await show(b, requestId);
      assert.equal(byB.status, 404);
      assert.equal(byB.body.error?.code, "subject_request.not_found");
      assert.ok(!JSON.stringify(byB.body).includes(a.keyId));
      const reuse = await ask(b, requestId);
      assert.equal(reuse.status, 409);
      assert.equal(reuse.body.error?.code, "subject_request.conflict");
      const direct = await fetch(`${region("global").url}/v1/owner/data?requestId=${requestId}`, {
        headers: await bearer(b),
      });
      assert.equal(direct.status, 409, "the region binds the request id to the device too");
      const erasure = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/erasure`, {
        method: "POST",
        headers: { ...(await bearer(a)), "content-type": "application/json" },
        body: JSON.stringify({ requestId }),
      });
      assert.equal(erasure.status, 409, "an access request id is not an erasure's");
    });

    test("with a region down the access request is incomplete, naming it", async () => {
      const cn = region("cn");
      const saved = t.system.controlPlane.regionUrls.get("cn");
      t.system.controlPlane.regionUrls.set("cn", "http://127.0.0.1:9");
      try {
        const id = randomUUID();
        const down = await ask(b, id);
        assert.equal(down.status, 502);
        assert.equal(down.body.error?.code, "subject_request.incomplete");
        assert.match(down.body.error?.message ?? "", new RegExp(`access request ${id}`));
        assert.deepEqual(
          down.body.error?.problems?.map((p) => p.path),
          ["/regions/cn"],
        );
        const pending = await show(b, id);
        assert.equal(pending.body.status, "incomplete");
        assert.deepEqual(
          pending.body.receipts.map((r) => r.region),
          ["global"],
        );
      } finally {
        t.system.controlPlane.regionUrls.set("cn", saved ?? cn.url);
      }
    });
  });
}
