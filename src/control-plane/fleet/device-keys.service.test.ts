import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { deviceKeyId, generateDeviceKeys } from "@phonehome/sdk";
import {
  demoFleet,
  emptyRegistry,
  freshRegistry,
  TEST_CONFIG,
  type TestRegistry,
} from "../../../test/helpers/fleet.ts";
import { BACKENDS } from "../../../test/helpers/stores.ts";
import { allAuditEntries, type AuditEntry } from "../../core/audit-log/index.ts";
import type { Queryable } from "../../core/db/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { deviceKeyHistory, rekeyDevice, revocationFeed, revokeDevice } from "./device-keys.service.ts";
import { importFleet, lookupDirectory } from "./fleet.service.ts";

// The audit log is append-only (its triggers refuse a TRUNCATE): each test reads what it appended.
let since = 0;

async function keyEntries(q: Queryable): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for await (const e of allAuditEntries(q))
    if (e.seq > since && e.action.startsWith("fleet.key_")) entries.push(e);
  return entries;
}

async function lastSeq(q: Queryable): Promise<number> {
  let last = 0;
  for await (const e of allAuditEntries(q)) last = e.seq;
  return last;
}

async function keyRows(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM device_keys");
  return rows[0]?.n ?? 0;
}

for (const backend of BACKENDS) {
  describe(`device keys: revocation, re-key, the feed (${backend.name})`, { skip: backend.skip }, () => {
    let registry: TestRegistry;
    const { factory } = demoFleet(4, "device-keys", ["NO"]);
    const [first, second] = factory.devices;
    before(async () => {
      registry = await freshRegistry(backend, "device-keys");
    });
    beforeEach(async () => {
      await emptyRegistry(registry.db);
      await importFleet(registry.db, TEST_CONFIG, { name: "factory.json", text: JSON.stringify(factory) });
      since = await lastSeq(registry.db);
    });
    after(() => registry.close());

    it("knows each imported device's factory key as its first key, in force", async () => {
      assert.ok(first);
      const history = await deviceKeyHistory(registry.db, first.serial);
      const factoryKey = deviceKeyId(first.publicKey);
      assert.equal(history.deviceKey, factoryKey);
      assert.deepEqual(
        history.keys.map((k) => [k.keyId, k.registeredBy, k.revoked]),
        [[factoryKey, "factory", null]],
      );
      const [record] = await lookupDirectory(registry.db, [factoryKey]);
      assert.equal(record?.deviceKey, factoryKey);
      assert.equal(record?.revoked, null);
    });

    it("revokes the key in force with its reason and note, keeps it known, and logs it in the audit log", async () => {
      assert.ok(first);
      const keyId = deviceKeyId(first.publicKey);
      const at = new Date("2026-12-07T20:00:00.000Z");
      const history = await revokeDevice(
        registry.db,
        first.serial,
        { reason: "cloned", note: "  case 4711: seen from two networks at once " },
        "operator:olga",
        at,
      );
      assert.deepEqual(history.keys[0]?.revoked, {
        reason: "cloned",
        at: at.toISOString(),
        by: "operator:olga",
        note: "case 4711: seen from two networks at once",
      });
      const [record] = await lookupDirectory(registry.db, [keyId]);
      assert.deepEqual(record?.revoked, { reason: "cloned", at: at.toISOString() });
      const entries = await keyEntries(registry.db);
      assert.deepEqual(
        entries.map((e) => [e.actor, e.action, e.subject, e.reason, e.detail]),
        [
          [
            "operator:olga",
            "fleet.key_revoked",
            first.serial,
            "cloned: case 4711: seen from two networks at once",
            { keyId, reason: "cloned" },
          ],
        ],
      );
      // Nothing left to revoke: a coded refusal that changes nothing.
      await assert.rejects(
        revokeDevice(registry.db, first.serial, { reason: "stolen" }, "operator:olga"),
        (e) => isPhoneHomeError(e, "fleet.key_revoked"),
      );
      assert.equal((await keyEntries(registry.db)).length, 1);
      assert.equal((await deviceKeyHistory(registry.db, first.serial)).keys[0]?.revoked?.reason, "cloned");
    });

    it("refuses an unknown serial and a note too long, changing nothing", async () => {
      assert.ok(first);
      await assert.rejects(
        revokeDevice(registry.db, "NOSUCHDEVICE1", { reason: "stolen" }, "operator:olga"),
        (e) => isPhoneHomeError(e, "fleet.not_found"),
      );
      await assert.rejects(
        revokeDevice(registry.db, first.serial, { reason: "stolen", note: "x".repeat(501) }, "operator:olga"),
        (e) => isPhoneHomeError(e, "request.invalid") && e.path === "/body/note",
      );
      await assert.rejects(
        rekeyDevice(registry.db, "NOSUCHDEVICE1", { publicKey: generateDeviceKeys().publicKey }, "svc"),
        (e) => isPhoneHomeError(e, "fleet.not_found"),
      );
      await assert.rejects(deviceKeyHistory(registry.db, "NOSUCHDEVICE1"), (e) =>
        isPhoneHomeError(e, "fleet.not_found"),
      );
      assert.equal(await keyRows(registry.db), factory.devices.length);
      assert.deepEqual(await keyEntries(registry.db), []);
      assert.equal((await deviceKeyHistory(registry.db, first.serial)).keys[0]?.revoked, null);
    });

    it("re-keys a device: the new key in force under the same device key, the old one revoked as re-keyed, both in the audit log", async () => {
      assert.ok(first);
      const factoryKey = deviceKeyId(first.publicKey);
      const fresh = generateDeviceKeys();
      const at = new Date("2026-12-07T20:05:00.000Z");
      const history = await rekeyDevice(
        registry.db,
        first.serial,
        { publicKey: fresh.publicKey, note: "screen and board replaced" },
        "operator:sc-oslo",
        at,
      );
      assert.equal(history.deviceKey, factoryKey, "the records stay under the factory key's id");
      assert.deepEqual(
        history.keys.map((k) => [k.keyId, k.registeredBy, k.revoked?.reason ?? null]),
        [
          [factoryKey, "factory", "re-keyed"],
          [fresh.keyId, "operator:sc-oslo", null],
        ],
      );
      assert.match(history.keys[0]?.revoked?.note ?? "", new RegExp(`^re-keyed to ${fresh.keyId}: screen`));
      const records = await lookupDirectory(registry.db, [factoryKey, fresh.keyId]);
      const byKey = new Map(records.map((r) => [r.keyId, r]));
      assert.equal(byKey.get(fresh.keyId)?.deviceKey, factoryKey);
      assert.equal(byKey.get(fresh.keyId)?.publicKey, fresh.publicKey);
      assert.equal(byKey.get(fresh.keyId)?.serial, first.serial);
      assert.equal(byKey.get(fresh.keyId)?.revoked, null);
      assert.deepEqual(byKey.get(factoryKey)?.revoked, { reason: "re-keyed", at: at.toISOString() });
      assert.deepEqual(
        (await keyEntries(registry.db)).map((e) => [e.action, e.detail]),
        [
          ["fleet.key_revoked", { keyId: factoryKey, reason: "re-keyed", successor: fresh.keyId }],
          ["fleet.key_registered", { keyId: fresh.keyId, replaces: factoryKey }],
        ],
      );

      // A key is one device's, once: neither this device's nor another's key is taken again.
      for (const publicKey of [fresh.publicKey, first.publicKey, second?.publicKey ?? ""]) {
        await assert.rejects(rekeyDevice(registry.db, first.serial, { publicKey }, "operator:sc-oslo"), (e) =>
          isPhoneHomeError(e, "fleet.key_registered"),
        );
      }
      assert.ok(second);
      await assert.rejects(
        rekeyDevice(registry.db, second.serial, { publicKey: fresh.publicKey }, "operator:sc-oslo"),
        (e) => isPhoneHomeError(e, "fleet.key_registered"),
      );
      assert.equal(await keyRows(registry.db), factory.devices.length + 1);
    });

    it("re-keys a device whose key was revoked, and revokes the new key in its turn", async () => {
      assert.ok(first);
      await revokeDevice(registry.db, first.serial, { reason: "key-compromised" }, "operator:olga");
      const fresh = generateDeviceKeys();
      const history = await rekeyDevice(
        registry.db,
        first.serial,
        { publicKey: fresh.publicKey },
        "service-token",
      );
      assert.deepEqual(
        history.keys.map((k) => k.revoked?.reason ?? null),
        ["key-compromised", null],
      );
      assert.deepEqual(
        (await keyEntries(registry.db)).map((e) => [e.action, e.detail]),
        [
          ["fleet.key_revoked", { keyId: deviceKeyId(first.publicKey), reason: "key-compromised" }],
          ["fleet.key_registered", { keyId: fresh.keyId, replaces: null }],
        ],
      );
      const after = await revokeDevice(registry.db, first.serial, { reason: "stolen" }, "operator:olga");
      assert.deepEqual(
        after.keys.map((k) => k.revoked?.reason ?? null),
        ["key-compromised", "stolen"],
      );
    });

    it("feeds revocations in the order they were made, from any cursor, and nothing else", async () => {
      assert.ok(first && second);
      const start = await revocationFeed(registry.db, undefined);
      assert.deepEqual(start.revocations, [], "without a cursor: where to start, no history");
      assert.deepEqual(await revocationFeed(registry.db, start.next), { revocations: [], next: start.next });
      await revokeDevice(registry.db, second.serial, { reason: "stolen" }, "operator:olga");
      const fresh = generateDeviceKeys();
      await rekeyDevice(registry.db, first.serial, { publicKey: fresh.publicKey }, "operator:sc");
      const page = await revocationFeed(registry.db, start.next);
      assert.deepEqual(
        page.revocations.map((r) => [r.keyId, r.reason]),
        [
          [deviceKeyId(second.publicKey), "stolen"],
          [deviceKeyId(first.publicKey), "re-keyed"],
        ],
      );
      assert.deepEqual(await revocationFeed(registry.db, page.next), { revocations: [], next: page.next });
      const middle = await revocationFeed(registry.db, String(BigInt(page.next) - 1n));
      assert.deepEqual(
        middle.revocations.map((r) => r.keyId),
        [deviceKeyId(first.publicKey)],
      );
      assert.equal((await revocationFeed(registry.db, undefined)).next, page.next);
    });

    it("refuses a factory file that names a key a re-key registered, and keeps re-imports of the old file unchanged", async () => {
      assert.ok(first);
      const fresh = generateDeviceKeys();
      await rekeyDevice(registry.db, first.serial, { publicKey: fresh.publicKey }, "operator:sc");
      const again = await importFleet(registry.db, TEST_CONFIG, {
        name: "factory.json",
        text: JSON.stringify(factory),
      });
      assert.deepEqual(again.devices, { created: 0, unchanged: factory.devices.length });
      const other = demoFleet(1, "device-keys-other", ["NO"]).factory;
      const device = other.devices[0];
      assert.ok(device);
      const clash = { ...other, devices: [{ ...device, publicKey: fresh.publicKey }] };
      await assert.rejects(
        importFleet(registry.db, TEST_CONFIG, { name: "clash.json", text: JSON.stringify(clash) }),
        (e) =>
          isPhoneHomeError(e, "fleet.import_invalid") &&
          (e.problems ?? []).some((p) => p.message.includes(`registered to device ${first.serial}`)),
      );
    });
  });
}
