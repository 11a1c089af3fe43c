/**
 * Advisories and "is my device fixed?", on PGlite and PostgreSQL: a fix that
 * ships in two lineages at once (the incident's 00WW_3_39B_SP03 and
 * 00WW_3_22C_SP05), looked up by build number: fixed, not fixed, not
 * affected, unknown build.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Lookup {
  status: string;
  advisories: { advisory: { id: string }; status: string; fixedIn: string | null }[];
}

const ADVISORY = {
  id: "PH-2019-0001",
  title: "Activation data of a Norway batch sent to a server in China",
  description:
    "One batch shipped with the China variant's self-registration client, which sent IMEI, SIM numbers and cell location in plain HTTP to zzhc.vnet.cn.",
  affects: [{ model: "TA-1062", variant: "00WW" }],
  fixes: ["00WW_3_39B_SP03", "00WW_3_22C_SP05"],
};

for (const backend of BACKENDS) {
  describe(`advisories on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    const control = <T>(method: string, path: string, body?: unknown, token?: string | null) =>
      callControlPlane<T>(t, method, path, body, token);
    const ship = async (number: string, variant = "00WW", force = false) => {
      const sbom = JSON.parse(buildSbom({ ...(force ? INCIDENT_BUILD : FIXED_BUILD), number })) as object;
      const lineage = number.split("_").slice(0, 3).join("_");
      assert.equal(
        (await control("PUT", `/v1/builds/${number}`, { model: "TA-1062", variant, lineage, sbom })).status,
        200,
      );
      const release = await control(
        "POST",
        `/v1/builds/${number}/release`,
        force ? { force: { reason: "the incident's build, as it shipped" } } : {},
      );
      assert.equal(release.status, 200, JSON.stringify(release.body));
      await new Promise((resolve) => setTimeout(resolve, 3)); // each release strictly later than the last
    };
    const lookup = async (build: string) =>
      (await control<Lookup>("GET", `/v1/lookup/${build}`, undefined, null)).body;

    let devices: DeviceIdentity[];
    before(async () => {
      t = await startTestSystem(backend);
      devices = await t.provision([{ market: "NO" }, { market: "NO" }, { market: "NO" }, { market: "CN" }]);
      await ship("00WW_3_39B_SP02", "00WW", true);
      await ship("00WW_3_22C_SP04");
      await ship("00WW_3_39B_SP03");
      await ship("00WW_3_22C_SP05");
      await ship("00WW_3_39B_SP04");
      await ship("00CN_3_39B_SP03", "00CN");
      await ship("00WW_3_40A_SP01"); // a lineage the advisory names no fix for
    });
    after(async () => {
      await t?.close();
    });

    test("publishing needs the service token and builds that can carry the fix", async () => {
      assert.equal((await control("POST", "/v1/advisories", ADVISORY, null)).status, 401);
      const refused = async (body: object, path: string) => {
        const answer = await control<{ error: { code: string; path: string } }>("POST", "/v1/advisories", {
          ...ADVISORY,
          ...body,
        });
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.deepEqual([answer.body.error.code, answer.body.error.path], ["advisory.invalid", path]);
      };
      await refused({ fixes: ["00WW_9_99Z_SP01"] }, "/fixes/0");
      await refused({ fixes: ["00WW_3_39B_SP03", "00WW_3_39B_SP04"] }, "/fixes/1");
      await refused({ fixes: ["00CN_3_39B_SP03"] }, "/fixes/0");
      const published = await control<{ fixes: { lineage: string; build: string }[] }>(
        "POST",
        "/v1/advisories",
        ADVISORY,
      );
      assert.equal(published.status, 200, JSON.stringify(published.body));
      assert.deepEqual(
        published.body.fixes.map((f) => [f.lineage, f.build]),
        [
          ["00WW_3_22C", "00WW_3_22C_SP05"],
          ["00WW_3_39B", "00WW_3_39B_SP03"],
        ],
      );
      await refused({}, "/id");
      assert.equal(
        (await control<{ advisories: unknown[] }>("GET", "/v1/advisories", undefined, null)).body.advisories
          .length,
        1,
      );
    });

    test("is my device fixed? across two lineages, another variant and an unknown build", async () => {
      const expect = async (build: string, status: string, fixedIn: string | null) => {
        const answer = await lookup(build);
        assert.equal(answer.status, status, `${build}: ${JSON.stringify(answer)}`);
        if (status !== "unknown build") {
          assert.deepEqual(
            answer.advisories.map((a) => [a.advisory.id, a.status, a.fixedIn]),
            [["PH-2019-0001", status, fixedIn]],
          );
        }
      };
      await expect("00WW_3_39B_SP02", "not fixed", "00WW_3_39B_SP03");
      await expect("00WW_3_39B_SP03", "fixed", "00WW_3_39B_SP03");
      await expect("00WW_3_39B_SP04", "fixed", "00WW_3_39B_SP03");
      await expect("00WW_3_22C_SP04", "not fixed", "00WW_3_22C_SP05");
      await expect("00WW_3_22C_SP05", "fixed", "00WW_3_22C_SP05");
      await expect("00WW_3_40A_SP01", "not fixed", null);
      await expect("00CN_3_39B_SP03", "not affected", null);
      const unknown = await lookup("00WW_9_99Z_SP01");
      assert.deepEqual(unknown, { build: "00WW_9_99Z_SP01", status: "unknown build", advisories: [] });
    });

    test("adoption: per day, batch and market, the share of active devices on a fixed build", async () => {
      const [a, b, c, cn] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity, DeviceIdentity];
      const checkIn = async (device: DeviceIdentity, build: string) => {
        const region = t.system.regions.find((r) => r.id === device.home.region);
        assert.ok(region);
        const answer = await post(
          `${region.url}/v1/updates/check`,
          await buildEnvelope(device, {
            payload: { build },
            header: { collection: "update.check", schemaVersion: 1, build },
          }),
        );
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
      };
      await checkIn(a, "00WW_3_39B_SP02");
      await checkIn(a, "00WW_3_39B_SP02"); // twice the same day: one device
      await checkIn(b, "00WW_3_39B_SP02");
      await checkIn(c, "00WW_3_39B_SP03");
      await checkIn(cn, "00CN_3_39B_SP03");
      const today = new Date().toISOString().slice(0, 10);
      type Report = {
        regions: { answered: string[]; missing: unknown[] };
        days: { batch: string; market: string; devices: number; fixed: number; share: number }[];
        builds: { build: string; devices: number; status: string }[];
      };
      const adoption = async () =>
        (await control<Report>("GET", `/v1/adoption?advisory=PH-2019-0001&since=${today}`)).body;
      let report = await adoption();
      assert.deepEqual(report.regions, { answered: ["cn", "global"], missing: [] });
      assert.deepEqual(
        report.days.map((d) => [d.market, d.devices, d.fixed, d.share]),
        [
          ["CN", 1, 0, 0],
          ["NO", 3, 1, 0.3333],
        ].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)),
      );
      assert.deepEqual(
        report.builds.map((x) => [x.build, x.devices, x.status]),
        [
          ["00CN_3_39B_SP03", 1, "not affected"],
          ["00WW_3_39B_SP02", 2, "not fixed"],
          ["00WW_3_39B_SP03", 1, "fixed"],
        ],
      );
      // a updates the same day: it moves to the fixed build, still one device.
      await checkIn(a, "00WW_3_39B_SP03");
      report = await adoption();
      assert.deepEqual(
        report.days.find((d) => d.market === "NO"),
        { ...report.days.find((d) => d.market === "NO"), devices: 3, fixed: 2 },
      );
      assert.equal(
        (await control("GET", `/v1/adoption?advisory=PH-2019-0001&since=${today}`, undefined, null)).status,
        401,
      );
      // A date the pattern admits but the calendar has not: refused, in the control plane and in a region.
      const feb31 = await control<{ error: { code: string } }>(
        "GET",
        "/v1/adoption?advisory=PH-2019-0001&since=2026-02-31",
      );
      assert.deepEqual([feb31.status, feb31.body.error.code], [400, "request.invalid"]);
      const global = t.system.regions.find((r) => r.id === "global");
      assert.ok(global);
      const direct = await fetch(`${global.url}/v1/adoption?since=2026-02-31`, {
        headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
      });
      assert.equal(direct.status, 400);

      // The build a device reported is its owner's to see and to erase; the day counts name no device and stay.
      const region = t.system.regions.find((r) => r.id === "global");
      assert.ok(region);
      const owner = { authorization: `Bearer ${await mintOwnerToken(a)}` };
      const exported = (await (await fetch(`${region.url}/v1/owner/data`, { headers: owner })).json()) as {
        records: { collection: string; fields: { name: string; value: unknown; purpose: string }[] }[];
      };
      assert.deepEqual(
        exported.records.filter((r) => r.collection === "update.check").map((r) => r.fields),
        [
          [
            {
              ...exported.records.find((r) => r.collection === "update.check")?.fields[0],
              name: "build",
              value: "00WW_3_39B_SP03",
              purpose: "essential.service.upgrades",
            },
          ],
        ],
      );
      const erased = (await (
        await fetch(`${region.url}/v1/owner/data`, { method: "DELETE", headers: owner })
      ).json()) as {
        receipt: { deleted: { collection: string; count: number }[] };
      };
      assert.equal(erased.receipt.deleted.find((d) => d.collection === "device_builds")?.count, 1);
      // The erasure ended the token it was asked with: what is left is read with a new one.
      const again = { authorization: `Bearer ${await mintOwnerToken(a)}` };
      const after = (await (await fetch(`${region.url}/v1/owner/data`, { headers: again })).json()) as {
        records: { collection: string }[];
      };
      assert.equal(after.records.filter((r) => r.collection === "update.check").length, 0);
      assert.equal((await adoption()).days.find((d) => d.market === "NO")?.devices, 3);
    });
  });
}
