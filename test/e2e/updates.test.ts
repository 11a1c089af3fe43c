/**
 * Updates end to end, on PGlite and PostgreSQL: builds registered and released
 * through the control plane, devices asking their region with signed
 * envelopes, a staged rollout that reaches part of the fleet, halts by itself
 * when its failure reports pass the threshold, resumes and completes, and a
 * withdrawn build that is never offered again.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DeviceIdentity, PhoneHomeClient } from "@phonehome/sdk";
import { listLedger } from "../../src/collector/ingest/ledger.repository.ts";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { PLAN_CACHE_MS } from "../../src/collector/update-check/source.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Rollout {
  id: number;
  state: string;
  percentage: number;
  haltedReason: string | null;
  outcomes: { stage: number; installed: number; failed: number }[];
}

const settle = () => new Promise((resolve) => setTimeout(resolve, PLAN_CACHE_MS + 50));

for (const backend of BACKENDS) {
  describe(`updates on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let worldwide: DeviceIdentity[];
    let china: DeviceIdentity;
    const control = <T>(method: string, path: string, body?: unknown) =>
      callControlPlane<T>(t, method, path, body);
    const ship = async (number: string, variant: string, sbom: object) => {
      const lineage = number.split("_").slice(0, 3).join("_");
      const put = await control("PUT", `/v1/builds/${number}`, { model: "TA-1062", variant, lineage, sbom });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const released = await control("POST", `/v1/builds/${number}/release`, {});
      assert.equal(released.status, 200, JSON.stringify(released.body));
    };
    const regionUrl = (device: DeviceIdentity) => {
      const r = t.system.regions.find((x) => x.id === device.home.region);
      if (!r) throw new Error("no region");
      return r.url;
    };
    const check = async (device: DeviceIdentity, build = device.build) =>
      post(
        `${regionUrl(device)}/v1/updates/check`,
        await buildEnvelope(device, {
          payload: { build },
          header: { collection: "update.check", schemaVersion: 1 },
        }),
      );
    const offers = async (devices: DeviceIdentity[]) =>
      Promise.all(
        devices.map(async (d) => ((await check(d)).body.update as { build: string } | null)?.build ?? null),
      );
    const report = async (device: DeviceIdentity, build: string, outcome: "installed" | "failed") =>
      buildEnvelope(device, {
        payload: { build, outcome },
        header: { collection: "update.report", schemaVersion: 1 },
      });

    before(async () => {
      t = await startTestSystem(backend);
      const devices = await t.provision([
        ...Array.from({ length: 24 }, () => ({ market: "NO" })),
        { market: "CN" },
      ]);
      worldwide = devices.slice(0, 24);
      china = devices[24] as DeviceIdentity;
      // The factory builds get their manifests and are released; then a newer worldwide build.
      await ship("00WW_3_39B_SP03", "00WW", JSON.parse(buildSbom(FIXED_BUILD)) as object);
      await ship("00CN_3_39B_SP03", "00CN", JSON.parse(buildSbom(INCIDENT_BUILD)) as object);
      await new Promise((resolve) => setTimeout(resolve, 5)); // released strictly later
      await ship(
        "00WW_3_39B_SP04",
        "00WW",
        JSON.parse(buildSbom({ ...FIXED_BUILD, number: "00WW_3_39B_SP04" })) as object,
      );
      await settle();
    });
    after(async () => {
      await t?.close();
    });

    test("a released build is offered to its variant's devices, never to another variant's", async () => {
      assert.deepEqual(new Set(await offers(worldwide)), new Set(["00WW_3_39B_SP04"]));
      const cn = await check(china);
      assert.equal(cn.status, 200, JSON.stringify(cn.body));
      assert.deepEqual(cn.body, { region: "cn", update: null, reason: "up to date", notices: [] });
    });

    test("the SDK asks for an update and reports the install", async () => {
      const device = worldwide[23] as DeviceIdentity;
      const queueDir = mkdtempSync(join(tmpdir(), "phonehome-sdk-updates-"));
      try {
        const client = new PhoneHomeClient({
          identity: device,
          queueDir,
          retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
        });
        assert.deepEqual(await client.checkForUpdate(), {
          update: { build: "00WW_3_39B_SP04", lineage: "00WW_3_39B" },
          reason: "newer build",
          notices: [],
        });
        await client.reportUpdate("00WW_3_39B_SP04", "installed");
        assert.deepEqual(await client.checkForUpdate("00WW_3_39B_SP04"), {
          update: null,
          reason: "up to date",
          notices: [],
        });
        await assert.rejects(
          client.checkForUpdate("not a build"),
          (e: { code?: string }) => e.code === "sdk.rejected",
        );
      } finally {
        rmSync(queueDir, { recursive: true, force: true });
      }
    });

    test("a check whose payload names another build than its envelope is refused", async () => {
      const mismatch = await check(worldwide[0] as DeviceIdentity, "00WW_3_39B_SP02");
      assert.equal(mismatch.status, 400);
      assert.equal(mismatch.body.error?.code, "payload.device_mismatch");
      const region = t.system.regions.find((r) => r.id === "global");
      assert.ok(region);
      const ledger = await listLedger(region.db, new Date(Date.now() - 3_600_000), 100);
      assert.ok(
        ledger.some((r) => r.collection === "update.check" && r.reason === "payload.device_mismatch"),
        "the refusal is counted in the ingest ledger",
      );
    });

    test("a staged rollout reaches part of the fleet, halts by itself at its failure threshold, and resumes", async () => {
      const started = await control<Rollout>("POST", "/v1/rollouts", {
        build: "00WW_3_39B_SP04",
        stages: [50, 100],
        failureThreshold: 0.5,
        minReports: 4,
      });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.equal(started.body.state, "active");
      await settle();
      const firstStage = await offers(worldwide);
      const inStage = worldwide.filter((_, i) => firstStage[i] === "00WW_3_39B_SP04");
      assert.ok(
        inStage.length > 0 && inStage.length < worldwide.length,
        `${inStage.length} of 24 in the 50 % stage`,
      );
      assert.ok(firstStage.every((b) => b === "00WW_3_39B_SP04" || b === null));

      // Three failures and one success: 3 of 4 failed, over the 50 % threshold once 4 reports are in.
      const [a, b, c, d] = worldwide as [DeviceIdentity, DeviceIdentity, DeviceIdentity, DeviceIdentity];
      const failedA = await report(a, "00WW_3_39B_SP04", "failed");
      for (const envelope of [failedA, failedA]) {
        const answer = await post(`${regionUrl(a)}/v1/updates/report`, envelope);
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
      }
      let rollout = await control<Rollout>("GET", `/v1/rollouts/${started.body.id}`);
      assert.deepEqual(
        rollout.body.outcomes,
        [{ stage: 0, installed: 0, failed: 1 }],
        "a retried report counts once",
      );
      await post(`${regionUrl(b)}/v1/updates/report`, await report(b, "00WW_3_39B_SP04", "installed"));
      await post(`${regionUrl(c)}/v1/updates/report`, await report(c, "00WW_3_39B_SP04", "failed"));
      rollout = await control<Rollout>("GET", `/v1/rollouts/${started.body.id}`);
      assert.equal(rollout.body.state, "active", "3 reports are fewer than the 4 a stage needs to halt");
      await post(`${regionUrl(d)}/v1/updates/report`, await report(d, "00WW_3_39B_SP04", "failed"));
      rollout = await control<Rollout>("GET", `/v1/rollouts/${started.body.id}`);
      assert.equal(rollout.body.state, "halted");
      assert.match(
        rollout.body.haltedReason ?? "",
        /stage 1 \(50 %\): 3 of 4 installs failed \(75 %, threshold 50 %\)/,
      );
      await settle();
      assert.ok(
        (await offers(worldwide)).every((build) => build === null),
        "a halted rollout offers nothing",
      );

      assert.equal((await control<Rollout>("POST", `/v1/rollouts/${started.body.id}/advance`)).status, 409);
      assert.equal(
        (await control<Rollout>("POST", `/v1/rollouts/${started.body.id}/resume`)).body.state,
        "active",
      );
      const done = await control<Rollout>("POST", `/v1/rollouts/${started.body.id}/advance`);
      assert.equal(done.body.state, "complete");
      assert.equal(done.body.percentage, 100);
      await settle();
      assert.deepEqual(new Set(await offers(worldwide)), new Set(["00WW_3_39B_SP04"]));
    });

    test("a withdrawn build is never offered again", async () => {
      const withdrawn = await control("POST", "/v1/builds/00WW_3_39B_SP04/withdraw", {
        reason: "bootloops on devices with the 2019 modem firmware",
      });
      assert.equal(withdrawn.status, 204);
      await settle();
      assert.ok((await offers(worldwide)).every((build) => build === null));
      const plan = await control<{ builds: { number: string; withdrawn: boolean }[] }>(
        "GET",
        "/v1/updates/plan",
      );
      assert.equal(plan.body.builds.find((b) => b.number === "00WW_3_39B_SP04")?.withdrawn, true);
    });

    test("a withdrawn build's rollout cannot be resumed", async () => {
      const put = await control("PUT", "/v1/builds/00CN_3_39B_SP05", {
        model: "TA-1062",
        variant: "00CN",
        lineage: "00CN_3_39B",
        sbom: JSON.parse(buildSbom({ ...INCIDENT_BUILD, number: "00CN_3_39B_SP05" })) as object,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal((await control("POST", "/v1/builds/00CN_3_39B_SP05/release", {})).status, 200);
      const rollout = await control<Rollout>("POST", "/v1/rollouts", {
        build: "00CN_3_39B_SP05",
        stages: [10, 100],
      });
      assert.equal(rollout.body.state, "active");
      assert.equal(
        (await control("POST", "/v1/builds/00CN_3_39B_SP05/withdraw", { reason: "a bad modem driver" }))
          .status,
        204,
      );
      const halted = await control<Rollout>("GET", `/v1/rollouts/${rollout.body.id}`);
      assert.deepEqual(
        [halted.body.state, halted.body.haltedReason],
        ["halted", "withdrawn: a bad modem driver"],
      );
      const unsigned = await callControlPlane(t, "GET", "/v1/rollouts", undefined, null);
      assert.equal(unsigned.status, 401, "outcome counts can be one device's: not public");
      const listed = await callControlPlane<{ rollouts: Rollout[] }>(t, "GET", "/v1/rollouts");
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.rollouts[0],
        halted.body,
        "newest first, as GET /v1/rollouts/{id} shows it",
      );
      assert.deepEqual(
        listed.body.rollouts.map((r) => r.id),
        [...listed.body.rollouts.map((r) => r.id)].sort((a, b) => b - a),
      );
      const resumed = await control<{ error: { code: string; message: string } }>(
        "POST",
        `/v1/rollouts/${rollout.body.id}/resume`,
      );
      assert.equal(resumed.status, 409);
      assert.match(resumed.body.error.message, /withdrawn/);
    });

    test("refuses rollouts that cannot start", async () => {
      const unreleased = await control<{ error: { code: string } }>("POST", "/v1/rollouts", {
        build: "00WW_3_39B_SP02",
        stages: [100],
      });
      assert.equal(unreleased.status, 404);
      const badStages = await control<{ error: { code: string } }>("POST", "/v1/rollouts", {
        build: "00WW_3_39B_SP03",
        stages: [50, 20],
      });
      assert.equal(badStages.body.error.code, "request.invalid");
      const withdrawn = await control<{ error: { code: string } }>("POST", "/v1/rollouts", {
        build: "00WW_3_39B_SP04",
        stages: [100],
      });
      assert.equal(withdrawn.body.error.code, "rollout.invalid");
    });
  });
}
