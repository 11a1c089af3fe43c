/**
 * Access and erasure across regions through the real HTTP stack, on PGlite
 * and PostgreSQL: an owner's export holds every row about the device and
 * nothing about another; erasure through the control plane deletes the
 * diagnostics, keeps the warranty record and the proof of consent with their
 * reasons, finds nothing where nothing should be, answers receipts that verify
 * with each region's key, leaves other devices alone, and stores only
 * receipts on the control plane. A region that is down makes the request
 * incomplete, naming it; a retry completes it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from "jose";
import { findActivations } from "../../src/collector/activation/activation.repository.ts";
import { findConsentHistory } from "../../src/collector/consent/index.ts";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { cachedDirectory } from "../../src/core/directory/index.ts";
import { findDevicesByKeyIds } from "../../src/control-plane/fleet/index.ts";
import { createLogger } from "../../src/core/log/index.ts";
import { type RunningRegion, startRegion } from "../../src/collector/region.ts";
import {
  ERASURE_RECEIPT_JWS_TYPE,
  type ErasureReceipt,
  keysDigest,
} from "../../src/collector/subject-requests/index.ts";
import { buildEnvelope, diagnosticsBatch, post } from "../helpers/envelopes.ts";
import { inProcessUpdates } from "../../src/compose/system/in-process-updates.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

interface ErrorBody {
  error?: { code: string; message: string; path?: string; problems?: { path: string; message: string }[] };
}
interface ExportRecord {
  collection: string;
  legalBasis: string;
  storedAt: string;
  expiresAt: string;
  facts: Record<string, string>;
  fields: { name: string; value: unknown }[];
}
interface AccessExport extends ErrorBody {
  region: string;
  device: string;
  records: ExportRecord[];
  consents: {
    consents: { purpose: string; granted: boolean }[];
    history: { receipt: { receiptId: string } }[];
  };
}
interface RequestView extends ErrorBody {
  requestId: string;
  kind: string;
  status: "complete" | "incomplete";
  completedAt: string | null;
  receipts: { region: string; receipt: ErasureReceipt; jws: string }[];
  missing: { region: string; reason: string }[];
}

for (const backend of BACKENDS) {
  describe(`erasure across regions on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let c: DeviceIdentity;
    let firstExport: AccessExport;
    let erasure: RequestView;
    const requestOfA = randomUUID();

    const region = (id: string): RunningRegion => {
      const r = t.system.regions.find((x) => x.id === id);
      if (!r) throw new Error(`no region ${id}`);
      return r;
    };
    const bearer = async (device: DeviceIdentity) => ({
      authorization: `Bearer ${await mintOwnerToken(device)}`,
    });
    const access = async (id: string, device: DeviceIdentity): Promise<AccessExport> => {
      const response = await fetch(`${region(id).url}/v1/owner/data`, { headers: await bearer(device) });
      assert.equal(response.status, 200);
      return (await response.json()) as AccessExport;
    };
    const erase = async (device: DeviceIdentity, requestId?: string) => {
      const response = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/erasure`, {
        method: "POST",
        headers: { ...(await bearer(device)), "content-type": "application/json" },
        body: JSON.stringify(requestId === undefined ? {} : { requestId }),
      });
      return { status: response.status, body: (await response.json()) as RequestView };
    };
    const show = async (device: DeviceIdentity, requestId: string) => {
      const response = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/${requestId}`, {
        headers: await bearer(device),
      });
      return { status: response.status, body: (await response.json()) as RequestView };
    };
    const held = async (device: DeviceIdentity) => {
      const r = region(device.home.region);
      return {
        activations: await findActivations(r.db, [device.keyId]),
        events: await findDiagnosticsEvents(r.db, deviceRef(r.intake.pseudonymSecret, device.keyId)),
        history: await findConsentHistory(r.db, device.keyId),
      };
    };
    const receiptOf = (view: RequestView, id: string) => {
      const found = view.receipts.find((r) => r.region === id);
      assert.ok(found, `a receipt from ${id}`);
      return found;
    };

    /** Activates a device, says yes to diagnostics and sends `n` events to its home region. */
    const onboard = async (device: DeviceIdentity, n: number) => {
      assert.equal(
        (await post(`${device.home.url}/v1/activations`, await buildEnvelope(device))).status,
        201,
      );
      const consent = await fetch(`${device.home.url}/v1/owner/consents/uep.diagnostics`, {
        method: "PUT",
        headers: { ...(await bearer(device)), "content-type": "application/json" },
        body: JSON.stringify({ granted: true, noticeVersion: 1, language: "en", method: "device-settings" }),
      });
      assert.equal(consent.status, 200);
      const sent = await post(
        `${device.home.url}/v1/diagnostics`,
        await buildEnvelope(device, {
          payload: diagnosticsBatch(device, n),
          header: { collection: "uep.diagnostics", schemaVersion: 1 },
        }),
      );
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.equal(sent.body.stored, n);
    };

    before(async () => {
      t = await startTestSystem(backend);
      [a, b, c] = (await t.provision([{ market: "NO" }, { market: "NO" }, { market: "CN" }])) as [
        DeviceIdentity,
        DeviceIdentity,
        DeviceIdentity,
      ];
      await onboard(a, 3);
      await onboard(b, 2);
      await onboard(c, 1);
    });
    after(async () => {
      await t?.close();
    });

    test("A's access export holds every row held about A, and nothing about B", async () => {
      firstExport = await access("global", a);
      const rows = await held(a);
      assert.equal(firstExport.device, a.keyId);
      assert.deepEqual(firstExport.records.map((r) => r.collection).sort(), [
        "activation",
        "uep.diagnostics",
        "uep.diagnostics",
        "uep.diagnostics",
      ]);
      assert.deepEqual(
        firstExport.records
          .filter((r) => r.collection === "uep.diagnostics")
          .map((r) => r.facts.eventId)
          .sort(),
        rows.events.map((e) => e.eventId).sort(),
        "every stored event, by its id",
      );
      assert.equal(firstExport.consents.history.length, rows.history.length);
      const json = JSON.stringify(firstExport);
      const ofB = await held(b);
      assert.ok(!json.includes(b.keyId), "B's key id");
      for (const e of ofB.events) assert.ok(!json.includes(e.eventId), "B's events");
      for (const h of ofB.history) assert.ok(!json.includes(h.receiptId), "B's consent receipts");
      const pseudonymOfB = ofB.activations[0]?.data.serial;
      assert.equal(typeof pseudonymOfB, "string");
      assert.ok(!json.includes(String(pseudonymOfB)), "B's pseudonymised serial");
      assert.deepEqual((await access("cn", a)).records, [], "the cn region holds nothing about A");
    });

    test("erasure through the control plane deletes A's diagnostics, keeps the warranty record and the proof of consent", async () => {
      const answer = await erase(a, requestOfA);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      erasure = answer.body;
      assert.equal(erasure.requestId, requestOfA);
      assert.equal(erasure.status, "complete");
      assert.deepEqual(erasure.receipts.map((r) => r.region).sort(), ["cn", "global"]);
      assert.deepEqual(erasure.missing, []);

      const home = receiptOf(erasure, "global").receipt;
      assert.equal(home.requestId, requestOfA);
      assert.equal(home.deviceKeyId, a.keyId);
      assert.equal(home.storedIn, "SG");
      const deleted = Object.fromEntries(home.deleted.map((d) => [d.collection, d]));
      assert.equal(deleted.diagnostics_events?.count, 3);
      // The digest is over the keys the access export showed: the owner can recompute it from the export.
      const shown = firstExport.records
        .filter((r) => r.collection === "uep.diagnostics")
        .map((r) => [String(r.facts.eventId), r.expiresAt]);
      assert.equal(deleted.diagnostics_events?.sha256, keysDigest("diagnostics_events", shown));
      assert.equal(deleted.activations?.count, 0, "the warranty is running: its record is not deleted");

      const kept = Object.fromEntries(home.kept.map((k) => [k.collection, k]));
      const activation = firstExport.records.find((r) => r.collection === "activation");
      assert.equal(kept.activations?.count, 1);
      assert.match(kept.activations?.reason ?? "", /warranty/);
      assert.equal(kept.activations?.legalBasis, "contract");
      assert.equal(kept.activations?.until, activation?.expiresAt);
      assert.equal(kept.consents?.count, 1);
      assert.equal(kept.consent_history?.count, 1);
      assert.match(kept.consent_history?.reason ?? "", /proof of consent.*Art\. 7\(1\)/);
      assert.equal(kept.consent_history?.legalBasis, "legal_obligation");
      assert.equal(home.found, 3 + 1 + 1 + 1);

      const rows = await held(a);
      assert.deepEqual(rows.events, [], "A's diagnostics are gone from global");
      assert.equal(rows.activations.length, 1);
      assert.equal(rows.history.length, 1);
    });

    test("the cn region's receipt shows that it found nothing about A", () => {
      const elsewhere = receiptOf(erasure, "cn").receipt;
      assert.equal(elsewhere.region, "cn");
      assert.equal(elsewhere.storedIn, "CN");
      assert.equal(elsewhere.found, 0);
      assert.ok(elsewhere.deleted.every((d) => d.count === 0));
      assert.ok(elsewhere.kept.every((k) => k.count === 0 && k.until === null));
      const empty = keysDigest("diagnostics_events", []);
      assert.ok(
        elsewhere.deleted.every((d) => d.sha256 === empty),
        "the digest of nothing",
      );
    });

    test("every receipt verifies with its region's published key, and not with another region's", async () => {
      for (const { region: id, receipt, jws } of erasure.receipts) {
        const keySet = (await (await fetch(`${region(id).url}/v1/receipt-key`)).json()) as JSONWebKeySet;
        const consentKeys = await (await fetch(`${region(id).url}/v1/consent/receipt-key`)).json();
        assert.deepEqual(keySet, consentKeys, "one key signs consent and erasure receipts");
        const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(keySet));
        assert.equal(protectedHeader.typ, ERASURE_RECEIPT_JWS_TYPE);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), receipt);
        const other = id === "cn" ? "global" : "cn";
        const otherKeys = (await (
          await fetch(`${region(other).url}/v1/receipt-key`)
        ).json()) as JSONWebKeySet;
        await assert.rejects(compactVerify(jws, createLocalJWKSet(otherKeys)));
      }
    });

    test("B's data is untouched", async () => {
      const rows = await held(b);
      assert.equal(rows.events.length, 2);
      assert.equal(rows.activations.length, 1);
      assert.equal(rows.history.length, 1);
      assert.equal((await access("global", b)).records.length, 3);
    });

    test("a second access export of A shows exactly the kept records", async () => {
      const second = await access("global", a);
      assert.deepEqual(
        second.records,
        firstExport.records.filter((r) => r.collection === "activation"),
      );
      assert.deepEqual(second.consents, firstExport.consents, "the consent decision and its receipt");
    });

    test("the control plane stores receipts only: no field value of A's records", async () => {
      const { rows } = await t.system.controlPlane.db.query<{ doc: unknown }>(
        `SELECT json_build_object(
           'requests', (SELECT json_agg(r) FROM subject_requests r),
           'receipts', (SELECT json_agg(x) FROM subject_request_receipts x)) AS doc`,
      );
      const json = JSON.stringify(rows[0]?.doc);
      assert.ok(json.includes(requestOfA), "the request is there");
      for (const record of firstExport.records) {
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

    test("a repeated request answers the same receipts and erases nothing more", async () => {
      const again = await erase(a, requestOfA);
      assert.equal(again.status, 200);
      assert.deepEqual(
        again.body.receipts.map((r) => r.jws).sort(),
        erasure.receipts.map((r) => r.jws).sort(),
      );
      const shown = await show(a, requestOfA);
      assert.equal(shown.status, 200);
      assert.equal(shown.body.status, "complete");
      assert.equal(shown.body.receipts.length, 2);
    });

    test("A's token cannot read or reuse another device's subject request", async () => {
      const ofC = await erase(c);
      assert.equal(ofC.status, 200, JSON.stringify(ofC.body));
      assert.equal(receiptOf(ofC.body, "cn").receipt.found, 1 + 1 + 1 + 1, "C lives in cn");
      assert.equal(receiptOf(ofC.body, "global").receipt.found, 0);
      const byA = await show(a, ofC.body.requestId);
      assert.equal(byA.status, 404);
      assert.equal(byA.body.error?.code, "subject_request.not_found");
      assert.ok(!JSON.stringify(byA.body).includes(c.keyId));
      assert.equal((await show(c, ofC.body.requestId)).status, 200);
      const reuse = await erase(a, ofC.body.requestId);
      assert.equal(reuse.status, 409);
      assert.equal(reuse.body.error?.code, "subject_request.conflict");
      // Straight at a region, too: the request id is bound to the device that first used it.
      const direct = await fetch(`${region("cn").url}/v1/owner/data?requestId=${ofC.body.requestId}`, {
        method: "DELETE",
        headers: await bearer(a),
      });
      assert.equal(direct.status, 409);
      assert.equal(((await direct.json()) as ErrorBody).error?.code, "subject_request.conflict");
      assert.equal((await show(a, randomUUID())).body.error?.code, "subject_request.not_found");
    });

    test("with a region down the request is incomplete, naming it; a retry completes it", async () => {
      const cn = region("cn");
      await cn.close();
      const requestId = randomUUID();
      const down = await erase(b, requestId);
      assert.equal(down.status, 502);
      assert.equal(down.body.error?.code, "subject_request.incomplete");
      assert.match(down.body.error?.message ?? "", /region cn/);
      assert.match(down.body.error?.message ?? "", new RegExp(requestId));
      assert.deepEqual(
        down.body.error?.problems?.map((p) => p.path),
        ["/regions/cn"],
      );
      assert.deepEqual((await held(b)).events, [], "global erased B's diagnostics all the same");
      const pending = await show(b, requestId);
      assert.equal(pending.body.status, "incomplete");
      assert.deepEqual(
        pending.body.missing.map((m) => m.region),
        ["cn"],
      );
      assert.deepEqual(
        pending.body.receipts.map((r) => r.region),
        ["global"],
      );

      // The region comes back (on a new port); the retry asks it alone.
      const config = t.config.regions.find((r) => r.id === "cn");
      assert.ok(config);
      const back = await startRegion({
        config: t.config,
        region: config,
        dictionary: t.system.dictionary,
        directory: cachedDirectory((keys) => findDevicesByKeyIds(t.system.controlPlane.db, keys)),
        logger: createLogger("silent"),
        updates: inProcessUpdates(t.system.controlPlane.db),
      });
      t.system.regions.splice(t.system.regions.indexOf(cn), 1, back);
      t.system.controlPlane.regionUrls.set("cn", back.url);
      const retry = await erase(b, requestId);
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal(retry.body.status, "complete");
      assert.deepEqual(retry.body.missing, []);
      assert.equal(
        receiptOf(retry.body, "global").jws,
        receiptOf(pending.body, "global").jws,
        "global's receipt is the one stored at the first attempt",
      );
      assert.equal(receiptOf(retry.body, "cn").receipt.found, 0);
    });

    test("a request id is one device's in a region, whichever kind of request first used it", async () => {
      const accessOfC = randomUUID();
      const asked = await fetch(`${t.system.controlPlane.url}/v1/subject-requests/access`, {
        method: "POST",
        headers: { ...(await bearer(c)), "content-type": "application/json" },
        body: JSON.stringify({ requestId: accessOfC }),
      });
      assert.equal(asked.status, 200);
      for (const id of ["global", "cn"]) {
        const erasing = await fetch(`${region(id).url}/v1/owner/data?requestId=${accessOfC}`, {
          method: "DELETE",
          headers: await bearer(b),
        });
        assert.equal(erasing.status, 409, `${id}: C's access request id, erased with B's token`);
        assert.equal(((await erasing.json()) as ErrorBody).error?.code, "subject_request.conflict");
      }
      // And the other way round: A's erasure request id, read with B's token.
      const reading = await fetch(`${region("global").url}/v1/owner/data?requestId=${requestOfA}`, {
        headers: await bearer(b),
      });
      assert.equal(reading.status, 409);
      assert.equal(((await reading.json()) as ErrorBody).error?.code, "subject_request.conflict");
    });

    test("a token minted before an erasure cannot act after it, on the control plane or in any region", async () => {
      const [d] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
      await onboard(d, 2);
      const before = await mintOwnerToken(d, { now: new Date(Date.now() - 60_000) });
      const used = await mintOwnerToken(d);
      const requestId = randomUUID();
      const call = async (token: string, method: string, url: string, body?: unknown) => {
        const response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as RequestView & { jws?: string } };
      };
      const cp = t.system.controlPlane.url;
      const erased = await call(used, "POST", `${cp}/v1/subject-requests/erasure`, { requestId });
      assert.equal(erased.status, 200, JSON.stringify(erased.body));

      const doors = (id: string): [string, string, unknown?][] => [
        ["GET", `${region(id).url}/v1/owner/data`],
        ["GET", `${region(id).url}/v1/owner/summary`],
        ["POST", `${region(id).url}/v1/owner/access-receipts?requestId=${randomUUID()}`],
        ["GET", `${region(id).url}/v1/owner/consents`],
        [
          "PUT",
          `${region(id).url}/v1/owner/consents/uep.diagnostics`,
          { granted: true, noticeVersion: 1, language: "en", method: "portal" },
        ],
        ["DELETE", `${region(id).url}/v1/owner/data?requestId=${randomUUID()}`],
      ];
      for (const token of [used, before]) {
        for (const [method, url, body] of [
          ...doors("global"),
          ...doors("cn"),
          ["POST", `${cp}/v1/subject-requests/erasure`, { requestId: randomUUID() }] as [
            string,
            string,
            unknown,
          ],
          ["POST", `${cp}/v1/subject-requests/access`, {}] as [string, string, unknown],
        ]) {
          const answer = await call(token, method, url, body);
          const where = `${token === used ? "the erasure's token" : "an earlier token"}: ${method} ${url}`;
          assert.equal(answer.status, 401, where);
          assert.equal(answer.body.error?.code, "auth.owner_token_invalid", where);
          assert.match(
            answer.body.error?.message ?? "",
            /^owner token refused: the token was minted before this device's data was last erased \(.+\); ask the device for a new one$/,
            where,
          );
        }
      }
      const { history } = await held(d);
      assert.equal(history.length, 1, "no consent decision was taken with the old tokens");

      // The erasure's own token may ask that erasure again, and read it; an earlier token may not.
      const again = await call(used, "POST", `${cp}/v1/subject-requests/erasure`, { requestId });
      assert.equal(again.status, 200);
      assert.deepEqual(
        again.body.receipts.map((r) => r.jws).sort(),
        erased.body.receipts.map((r) => r.jws).sort(),
      );
      assert.equal((await call(used, "GET", `${cp}/v1/subject-requests/${requestId}`)).status, 200);
      const direct = await call(
        used,
        "DELETE",
        `${region("global").url}/v1/owner/data?requestId=${requestId}`,
      );
      assert.equal(direct.status, 200);
      assert.equal(
        direct.body.jws,
        receiptOf(erased.body, "global").jws,
        "the same receipt, nothing more erased",
      );
      assert.equal(
        (await call(before, "POST", `${cp}/v1/subject-requests/erasure`, { requestId })).status,
        401,
      );

      // A token minted since opens what is left.
      const fresh = await mintOwnerToken(d);
      const left = await call(fresh, "GET", `${region("global").url}/v1/owner/data`);
      assert.equal(left.status, 200);
      assert.deepEqual(
        (left.body as unknown as AccessExport).records.map((r) => r.collection),
        ["activation"],
      );
    });

    test("an erasure asked of one region directly ends the tokens minted before it there", async () => {
      const [e] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
      await onboard(e, 1);
      const token = await mintOwnerToken(e);
      const headers = { authorization: `Bearer ${token}` };
      const requestId = randomUUID();
      const url = `${region("global").url}/v1/owner/data`;
      const erased = await fetch(`${url}?requestId=${requestId}`, { method: "DELETE", headers });
      assert.equal(erased.status, 200);
      const reopened = await fetch(url, { headers });
      assert.equal(reopened.status, 401);
      assert.match(
        ((await reopened.json()) as ErrorBody).error?.message ?? "",
        /minted before this device's data was last erased/,
      );
      const retried = await fetch(`${url}?requestId=${requestId}`, { method: "DELETE", headers });
      assert.equal(retried.status, 200, "a retry of the same request with the same token");
      assert.equal(
        ((await retried.json()) as { jws: string }).jws,
        ((await erased.json()) as { jws: string }).jws,
      );
    });
  });
}
