/**
 * Support opens one device's data, and only for a stated reason: on PGlite and
 * PostgreSQL, the answer is what the device's home region holds; who, which
 * device, why and when are in the home region's audit log and the control
 * plane's; no other role, nor the service token, may open it; a missing or
 * empty reason opens nothing and logs nothing. An operator's read of device
 * records is logged too.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AuditEntry } from "../../src/core/audit-log/chain.ts";
import type { DeviceIdentity } from "../../packages/sdk/src/identity.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, signedInOperators, startTestSystem, type TestSystem } from "../helpers/system.ts";

const REASON = "Case 4411: the owner asks which activation we hold for the phone.";

for (const backend of BACKENDS) {
  describe(`support's view of one device on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let device: DeviceIdentity;
    const sessions = new Map<string, string>();
    const entries = async (url: string) => {
      const answer = await fetch(`${url}/v1/audit-log`, {
        headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
      });
      return ((await answer.json()) as { entries: AuditEntry[] }).entries;
    };
    const logs = async () => ({
      control: await entries(t.system.controlPlane.url),
      global: await entries(region("global").url),
      cn: await entries(region("cn").url),
    });
    const region = (id: string) => {
      const r = t.system.regions.find((x) => x.id === id);
      if (r === undefined) throw new Error(`no region ${id}`);
      return r;
    };
    const open = (serial: string, body: unknown, token: string | null) =>
      callControlPlane<{
        region?: string;
        openedBy?: string;
        reason?: string;
        data?: { device: string; records: { collection: string }[] };
        error?: { code: string; message: string };
      }>(t, "POST", `/v1/devices/${serial}/data-access`, body, token);

    before(async () => {
      t = await startTestSystem(backend);
      const [provisioned] = await t.provision([{ market: "NO" }]);
      assert.ok(provisioned);
      device = provisioned;
      const activated = await post(`${region("global").url}/v1/activations`, await buildEnvelope(device));
      assert.equal(activated.status, 201);
      for (const [username, token] of await signedInOperators(t, {
        sam: "support",
        ada: "admin",
        aud: "auditor",
        ola: "operator",
      })) {
        sessions.set(username, token);
      }
    });
    after(async () => {
      await t?.close();
    });

    test("without a stated reason nothing is opened and nothing is logged", async () => {
      const before = await logs();
      const sam = sessions.get("sam") ?? "";
      for (const [body, code] of [
        [{}, "request.invalid"],
        [{ reason: "   " }, "support.reason_required"],
        [{ reason: "because" }, "support.reason_required"],
      ] as const) {
        const answer = await open(device.serial, body, sam);
        assert.deepEqual([answer.status, answer.body.error?.code], [400, code], JSON.stringify(body));
        assert.equal(answer.body.data, undefined);
      }
      assert.deepEqual(await logs(), before);
    });

    test("no other role, nor the service token, opens a device's data", async () => {
      const before = await logs();
      for (const who of ["ada", "aud", "ola"]) {
        const answer = await open(device.serial, { reason: REASON }, sessions.get(who) ?? "");
        assert.deepEqual([answer.status, answer.body.error?.code], [403, "auth.forbidden"], who);
      }
      const byToken = await open(device.serial, { reason: REASON }, t.system.controlPlane.serviceToken);
      assert.deepEqual([byToken.status, byToken.body.error?.code], [403, "auth.forbidden"]);
      assert.match(byToken.body.error?.message ?? "", /a person's step/);
      assert.deepEqual(await logs(), before);
    });

    test("support opens one device's data from its home region, and both logs say who, what and why", async () => {
      const answer = await open(device.serial, { reason: REASON }, sessions.get("sam") ?? "");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(
        [answer.body.region, answer.body.openedBy, answer.body.reason, answer.body.data?.device],
        ["global", "sam", REASON, device.keyId],
      );
      assert.deepEqual(
        answer.body.data?.records.map((r) => r.collection),
        ["activation"],
      );
      const { control, global, cn } = await logs();
      const opened = (log: AuditEntry[]) => log.filter((e) => e.action === "device_data.opened");
      assert.deepEqual(
        opened(control).map((e) => [e.actor, e.subject, e.reason, e.detail.region, e.detail.records]),
        [["operator:sam", device.serial, REASON, "global", 1]],
      );
      assert.deepEqual(
        opened(global).map((e) => [e.actor, e.subject, e.reason, e.detail.records]),
        [["operator:sam", device.keyId, REASON, 1]],
      );
      assert.deepEqual(opened(cn), [], "the other region is not asked");
      const unknown = await open("ZZZZ99999999", { reason: REASON }, sessions.get("sam") ?? "");
      assert.deepEqual([unknown.status, unknown.body.error?.code], [404, "fleet.not_found"]);
    });

    test("an operator's read of device records is in the audit log; the services' own reads are not", async () => {
      const before = (await logs()).control.length;
      const byToken = await callControlPlane(t, "GET", `/v1/fleet/devices/${device.serial}`);
      assert.equal(byToken.status, 200);
      assert.equal((await logs()).control.length, before, "the service token's read is not logged");
      const sam = sessions.get("sam") ?? "";
      assert.equal(
        (await callControlPlane(t, "GET", `/v1/fleet/devices/${device.serial}`, undefined, sam)).status,
        200,
      );
      assert.equal(
        (await callControlPlane(t, "GET", "/v1/fleet/devices?limit=10", undefined, sam)).status,
        200,
      );
      const reads = (await logs()).control
        .slice(before)
        .map((e) => [e.actor, e.action, e.subject, e.detail.devices ?? null]);
      assert.deepEqual(reads, [
        ["operator:sam", "fleet.device_read", device.serial, null],
        ["operator:sam", "fleet.devices_read", "fleet", 1],
      ]);
    });
  });
}
