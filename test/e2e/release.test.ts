/**
 * The release gate on the control plane, on PGlite and PostgreSQL: checking
 * an SBOM, registering a build with its verdict, and releasing it — refused
 * while the gate blocks it (unless forced with a reason), refused without a
 * manifest, and the manifest frozen once released.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Answer {
  error?: { code: string; problems?: { path: string; message: string }[] };
  passed?: boolean;
  findings?: { code: string; component: string }[];
  target?: { region: string };
  build?: {
    number: string;
    lineage: string | null;
    releasedAt: string | null;
    manifest: { passed: boolean; sbomSha256: string; findings: unknown[] } | null;
    releaseForced: { reason: string; findings: number } | null;
  };
  verdict?: { passed: boolean };
}

const incident = JSON.parse(buildSbom(INCIDENT_BUILD)) as object;
const fixed = JSON.parse(buildSbom(FIXED_BUILD)) as object;

for (const backend of BACKENDS) {
  describe(`release gate on the control plane (${backend.name})`, { skip: backend.skip }, () => {
    let t: TestSystem;
    const call = (method: string, path: string, body?: unknown, token?: string | null) =>
      callControlPlane<Answer>(t, method, path, body, token);

    /** Registers build `number` of TA-1062 `variant` in lineage 00WW_3_39B with `sbom`. */
    const register = (number: string, variant: string, sbom: object) =>
      call("PUT", `/v1/builds/${number}`, { model: "TA-1062", variant, lineage: "00WW_3_39B", sbom });

    before(async () => {
      t = await startTestSystem(backend);
      await t.provision([{ market: "NO" }, { market: "CN" }]);
    });
    after(async () => {
      await t?.close();
    });

    test("checks an SBOM for a variant: blocked for 00WW, passed for 00CN, nothing stored", async () => {
      assert.equal(
        (await call("POST", "/v1/release-checks", { variant: "TA-1062/00WW", sbom: incident }, null)).status,
        401,
      );
      const worldwide = await call("POST", "/v1/release-checks", { variant: "TA-1062/00WW", sbom: incident });
      assert.equal(worldwide.status, 200, JSON.stringify(worldwide.body));
      assert.equal(worldwide.body.passed, false);
      assert.deepEqual(
        worldwide.body.findings?.map((f) => f.code),
        ["component.not_allowed", "endpoint.unapproved"],
      );
      const china = await call("POST", "/v1/release-checks", {
        variant: "00CN",
        model: "TA-1062",
        sbom: incident,
      });
      assert.equal(china.body.passed, true);
      assert.equal(china.body.target?.region, "cn");
      assert.equal((await call("GET", "/v1/builds/00WW_3_39B_SP02")).body.error?.code, "fleet.not_found");
    });

    test("an SBOM the gate cannot read, or an unknown variant, is refused with its own code", async () => {
      const broken = await call("POST", "/v1/release-checks", {
        variant: "TA-1062/00WW",
        sbom: { bomFormat: "CycloneDX", specVersion: "1.6", components: [{ name: "no type" }] },
      });
      assert.equal(broken.status, 400);
      assert.equal(broken.body.error?.code, "release.sbom_invalid");
      assert.ok(broken.body.error?.problems?.some((p) => p.path === "/components/0"));
      const unknown = await call("POST", "/v1/release-checks", { variant: "TA-1062/00XX", sbom: fixed });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error?.code, "fleet.not_found");
    });

    test("a blocked build cannot be released; forced with a reason it can, and the reason is kept", async () => {
      const registered = await register("00WW_3_39B_SP02", "00WW", incident);
      assert.equal(registered.status, 200, JSON.stringify(registered.body));
      assert.equal(registered.body.verdict?.passed, false);
      assert.equal(registered.body.build?.manifest?.passed, false);
      assert.match(registered.body.build?.manifest?.sbomSha256 ?? "", /^[0-9a-f]{64}$/);

      const refused = await call("POST", "/v1/builds/00WW_3_39B_SP02/release", {});
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error?.code, "release.blocked");
      assert.equal(refused.body.error?.problems?.length, 2);
      assert.equal((await call("GET", "/v1/builds/00WW_3_39B_SP02")).body.build?.releasedAt, null);

      const shortReason = await call("POST", "/v1/builds/00WW_3_39B_SP02/release", {
        force: { reason: "why" },
      });
      assert.equal(shortReason.status, 400);
      const forced = await call("POST", "/v1/builds/00WW_3_39B_SP02/release", {
        force: { reason: "the demo replays the incident: this build shipped to one Norway batch" },
      });
      assert.equal(forced.status, 200, JSON.stringify(forced.body));
      assert.notEqual(forced.body.build?.releasedAt, null);
      assert.deepEqual(forced.body.build?.releaseForced, {
        reason: "the demo replays the incident: this build shipped to one Norway batch",
        findings: 2,
      });
    });

    test("a build without a manifest is not released; with a passing one it is, and its manifest is then frozen", async () => {
      // 00WW_3_39B_SP03 came with the factory file, without an SBOM.
      const unchecked = await call("POST", "/v1/builds/00WW_3_39B_SP03/release", {});
      assert.equal(unchecked.status, 409);
      assert.equal(unchecked.body.error?.code, "release.unchecked");
      const wrongVariant = await register("00WW_3_39B_SP03", "00CN", fixed);
      assert.equal(wrongVariant.status, 400);
      assert.equal(wrongVariant.body.error?.code, "request.invalid");
      const registered = await register("00WW_3_39B_SP03", "00WW", fixed);
      assert.equal(registered.body.verdict?.passed, true);
      const released = await call("POST", "/v1/builds/00WW_3_39B_SP03/release", {});
      assert.equal(released.status, 200, JSON.stringify(released.body));
      assert.equal(released.body.build?.releaseForced, null);
      assert.equal(released.body.build?.lineage, "00WW_3_39B");
      const frozen = await register("00WW_3_39B_SP03", "00WW", incident);
      assert.equal(frozen.status, 409);
      assert.equal(frozen.body.error?.code, "release.already_released");
      assert.equal((await call("GET", "/v1/builds/00WW_3_39B_SP03")).body.build?.manifest?.passed, true);
      // A later factory file that lists the build unreleased changes nothing: only the gate releases it.
      const releasedAt = released.body.build?.releasedAt;
      await t.provision([{ market: "NO" }]);
      assert.equal((await call("GET", "/v1/builds/00WW_3_39B_SP03")).body.build?.releasedAt, releasedAt);
    });
  });
}
