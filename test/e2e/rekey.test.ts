/**
 * Revoked and re-keyed devices through the real HTTP stack and the real SDK,
 * on PGlite and PostgreSQL: a device activates, consents and sends
 * diagnostics; a service centre re-keys it (`POST /v1/fleet/devices/{serial}
 * /keys`, the service-centre role); from then on the old key's envelopes are
 * refused `device.revoked` (counted in the ledger) and its owner tokens
 * `auth.owner_token_revoked`, on the collector and on the control plane,
 * within the stated bound — while the new key finds the same warranty, the
 * same consent and every record the old key stored, and its erasure erases
 * them. A support operator revokes a stolen device; the CLI revokes and lists
 * keys as the signed-in operator; every step is in the control plane's audit log.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ConsentDecision,
  type DeviceIdentity,
  mintOwnerToken,
  PhoneHomeClient,
  rekeyIdentity,
} from "@phonehome/sdk";
import type { DeviceKeyHistory } from "@phonehome/shared";
import { deviceRef } from "../../src/collector/device-data/index.ts";
import { findDiagnosticsEvents } from "../../src/collector/diagnostics/index.ts";
import { allAuditEntries } from "../../src/core/audit-log/index.ts";
import { REVOCATION_BOUND_MS } from "../../src/core/directory/index.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import {
  callControlPlane,
  collectorLedger,
  OPERATOR_PASSWORD,
  signedInOperators,
  startTestSystem,
  type TestSystem,
  writeCliConfig,
} from "../helpers/system.ts";

const YES: ConsentDecision = { granted: true, noticeVersion: 1, language: "en", method: "device-settings" };
const FIGURES = {
  batteryHealthPercent: 96,
  batteryCycles: 314,
  crashCount: 0,
  anrCount: 1,
  thermalEvents: 0,
};

interface ExportPage {
  device: string;
  records: { collection: string; facts: { eventId?: string } & Record<string, unknown> }[];
  next: string | null;
  error?: { code: string; message: string };
}

/** Polls `refused` every 50 ms until it says true; resolves with how long that took, in ms. */
async function refusedWithin(refused: () => Promise<boolean>, limitMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await refused()) return Date.now() - start;
    if (Date.now() - start > limitMs) assert.fail(`still accepted after ${Date.now() - start} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const backend of BACKENDS) {
  describe(`revoked and re-keyed devices on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let device: DeviceIdentity;
    let stolen: DeviceIdentity;
    let lost: DeviceIdentity;
    let queues: string;
    let sessions: Map<string, string>;
    const global = () => {
      const r = t.system.regions.find((x) => x.id === "global");
      if (!r) throw new Error("no global region");
      return r;
    };
    const client = (identity: DeviceIdentity, queue: string) =>
      new PhoneHomeClient({
        identity,
        queueDir: join(queues, queue),
        retry: { baseMs: 10, maxMs: 100, maxAttempts: 2 },
      });
    const ownerGet = async (path: string, token: string) => {
      const response = await fetch(`${global().url}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: (await response.json()) as ExportPage };
    };
    /** Every record of the owner's export, through its pages. */
    const exported = async (token: string) => {
      const first = await ownerGet("/v1/owner/data", token);
      assert.equal(first.status, 200, JSON.stringify(first.body.error));
      const records = [...first.body.records];
      let next = first.body.next;
      while (next !== null) {
        const page = await ownerGet(`/v1/owner/data/records?cursor=${encodeURIComponent(next)}`, token);
        assert.equal(page.status, 200, JSON.stringify(page.body.error));
        records.push(...page.body.records);
        next = page.body.next;
      }
      return { device: first.body.device, records };
    };

    before(async () => {
      t = await startTestSystem(backend);
      [device, stolen, lost] = (await t.provision([
        { market: "NO" },
        { market: "NO" },
        { market: "FI" },
      ])) as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
      sessions = await signedInOperators(t, { "sc-oslo": "service-centre", olga: "support" });
      queues = await mkdtemp(join(tmpdir(), "phonehome-rekey-"));
    });
    after(async () => {
      await t?.close();
      if (queues) await rm(queues, { recursive: true, force: true });
    });

    test("a re-keyed device keeps its warranty, consent and data; its old key is refused everywhere", async () => {
      // Before: the factory key activates, consents and sends diagnostics through the real SDK.
      const before = client(device, "before");
      const activation = await before.activate();
      assert.equal(activation.replayed, false);
      await before.sendConsent(YES);
      await before.setConsent("granted");
      for (let i = 0; i < 3; i += 1) await before.recordEvent({ ...FIGURES, crashCount: i });
      assert.deepEqual(await before.flush(), { delivered: 1, rejected: 0, remaining: 0 });
      const oldToken = await mintOwnerToken(device);
      const before_ = await exported(oldToken);
      const oldEvents = before_.records.filter((r) => r.collection === "uep.diagnostics");
      assert.equal(oldEvents.length, 3);

      // The service centre re-keys it: the device makes its new keys, the registry takes the public half.
      const rekeyed = rekeyIdentity(device);
      const answer = await callControlPlane<DeviceKeyHistory>(
        t,
        "POST",
        `/v1/fleet/devices/${device.serial}/keys`,
        { publicKey: rekeyed.publicKey, note: "main board replaced" },
        sessions.get("sc-oslo"),
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.deviceKey, device.keyId);
      assert.deepEqual(
        answer.body.keys.map((k) => [k.keyId, k.revoked?.reason ?? null, k.revoked?.by ?? k.registeredBy]),
        [
          [device.keyId, "re-keyed", "operator:sc-oslo"],
          [rekeyed.keyId, null, "operator:sc-oslo"],
        ],
      );

      // The old key: refused on the collector (envelopes and tokens) and on the control plane, within the bound.
      const took = await refusedWithin(async () => {
        const sent = await post(`${device.home.url}/v1/activations`, await buildEnvelope(device));
        return sent.status === 403 && sent.body.error?.code === "device.revoked";
      }, REVOCATION_BOUND_MS + 1_000);
      assert.ok(took <= REVOCATION_BOUND_MS + 500, `refused after ${took} ms`);
      const refusedToken = await ownerGet("/v1/owner/data", oldToken);
      assert.equal(refusedToken.status, 403);
      assert.equal(refusedToken.body.error?.code, "auth.owner_token_revoked");
      const freshOldToken = await mintOwnerToken(device);
      assert.equal(
        (await ownerGet("/v1/owner/consents", freshOldToken)).body.error?.code,
        "auth.owner_token_revoked",
      );
      const viaControlPlane = await callControlPlane<{ error?: { code: string } }>(
        t,
        "POST",
        "/v1/subject-requests/access",
        {},
        freshOldToken,
      );
      assert.equal(viaControlPlane.status, 403);
      assert.equal(viaControlPlane.body.error?.code, "auth.owner_token_revoked");
      const oldClient = client(device, "old-key-later");
      await assert.rejects(oldClient.activate(), (e: Error & { code?: string }) => e.code === "sdk.rejected");
      const ledger = await collectorLedger(t, "global");
      const revokedCount = ledger
        .filter((r) => r.outcome === "refused" && r.reason === "device.revoked")
        .reduce((n, r) => n + r.count, 0);
      assert.ok(revokedCount >= 2, `device.revoked counted in the ledger (${revokedCount})`);

      // The new key: the same warranty (the first activation, replayed), the same consent, every record.
      const after = client(rekeyed, "after");
      const again = await after.activate();
      assert.equal(again.replayed, true);
      assert.equal(again.activation?.eventId, activation.activation?.eventId);
      assert.equal(again.activation?.warrantyUntil, activation.activation?.warrantyUntil);
      const newToken = await mintOwnerToken(rekeyed);
      const consents = (await ownerGet("/v1/owner/consents", newToken)).body as unknown as {
        consents: { purpose: string; granted: boolean }[];
      };
      assert.deepEqual(
        consents.consents.map((c) => [c.purpose, c.granted]),
        [["uep.diagnostics", true]],
      );
      // Consent holds in the region, so the new key's diagnostics are stored beside the old ones.
      await after.setConsent("granted");
      await after.recordEvent({ ...FIGURES, crashCount: 9 });
      assert.deepEqual(await after.flush(), { delivered: 1, rejected: 0, remaining: 0 });
      const afterExport = await exported(newToken);
      assert.equal(afterExport.device, device.keyId, "one device, its records under its first key's id");
      const events = afterExport.records.filter((r) => r.collection === "uep.diagnostics");
      assert.equal(events.length, 4);
      for (const e of oldEvents) {
        assert.ok(
          events.some((x) => x.facts.eventId === e.facts.eventId),
          `old event ${e.facts.eventId}`,
        );
      }
      assert.ok(afterExport.records.some((r) => r.collection === "activation"));

      // The new key's erasure erases what the old key stored.
      const ref = deviceRef(global().intake.pseudonymSecret, device.keyId);
      assert.equal((await findDiagnosticsEvents(global().db, ref)).length, 4);
      const erased = await fetch(`${global().url}/v1/owner/data`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${newToken}` },
      });
      assert.equal(erased.status, 200, await erased.text());
      assert.deepEqual(await findDiagnosticsEvents(global().db, ref), []);

      const entries = [];
      for await (const e of allAuditEntries(t.system.controlPlane.db)) {
        if (e.subject === device.serial && e.action.startsWith("fleet.key_")) entries.push(e);
      }
      assert.deepEqual(
        entries.map((e) => [e.actor, e.action, e.detail.keyId]),
        [
          ["operator:sc-oslo", "fleet.key_revoked", device.keyId],
          ["operator:sc-oslo", "fleet.key_registered", rekeyed.keyId],
        ],
      );
    });

    test("support revokes a stolen device; the service centre may not revoke, support may not re-key", async () => {
      const path = `/v1/fleet/devices/${stolen.serial}`;
      const bySc = await callControlPlane<{ error?: { code: string } }>(
        t,
        "POST",
        `${path}/revocation`,
        { reason: "stolen" },
        sessions.get("sc-oslo"),
      );
      assert.equal(bySc.body.error?.code, "auth.forbidden");
      const bySupport = await callControlPlane<{ error?: { code: string } }>(
        t,
        "POST",
        `${path}/keys`,
        { publicKey: rekeyIdentity(stolen).publicKey },
        sessions.get("olga"),
      );
      assert.equal(bySupport.body.error?.code, "auth.forbidden");
      const bad = await callControlPlane<{ error?: { code: string; path?: string } }>(
        t,
        "POST",
        `${path}/revocation`,
        { reason: "re-keyed" },
        sessions.get("olga"),
      );
      assert.equal(bad.status, 400, "re-keyed is a re-key's own reason");
      const revoked = await callControlPlane<DeviceKeyHistory>(
        t,
        "POST",
        `${path}/revocation`,
        { reason: "stolen", note: "reported by the owner, case 88" },
        sessions.get("olga"),
      );
      assert.equal(revoked.status, 200);
      assert.deepEqual(revoked.body.keys[0]?.revoked?.reason, "stolen");
      const twice = await callControlPlane<{ error?: { code: string } }>(
        t,
        "POST",
        `${path}/revocation`,
        { reason: "stolen" },
        sessions.get("olga"),
      );
      assert.equal(twice.status, 409);
      assert.equal(twice.body.error?.code, "fleet.key_revoked");
      await refusedWithin(async () => {
        const sent = await post(`${stolen.home.url}/v1/activations`, await buildEnvelope(stolen));
        return sent.body.error?.code === "device.revoked";
      }, REVOCATION_BOUND_MS + 1_000);
    });

    test("the CLI lists a device's keys and revokes one as the signed-in operator", async () => {
      const cliDir = await mkdtemp(join(tmpdir(), "phonehome-rekey-cli-"));
      try {
        const config = join(cliDir, "config.json");
        writeCliConfig(t, config);
        const session = join(cliDir, "session");
        const cli = (args: string[], input?: string) =>
          phonehomeAsync(["--config", config, ...args], { input });
        const signIn = await cli(
          ["session", "open", "--username", "olga", "--session", session],
          `${OPERATOR_PASSWORD}\n`,
        );
        assert.equal(signIn.status, 0, signIn.stderr);
        const revoked = await cli([
          "fleet",
          "revoke",
          lost.serial,
          "--reason",
          "key-compromised",
          "--note",
          "key found in a crash dump",
          "--session",
          session,
        ]);
        assert.equal(revoked.status, 0, revoked.stderr);
        assert.match(
          revoked.stdout,
          new RegExp(`${lost.keyId}  revoked .* key-compromised by operator:olga`),
        );
        const listed = await cli(["fleet", "keys", lost.serial, "--json", "--session", session]);
        assert.equal(listed.status, 0, listed.stderr);
        const history = JSON.parse(listed.stdout) as DeviceKeyHistory;
        assert.equal(history.keys[0]?.revoked?.note, "key found in a crash dump");
        const again = await cli(["fleet", "revoke", lost.serial, "--reason", "stolen", "--session", session]);
        assert.notEqual(again.status, 0);
        assert.match(again.stderr, /fleet\.key_revoked/);
        const badReason = await cli([
          "fleet",
          "revoke",
          lost.serial,
          "--reason",
          "lost",
          "--session",
          session,
        ]);
        assert.notEqual(badReason.status, 0);
      } finally {
        await rm(cliDir, { recursive: true, force: true });
      }
    });
  });
}
