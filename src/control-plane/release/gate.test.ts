/**
 * The release gate on real CycloneDX documents (written by the CycloneDX
 * library, validated by its schema): the incident's build is blocked for the
 * worldwide variant and passes for the China variant; each reason on its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../core/config/index.ts";
import { type Dictionary, loadDictionary } from "../../core/dictionary/index.ts";
import { isPhoneHomeError } from "../../core/errors/index.ts";
import { REGIONS, SHIPPED_DICTIONARY, sampleDoc, tempDictionary } from "../../../test/helpers/dictionary.ts";
import { type BuildSpec, buildSbom, type ComponentSpec } from "./build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "./examples.ts";
import { checkRelease, type GateContext, parseEndpoint, type ReleaseTarget } from "./gate.ts";
import { loadPackagePolicy, packagePolicyOf } from "./policy.ts";
import { readSbom } from "./sbom.ts";

const WORLDWIDE: ReleaseTarget = { model: "TA-1062", variant: "00WW", region: "global" };
const CHINA: ReleaseTarget = { model: "TA-1062", variant: "00CN", region: "cn" };
const COLLECTORS = new Map([
  ["global", "https://collector.global.example.com"],
  ["cn", "https://collector.cn.example.cn"],
]);

const shipped = (): GateContext => ({
  policy: loadPackagePolicy(join(PACKAGE_ROOT, "policy", "packages.yaml")),
  dictionary: loadDictionary(SHIPPED_DICTIONARY, { regions: [...REGIONS] }).dictionary,
  collectors: COLLECTORS,
});

async function check(build: BuildSpec, target: ReleaseTarget, ctx: GateContext = shipped()) {
  return checkRelease(await readSbom(buildSbom(build)), target, ctx);
}

function one(component: ComponentSpec): BuildSpec {
  return { number: "TEST_1", product: "TA-1062 test", components: [component] };
}

describe("release gate", () => {
  it("blocks the incident's build for the worldwide variant, naming the China client and its endpoint", async () => {
    const verdict = await check(INCIDENT_BUILD, WORLDWIDE);
    assert.equal(verdict.passed, false);
    assert.deepEqual(verdict.subject, { name: "TA-1062 00WW", version: "00WW_3_39B_SP02" });
    assert.equal(verdict.components, 4);
    assert.deepEqual(
      verdict.findings.map((f) => [f.code, f.component, f.endpoint ?? null]),
      [
        ["component.not_allowed", "com.qualcomm.qti.autoregistration", null],
        ["endpoint.unapproved", "com.qualcomm.qti.autoregistration", "zzhc.vnet.cn"],
      ],
    );
    assert.match(
      verdict.findings[0]?.message ?? "",
      /only in variants of region cn; TA-1062\/00WW belongs to region global/,
    );
    assert.match(verdict.findings[0]?.pointer ?? "", /^\/components\/\d+$/);
  });

  it("passes the same SBOM for the China variant", async () => {
    const verdict = await check(INCIDENT_BUILD, CHINA);
    assert.deepEqual(verdict.findings, []);
    assert.equal(verdict.passed, true);
  });

  it("passes the fixed build for the worldwide variant", async () => {
    assert.equal((await check(FIXED_BUILD, WORLDWIDE)).passed, true);
  });

  it("component.not_allowed: a component's own allowed-variant property binds too", async () => {
    const verdict = await check(
      one({ name: "com.example.cnonly", version: "1", allowedVariants: ["TA-1062/00CN"] }),
      WORLDWIDE,
    );
    assert.deepEqual(
      verdict.findings.map((f) => f.code),
      ["component.not_allowed"],
    );
    assert.match(verdict.findings[0]?.message ?? "", /only in variants TA-1062\/00CN, not TA-1062\/00WW/);
    assert.equal(
      (await check(one({ name: "com.example.cnonly", version: "1", allowedVariants: ["00CN"] }), CHINA))
        .passed,
      true,
    );
  });

  it("endpoint.unapproved: another region's collector, by its own name", async () => {
    const verdict = await check(
      one({
        name: "com.example.app",
        version: "1",
        endpoints: ["https://collector.cn.example.cn/v1/activations"],
      }),
      WORLDWIDE,
    );
    assert.deepEqual(
      verdict.findings.map((f) => f.code),
      ["endpoint.unapproved"],
    );
    assert.match(
      verdict.findings[0]?.message ?? "",
      /the collector of region cn; devices of TA-1062\/00WW belong to region global/,
    );
    const own = await check(
      one({ name: "com.example.app", version: "1", endpoints: ["https://collector.global.example.com"] }),
      WORLDWIDE,
    );
    assert.equal(own.passed, true);
  });

  it("endpoint.unapproved: a host nobody approved, and one approved only for another region", async () => {
    const unknown = await check(
      one({ name: "com.example.ads", version: "2", endpoints: ["https://tracker.example.net/collect"] }),
      WORLDWIDE,
    );
    assert.deepEqual(
      unknown.findings.map((f) => [f.code, f.endpoint]),
      [["endpoint.unapproved", "https://tracker.example.net/collect"]],
    );
    const elsewhere = await check(
      one({ name: "com.example.reg", version: "1", endpoints: ["https://zzhc.vnet.cn"] }),
      WORLDWIDE,
    );
    assert.deepEqual(
      elsewhere.findings.map((f) => f.code),
      ["endpoint.unapproved"],
    );
    assert.equal(
      (
        await check(
          one({ name: "com.example.reg", version: "1", endpoints: ["https://zzhc.vnet.cn"] }),
          CHINA,
        )
      ).passed,
      true,
    );
    const garbage = await check(
      one({ name: "com.example.odd", version: "1", endpoints: ["http://"] }),
      WORLDWIDE,
    );
    assert.match(garbage.findings[0]?.message ?? "", /neither a URL nor a host/);
  });

  it("endpoint.plaintext: plain http off this machine, never on loopback", async () => {
    const verdict = await check(
      one({ name: "com.example.app", version: "1", endpoints: ["http://time.android.com/"] }),
      WORLDWIDE,
    );
    assert.deepEqual(
      verdict.findings.map((f) => f.code),
      ["endpoint.plaintext"],
    );
    const ctx = {
      ...shipped(),
      collectors: new Map([
        ["global", "http://127.0.0.1:8401"],
        ["cn", "http://127.0.0.1:8402"],
      ]),
    };
    const local = await check(
      one({ name: "org.phonehome.sdk", version: "0.1.0", endpoints: ["http://127.0.0.1:8401"] }),
      WORLDWIDE,
      ctx,
    );
    assert.equal(local.passed, true, JSON.stringify(local.findings));
    const other = await check(
      one({ name: "org.phonehome.sdk", version: "0.1.0", endpoints: ["http://127.0.0.1:8402"] }),
      WORLDWIDE,
      ctx,
    );
    assert.deepEqual(
      other.findings.map((f) => f.code),
      ["endpoint.unapproved"],
      "the port tells the collectors apart",
    );
  });

  it("collection.unapproved: a collection the dictionary does not have, or a version it does not have", async () => {
    const verdict = await check(
      one({
        name: "com.example.app",
        version: "1",
        collections: ["location.history", "activation@9", "activation"],
      }),
      WORLDWIDE,
    );
    assert.deepEqual(verdict.findings.map((f) => [f.code, f.collection]).sort(), [
      ["collection.unapproved", "activation@9"],
      ["collection.unapproved", "location.history"],
    ]);
  });

  describe("with a dictionary of its own", () => {
    const dict = tempDictionary();
    let dictionary: Dictionary;
    before(() => {
      const chinaOnly = sampleDoc({ regions: ["cn"] });
      for (const field of Object.values(chinaOnly.fields)) if ("regions" in field) field.regions = ["cn"];
      dict.write("sample/v1.yaml", chinaOnly);
      const { approval: _approval, ...unapproved } = sampleDoc({ collection: "draft" });
      dict.write("draft/v1.yaml", unapproved);
      dictionary = loadDictionary(dict.dir, { regions: [...REGIONS] }).dictionary;
    });
    after(() => dict.cleanup());

    it("collection.unapproved for a version without approval, collection.not_allowed off its regions", async () => {
      const ctx = { ...shipped(), dictionary };
      const verdict = await check(
        one({ name: "com.example.app", version: "1", collections: ["draft@1", "sample@1"] }),
        WORLDWIDE,
        ctx,
      );
      assert.deepEqual(
        verdict.findings.map((f) => [f.code, f.collection]),
        [
          ["collection.unapproved", "draft@1"],
          ["collection.not_allowed", "sample@1"],
        ],
      );
      assert.match(verdict.findings[1]?.message ?? "", /may not be stored in region global/);
      const china = await check(
        one({ name: "com.example.app", version: "1", collections: ["sample"] }),
        CHINA,
        ctx,
      );
      assert.equal(china.passed, true);
    });
  });
});

describe("parseEndpoint", () => {
  it("reads URLs and bare hosts, ports kept and default ports dropped", () => {
    assert.deepEqual(parseEndpoint("https://Collector.Example.com:443/v1"), {
      scheme: "https",
      host: "collector.example.com",
      hostname: "collector.example.com",
    });
    assert.deepEqual(parseEndpoint("http://127.0.0.1:8401"), {
      scheme: "http",
      host: "127.0.0.1:8401",
      hostname: "127.0.0.1",
    });
    assert.deepEqual(parseEndpoint("zzhc.vnet.cn"), {
      scheme: null,
      host: "zzhc.vnet.cn",
      hostname: "zzhc.vnet.cn",
    });
    assert.equal(parseEndpoint("http://"), null);
    assert.equal(parseEndpoint("user:pw@host"), null);
  });
});

describe("readSbom", () => {
  const refused = async (text: string, pattern: RegExp) =>
    assert.rejects(
      readSbom(text),
      (e) => isPhoneHomeError(e, "release.sbom_invalid") && pattern.test(e.message),
    );

  it("refuses what is not a CycloneDX JSON SBOM it reads, saying why", async () => {
    await refused("{not json", /not JSON/);
    await refused("[]", /not a JSON object/);
    await refused(JSON.stringify({ bomFormat: "SPDX" }), /bomFormat must be "CycloneDX"/);
    await refused(
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.2" }),
      /specVersion "1.2" is not one/,
    );
  });

  it("lists the CycloneDX schema's complaints", async () => {
    await assert.rejects(
      readSbom(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.6", components: [{ name: "x" }] })),
      (e) =>
        isPhoneHomeError(e, "release.sbom_invalid") &&
        e.problems?.some((p) => p.path === "/components/0" && /type/.test(p.message)) === true,
    );
  });

  it("reads nested components and repeated properties", async () => {
    const text = JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      components: [
        {
          type: "application",
          name: "outer",
          properties: [
            { name: "phonehome:endpoint", value: "https://a.example" },
            { name: "phonehome:endpoint", value: "https://b.example" },
            { name: "other:thing", value: "x" },
          ],
          components: [{ type: "library", name: "inner", version: "2" }],
        },
      ],
    });
    const sbom = await readSbom(text);
    assert.deepEqual(
      sbom.components.map((c) => [c.pointer, c.name, c.endpoints]),
      [
        ["/components/0", "outer", ["https://a.example", "https://b.example"]],
        ["/components/0/components/0", "inner", []],
      ],
    );
  });
});

describe("package policy", () => {
  it("refuses a policy that does not match its schema, listing every fault", () => {
    assert.throws(
      () =>
        packagePolicyOf(
          { version: 1, packages: [{ name: "a", regions: ["Not A Region"] }, { nam: "b" }] },
          "test.yaml",
        ),
      (e) => isPhoneHomeError(e, "release.policy_invalid") && (e.problems?.length ?? 0) >= 2,
    );
    assert.throws(
      () => packagePolicyOf({ version: 1, packages: [{ name: "a" }, { name: "a" }] }, "test.yaml"),
      (e) =>
        isPhoneHomeError(e, "release.policy_invalid") && e.problems?.[0]?.message === "a is listed twice",
    );
    assert.throws(
      () => loadPackagePolicy("/nonexistent/packages.yaml"),
      (e) => isPhoneHomeError(e, "release.policy_invalid"),
    );
  });
});
