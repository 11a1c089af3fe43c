/**
 * Diagnostics through the real HTTP stack, on PGlite and PostgreSQL: stored
 * only under a valid consent, every event validated against the approved
 * collection, a retried batch stored once, under a region-keyed pseudonym.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import type { Db } from "../../src/core/db/index.ts";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { buildEnvelope, diagnosticsBatch, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { collectorLedger, startTestSystem, type TestSystem } from "../helpers/system.ts";

/** The owner's decision, through the consent route; resolves with the receipt id. */
async function decide(regionUrl: string, device: DeviceIdentity, granted: boolean): Promise<string> {
  const response = await fetch(`${regionUrl}/v1/owner/consents/uep.diagnostics`, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${await mintOwnerToken(device)}` },
    body: JSON.stringify({ granted, noticeVersion: 1, language: "en", method: "device-settings" }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as { receipt: Record<string, unknown> };
  return String(body.receipt.receiptId);
}

/**
 * A "yes" recorded under notice version 0, which the shipped notice v1 does not
 * accept (a stand-in for a yes to a narrower, older notice). The route itself
 * only takes the current version, so this goes straight to the store.
 */
async function yesUnderOldNotice(db: Db, deviceKey: string): Promise<void> {
  await db.query(
    `INSERT INTO consents (device_key, purpose, granted, notice_version, language, method, decided_at, receipt_id)
     VALUES ($1, 'uep.diagnostics', true, 0, 'en', 'device-settings', now(), $2)`,
    [deviceKey, randomUUID()],
  );
}

for (const backend of BACKENDS) {
  describe(`diagnostics on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    const region = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const send = async (device: DeviceIdentity, payload: unknown, path = "/v1/diagnostics") =>
      post(
        `${region().url}${path}`,
        await buildEnvelope(device, { payload, header: { collection: "uep.diagnostics", schemaVersion: 1 } }),
      );
    const stored = async (device: DeviceIdentity) =>
      findDiagnosticsEvents(region().db, deviceRef(region().intake.pseudonymSecret, device.keyId));

    before(async () => {
      // The shipped notice v1 of uep.diagnostics is current: a yes under v1 is valid.
      t = await startTestSystem(backend);
      [a, b] = (await t.provision([{ market: "NO" }, { market: "FI" }])) as [DeviceIdentity, DeviceIdentity];
    });
    after(async () => {
      await t?.close();
    });

    test("without consent a batch is refused and nothing is stored", async () => {
      const answer = await send(a, diagnosticsBatch(a, 3));
      assert.equal(answer.status, 403);
      assert.equal(answer.body.error?.code, "consent.required");
      assert.deepEqual(await stored(a), []);
    });

    test("after a yes the batch is stored once, with its events' own times, under a region pseudonym", async () => {
      const receipt = await decide(region().url, a, true);
      const events = diagnosticsBatch(a, 3);
      const first = await send(a, events);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(
        { stored: first.body.stored, duplicates: first.body.duplicates },
        { stored: 3, duplicates: 0 },
      );
      const again = await send(a, events); // a retried batch (new envelope, same events)
      assert.deepEqual(
        { stored: again.body.stored, duplicates: again.body.duplicates },
        { stored: 0, duplicates: 3 },
      );
      const rows = await stored(a);
      assert.equal(rows.length, 3);
      assert.deepEqual(
        rows.map((r) => new Date(r.occurredAt).toISOString()),
        events.events.map((e) => e.at),
      );
      assert.ok(rows.every((r) => r.consentReceipt === receipt && r.deviceRef.startsWith("dr_")));
      assert.ok(
        rows.every((r) => r.data.batteryCycles === 120),
        "batteryCycles coarsened to tens",
      );
      const json = JSON.stringify(rows);
      assert.ok(!json.includes(a.keyId) && !json.includes(a.serial), "no device key or serial in the rows");
    });

    test("the owner's access export lists the events with their purpose and legal basis", async () => {
      const response = await fetch(`${region().url}/v1/owner/data`, {
        headers: { authorization: `Bearer ${await mintOwnerToken(a)}` },
      });
      const body = (await response.json()) as {
        records: { collection: string; legalBasis: string }[];
        consents: { consents: { purpose: string; granted: boolean; valid: boolean }[]; history: unknown[] };
      };
      const events = body.records.filter((r) => r.collection === "uep.diagnostics");
      assert.equal(events.length, 3);
      assert.ok(events.every((r) => r.legalBasis === "consent"));
      assert.deepEqual(
        body.consents.consents.map((c) => [c.purpose, c.granted, c.valid]),
        [["uep.diagnostics", true, true]],
      );
      assert.equal(body.consents.history.length, 1, "the receipt of the yes");
    });

    test("an undeclared field in any event refuses the whole batch", async () => {
      const before = (await stored(a)).length;
      const answer = await send(a, diagnosticsBatch(a, 4, { imsi: "242011234567890" }));
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error?.code, "payload.undeclared_field");
      assert.equal(answer.body.error?.path, "/payload/events/1/data/imsi");
      assert.equal((await stored(a)).length, before);
    });

    test("a malformed batch is refused with the offending path", async () => {
      const empty = await send(a, { events: [] });
      assert.equal(empty.body.error?.code, "payload.invalid");
      const extra = await send(a, { ...diagnosticsBatch(a, 1), location: "59.9,10.7" });
      assert.equal(extra.body.error?.code, "payload.undeclared_field");
      assert.equal(extra.body.error?.path, "/payload/location");
      const future = diagnosticsBatch(a, 1);
      (future.events[0] as { at: string }).at = new Date(Date.now() + 86_400_000).toISOString();
      assert.equal((await send(a, future)).body.error?.path, "/payload/events/0/at");
    });

    test("a yes given under a notice the policy no longer accepts does not count", async () => {
      await yesUnderOldNotice(region().db, b.keyId);
      const answer = await send(b, diagnosticsBatch(b, 2));
      assert.equal(answer.body.error?.code, "consent.required");
      assert.deepEqual(await stored(b), []);
    });

    test("after a no, new batches are refused", async () => {
      await decide(region().url, a, false);
      assert.deepEqual(await stored(a), [], "withdrawal erased the events");
      const answer = await send(a, diagnosticsBatch(a, 2));
      assert.equal(answer.status, 403);
      assert.equal(answer.body.error?.code, "consent.required");
      const counted = (await collectorLedger(t, "global"))
        .filter((r) => r.reason === "consent.required" && r.collection === "uep.diagnostics")
        .reduce((n, r) => n + r.count, 0);
      assert.equal(counted, 3, "every consent refusal is in the ledger");
    });

    test("collections go to their own endpoints", async () => {
      const activation = await post(`${region().url}/v1/diagnostics`, await buildEnvelope(a));
      assert.equal(activation.body.error?.code, "envelope.collection_mismatch");
      const diagnostics = await send(a, diagnosticsBatch(a, 1), "/v1/activations");
      assert.equal(diagnostics.body.error?.code, "envelope.collection_mismatch");
    });
  });
}
