/**
 * Incidents, on PGlite and PostgreSQL: a misrouting alert opens an incident
 * for exactly its batch; a notice reaches exactly that batch's devices at
 * their next check-in, is delivered (and shown) once; the regulator report's
 * counts are the ingest ledgers' counts.
 */
import type { Incident } from "@phonehome/shared";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken, PhoneHomeClient } from "@phonehome/sdk";
import type { IncidentReport } from "../../src/control-plane/incidents/report.ts";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS, pgliteBackend } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem, writeCliConfig } from "../helpers/system.ts";

interface Sweep {
  opened: Incident[];
  known: string[];
  skipped: unknown[];
}
interface LedgerRow {
  outcome: "stored" | "replayed" | "refused";
  reason: string;
  batch: string;
  count: number;
}

for (const backend of BACKENDS) {
  describe(`incidents on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let affected: DeviceIdentity[]; // batch A: Norway, the incident's build, flashed with the cn descriptor
    let other: DeviceIdentity[]; // batch B: Norway, the fixed build
    let incident: Incident;
    const control = <T>(method: string, path: string, body?: unknown, token?: string | null) =>
      callControlPlane<T>(t, method, path, body, token);
    const url = (region: string) => t.system.regions.find((r) => r.id === region)?.url ?? "";
    /** The device as the fixed build has it: the same keys, its real home. */
    const fixed = (d: DeviceIdentity): DeviceIdentity => ({ ...d, home: t.descriptor("global") });
    const checkIn = async (d: DeviceIdentity) => {
      const answer = await post(
        `${url("global")}/v1/updates/check`,
        await buildEnvelope(fixed(d), {
          header: { collection: "update.check", schemaVersion: 1 },
          payload: { build: d.build },
        }),
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body as { notices: { id: string; incident: string }[] };
    };
    const ledgerOf = async (region: string, batch: string) => {
      const answer = await fetch(`${url(region)}/v1/ledger?since=2000-01-01T00:00:00Z&limit=5000`, {
        headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
      });
      const rows = ((await answer.json()) as { rows: LedgerRow[] }).rows.filter((r) => r.batch === batch);
      const sum = (outcome: string) =>
        rows.filter((r) => r.outcome === outcome).reduce((n, r) => n + r.count, 0);
      return { stored: sum("stored"), replayed: sum("replayed"), refused: sum("refused") };
    };

    before(async () => {
      t = await startTestSystem(backend, { extra: { incidents: { sweepIntervalSeconds: 0 } } });
      affected = await t.provision(
        [1, 2, 3, 4].map(() => ({ market: "NO", home: "cn" })),
        { build: INCIDENT_BUILD.number },
      );
      other = await t.provision([{ market: "NO" }, { market: "NO" }, { market: "CN" }]);
      const ship = async (spec: typeof INCIDENT_BUILD, force: boolean) => {
        const sbom = JSON.parse(buildSbom(spec)) as object;
        const put = await control("PUT", `/v1/builds/${spec.number}`, {
          model: "TA-1062",
          variant: "00WW",
          lineage: "00WW_3_39B",
          sbom,
        });
        assert.equal(put.status, 200, JSON.stringify(put.body));
        const released = await control(
          "POST",
          `/v1/builds/${spec.number}/release`,
          force ? { force: { reason: "the incident's build, as it shipped" } } : {},
        );
        assert.equal(released.status, 200, JSON.stringify(released.body));
      };
      await ship(INCIDENT_BUILD, true);
      await ship(FIXED_BUILD, false);
      // The incident's legacy client: it seals to cn and posts there, whatever the SDK would say.
      for (const d of affected.slice(0, 2)) {
        const answer = await post(`${url("cn")}/v1/activations`, await buildEnvelope(d));
        assert.equal(answer.status, 403);
        assert.equal(answer.body.error?.code, "region.misrouted");
      }
    });
    after(async () => {
      await t?.close();
    });

    test("a misrouting alert opens one incident for exactly its batch, with the data and where it went", async () => {
      assert.equal((await control("POST", "/v1/incidents/sweep", undefined, null)).status, 401);
      const sweep = await control<Sweep>("POST", "/v1/incidents/sweep");
      assert.equal(sweep.status, 200, JSON.stringify(sweep.body));
      assert.equal(sweep.body.opened.length, 1);
      incident = sweep.body.opened[0] as Incident;
      const batchA = await batchOf(affected[0] as DeviceIdentity);
      assert.equal(incident.source, "misrouting");
      assert.deepEqual(incident.scope.batches, [batchA]);
      assert.deepEqual(incident.scope.builds, [INCIDENT_BUILD.number]);
      assert.deepEqual(
        incident.devices.batches.map((b) => [b.batch, b.build, b.market, b.region, b.devices]),
        [[batchA, INCIDENT_BUILD.number, "NO", "global", affected.length]],
      );
      assert.equal(incident.devices.total, affected.length);
      // The gate's findings for the build name what the China client sends, and to where; the ledger of the
      // collector that refused them, what they sent (an activation: the serial number, ...).
      for (const c of [
        "user.device.device_id.imei",
        "user.device.sim.imsi",
        "user.location.precise.cell_id",
        "user.device.serial_number",
      ]) {
        assert.ok(incident.dataCategories.includes(c), c);
      }
      const destinations = incident.destinations.map((d) => `${d.kind} ${d.name}`);
      assert.ok(destinations.includes("collector cn"), destinations.join("; "));
      assert.ok(destinations.some((d) => d.startsWith("endpoint ") && d.includes("zzhc.vnet.cn")));

      const again = await control<Sweep>("POST", "/v1/incidents/sweep");
      assert.deepEqual([again.body.opened.length, again.body.known], [0, [incident.id]]);
    });

    test("an operator's incident with a bad scope is refused and changes nothing", async () => {
      const before = (await control<{ incidents: unknown[] }>("GET", "/v1/incidents")).body.incidents.length;
      const refused = async (body: object, path: string) => {
        const answer = await control<{ error: { code: string; path: string } }>("POST", "/v1/incidents", {
          title: "A report",
          description: "An operator's report",
          ...body,
        });
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.deepEqual([answer.body.error.code, answer.body.error.path], ["incident.invalid", path]);
      };
      await refused({ scope: {} }, "/scope");
      await refused({ scope: { batches: ["NOSUCHBATCH"] } }, "/scope/batches/0");
      await refused({ scope: { builds: ["00WW_9_99Z_SP01"] } }, "/scope/builds/0");
      await refused({ scope: { markets: ["IS"] } }, "/scope");
      await refused({ scope: { markets: ["NO"] }, dataCategories: ["user.mood"] }, "/dataCategories/0");
      await refused(
        { scope: { markets: ["NO"], from: "2030-01-01T00:00:00Z", to: "2029-01-01T00:00:00Z" } },
        "/scope/to",
      );
      await refused({ scope: { markets: ["NO"], to: "2000-01-01T00:00:00Z" } }, "/scope");
      assert.equal((await control("GET", "/v1/incidents/INC-999")).status, 404);
      const after = (await control<{ incidents: unknown[] }>("GET", "/v1/incidents")).body.incidents.length;
      assert.equal(after, before);
    });

    test("an operator opens an incident by market and build; the gate adds nothing for a build it passed", async () => {
      const opened = await control<Incident>("POST", "/v1/incidents", {
        title: "Service manuals printed with serial numbers",
        description:
          "An operator's report: a print run listed the serials of the Norway phones on the fixed build.",
        scope: {
          markets: ["NO"],
          builds: [FIXED_BUILD.number],
          to: new Date(Date.now() + 60_000).toISOString(),
        },
        dataCategories: ["user.device.serial_number"],
        destinations: [{ kind: "other", name: "a print shop", note: "printed, not sent" }],
      });
      assert.equal(opened.status, 200, JSON.stringify(opened.body));
      assert.equal(opened.body.source, "operator");
      const norwayOnFix = other.filter((d) => d.market === "NO");
      assert.equal(opened.body.devices.total, norwayOnFix.length);
      assert.deepEqual(opened.body.dataCategories, ["user.device.serial_number"]);
      assert.deepEqual(
        opened.body.destinations.map((d) => d.name),
        ["a print shop"],
      );
      assert.equal(
        (await control("PATCH", `/v1/incidents/${opened.body.id}`, { status: "closed" })).status,
        200,
      );
    });

    test("a notice reaches exactly the incident's devices at their next check-in, delivered and shown once", async () => {
      const sent = await control<{ id: string; regions: Record<string, { devices: number }> }>(
        "POST",
        `/v1/incidents/${incident.id}/notices`,
        { title: "Your phone sent data abroad", body: "Install build 00WW_3_39B_SP03; nothing was stored." },
      );
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.deepEqual(sent.body.regions.global?.devices, affected.length);

      // Through the SDK: the notice comes with the first check-in, and is shown once.
      const queueDir = mkdtempSync(join(tmpdir(), "phonehome-notices-"));
      try {
        const device = affected[0] as DeviceIdentity;
        const client = new PhoneHomeClient({
          identity: fixed(device),
          queueDir,
          retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
        });
        const first = await client.checkForUpdate();
        assert.deepEqual(
          first.notices.map((n) => [n.id, n.incident, n.title]),
          [[sent.body.id, incident.id, "Your phone sent data abroad"]],
        );
        assert.equal((await client.checkForUpdate()).notices.length, 0, "shown once");
        assert.deepEqual(
          (await client.notices()).map((n) => n.id),
          [sent.body.id],
        );
      } finally {
        rmSync(queueDir, { recursive: true, force: true });
      }
      // The region gives it again for a while (a lost answer is made good) but counts the device once.
      const second = affected[1] as DeviceIdentity;
      assert.deepEqual(
        (await checkIn(second)).notices.map((n) => n.id),
        [sent.body.id],
      );
      assert.deepEqual(
        (await checkIn(second)).notices.map((n) => n.id),
        [sent.body.id],
      );
      // Devices outside the incident get nothing.
      for (const d of other.filter((x) => x.market === "NO"))
        assert.deepEqual((await checkIn(d)).notices, []);

      const read = await control<Incident>("GET", `/v1/incidents/${incident.id}`);
      assert.deepEqual(read.body.notices[0]?.delivery, {
        devices: affected.length,
        delivered: 2,
        missing: [],
      });
      // The owner sees the notice in the access export, and an erasure keeps it as proof they were told.
      const owner = { authorization: `Bearer ${await mintOwnerToken(second)}` };
      const exported = (await (await fetch(`${url("global")}/v1/owner/data`, { headers: owner })).json()) as {
        notices: { id: string; deliveredAt: string | null }[];
      };
      assert.deepEqual(
        exported.notices.map((n) => [n.id, n.deliveredAt !== null]),
        [[sent.body.id, true]],
      );
      const summary = (await (
        await fetch(`${url("global")}/v1/owner/summary`, { headers: owner })
      ).json()) as {
        summary: string;
      };
      assert.ok(summary.summary.includes(`about incident ${incident.id}`), summary.summary);
      const erased = (await (
        await fetch(`${url("global")}/v1/owner/data`, { method: "DELETE", headers: owner })
      ).json()) as { receipt: { kept: { collection: string; count: number; legalBasis: string }[] } };
      const kept = erased.receipt.kept.find((k) => k.collection === "notice_deliveries");
      assert.deepEqual([kept?.count, kept?.legalBasis], [1, "legal_obligation"]);
      // Handing it over again tells nobody twice.
      const resent = await control("POST", `/v1/incidents/${incident.id}/notices/${sent.body.id}/send`);
      assert.equal(resent.status, 200);
      assert.deepEqual(
        (await control<Incident>("GET", `/v1/incidents/${incident.id}`)).body.notices[0]?.delivery,
        {
          devices: affected.length,
          delivered: 2,
          missing: [],
        },
      );
    });

    test("the regulator report's counts are the ledgers' counts", async () => {
      // One affected device, updated, activates at home: the report must count what was stored too.
      const updated = fixed({ ...(affected[2] as DeviceIdentity), build: INCIDENT_BUILD.number });
      assert.equal((await post(`${url("global")}/v1/activations`, await buildEnvelope(updated))).status, 201);
      const published = await control("POST", "/v1/advisories", {
        id: "PH-2019-0001",
        title: "Activation data of a Norway batch sent to a server in China",
        description: "One batch shipped with the China variant's self-registration client.",
        affects: [{ model: "TA-1062", variant: "00WW" }],
        fixes: [FIXED_BUILD.number],
      });
      assert.equal(published.status, 200, JSON.stringify(published.body));
      assert.equal(
        (await control("PATCH", `/v1/incidents/${incident.id}`, { advisory: "PH-2019-0001" })).status,
        200,
      );

      const report = (await control<IncidentReport>("GET", `/v1/incidents/${incident.id}/report`)).body;
      const batchA = incident.scope.batches[0] as string;
      const cn = await ledgerOf("cn", batchA);
      const global = await ledgerOf("global", batchA);
      const inReport = (region: string) => report.storage.regions.find((r) => r.region === region);
      assert.deepEqual(
        [inReport("cn")?.stored, inReport("cn")?.replayed, inReport("cn")?.refused],
        [cn.stored, cn.replayed, cn.refused],
      );
      assert.deepEqual(
        [inReport("global")?.stored, inReport("global")?.replayed, inReport("global")?.refused],
        [global.stored, global.replayed, global.refused],
      );
      assert.equal(cn.refused, 2);
      assert.equal(inReport("cn")?.reasons["region.misrouted"], 2);
      assert.equal(report.storage.stored, cn.stored + global.stored);
      assert.ok(global.stored >= 1, "the update check and the activation at home were stored");
      assert.equal(report.devices.total, affected.length);
      assert.deepEqual(report.devices.markets, [
        { market: "NO", region: "global", devices: affected.length },
      ]);
      assert.deepEqual(
        report.alerts.map((a) => [a.region, a.batch, a.count]),
        [["cn", batchA, 2]],
      );
      const gate = report.measures.builds.find((b) => b.number === INCIDENT_BUILD.number);
      assert.equal(gate?.gate, "blocked");
      assert.ok(gate?.findings.includes("component.not_allowed"));
      assert.deepEqual(
        report.measures.advisory?.fixes.map((f) => f.build),
        [FIXED_BUILD.number],
      );
      assert.deepEqual(
        report.notices.map((n) => [n.devices, n.delivered]),
        [[affected.length, 2]],
      );
      assert.deepEqual(report.unanswered, []);
      // The timeline is in time order and starts no later than the first refusal.
      const times = report.timeline.map((e) => e.at);
      assert.deepEqual(times, [...times].sort());

      const markdown = await fetch(
        `${t.system.controlPlane.url}/v1/incidents/${incident.id}/report?format=markdown`,
        {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        },
      );
      assert.match(markdown.headers.get("content-type") ?? "", /^text\/markdown/);
      const text = await markdown.text();
      assert.ok(text.startsWith(`# Incident report ${incident.id}:`));
      assert.ok(text.includes(`| ${batchA} | ${INCIDENT_BUILD.number} | NO | global | ${affected.length} |`));
    });

    test("the incident commands read the running control plane; a wrong id is a clear error", async () => {
      const dir = mkdtempSync(join(tmpdir(), "phonehome-incident-cli-"));
      try {
        const configFile = join(dir, "phonehome.yaml");
        writeCliConfig(t, configFile);
        const cli = (...args: string[]) => phonehomeAsync(["--config", configFile, "incident", ...args]);
        const list = await cli("list", "--json");
        assert.equal(list.status, 0, list.stderr);
        const listed = (JSON.parse(list.stdout) as { incidents: { id: string; devices: number }[] })
          .incidents;
        assert.equal(listed.find((i) => i.id === incident.id)?.devices, affected.length);
        const output = join(dir, "report.json");
        const report = await cli("report", incident.id, "--format", "json", "--output", output);
        assert.equal(report.status, 0, report.stderr);
        const written = JSON.parse(readFileSync(output, "utf8")) as IncidentReport;
        assert.equal(written.incident.id, incident.id);
        assert.equal(written.devices.total, affected.length);
        const markdown = await cli("report", incident.id);
        assert.ok(markdown.stdout.startsWith(`# Incident report ${incident.id}:`));
        const missing = await cli("report", "INC-999");
        assert.notEqual(missing.status, 0);
        assert.match(missing.stderr, /^error \[incident\.not_found\]: no incident INC-999/);
        const malformed = await cli("report", "incident-1");
        assert.match(malformed.stderr, /^error \[request\.invalid\]/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a closed incident sends no more notices", async () => {
      assert.equal(
        (await control("PATCH", `/v1/incidents/${incident.id}`, { status: "closed" })).status,
        200,
      );
      const refused = await control<{ error: { code: string } }>(
        "POST",
        `/v1/incidents/${incident.id}/notices`,
        {
          title: "Again",
          body: "Again",
        },
      );
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error.code, "incident.invalid");
    });

    async function batchOf(d: DeviceIdentity): Promise<string> {
      const answer = await control<{ batch: string }>("GET", `/v1/fleet/devices/${d.serial}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.batch;
    }
  });
}

describe("the control plane's alert sweep on its timer", { skip: pgliteBackend.skip }, () => {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem(pgliteBackend, { extra: { incidents: { sweepIntervalSeconds: 1 } } });
  });
  after(async () => {
    await t?.close();
  });

  test("opens an incident for a new misrouting alert without being asked", async () => {
    const [device] = await t.provision([{ market: "FI", home: "cn" }]);
    const cn = t.system.regions.find((r) => r.id === "cn")?.url ?? "";
    assert.equal(
      (await post(`${cn}/v1/activations`, await buildEnvelope(device as DeviceIdentity))).status,
      403,
    );
    let listed: { id: string; source: string; devices: number }[] = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      listed = (await callControlPlane<{ incidents: typeof listed }>(t, "GET", "/v1/incidents")).body
        .incidents;
    }
    assert.deepEqual(
      listed.map((i) => [i.source, i.devices]),
      [["misrouting", 1]],
    );
  });
});
