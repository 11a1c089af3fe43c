/**
 * `phonehome release check` as a CI job runs it: the real binary in a child
 * process, the variants read from a control-plane store (PGlite and
 * PostgreSQL), or from a running control plane that holds its embedded store.
 * Exit codes: 0 pass, 1 blocked, 2 unusable input.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { phonehome, phonehomeAsync } from "../../../test/helpers/cli.ts";
import { pgliteBackend, BACKENDS } from "../../../test/helpers/stores.ts";
import { startTestSystem, type TestSystem, writeCliConfig } from "../../../test/helpers/system.ts";
import { openDb } from "../../core/db/index.ts";
import { migrate } from "../../core/db/migrate.ts";
import { buildSbom } from "./build-sbom.ts";
import { FIXED_BUILD, INCIDENT_BUILD } from "./examples.ts";

/** Writes the incident's SBOMs and a broken one into `dir`. */
function writeSboms(dir: string): { incident: string; fixed: string; broken: string } {
  const files = {
    incident: join(dir, "incident.cdx.json"),
    fixed: join(dir, "fixed.cdx.json"),
    broken: join(dir, "broken.cdx.json"),
  };
  writeFileSync(files.incident, buildSbom(INCIDENT_BUILD));
  writeFileSync(files.fixed, buildSbom(FIXED_BUILD));
  writeFileSync(
    files.broken,
    JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.6", components: [{ name: "no type" }] }),
  );
  return files;
}

for (const backend of BACKENDS) {
  describe(`phonehome release check (CLI, ${backend.name})`, { skip: backend.skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), "phonehome-release-cli-"));
    const configFile = join(dir, "phonehome.yaml");
    const sboms = writeSboms(dir);
    let cleanup: () => Promise<void> = async () => {};
    const check = (...args: string[]) => phonehome(["--config", configFile, "release", "check", ...args]);

    before(async () => {
      const fresh = await backend.fresh("control");
      cleanup = fresh.cleanup;
      const s = fresh.store;
      const db = await openDb(s);
      try {
        await migrate(db, "control");
        await db.query(
          `INSERT INTO models (id, name) VALUES ('TA-1062', 'Phone'), ('TA-2000', 'Other phone')`,
        );
        await db.query(
          `INSERT INTO variants (model, id, region) VALUES ('TA-1062', '00WW', 'global'), ('TA-1062', '00CN', 'cn'),
                  ('TA-2000', '00WW', 'global')`,
        );
      } finally {
        await db.close();
      }
      // YAML is a superset of JSON.
      writeFileSync(
        configFile,
        JSON.stringify({
          dataDir: dir,
          logLevel: "silent",
          controlPlane: {
            store: s.kind === "pglite" ? { dataDir: s.dataDir } : { url: s.url, schema: s.schema },
          },
          regions: [
            {
              id: "global",
              storedIn: "SG",
              url: "https://collector.global.example.com",
              store: { dataDir: join(dir, "g") },
            },
            {
              id: "cn",
              storedIn: "CN",
              url: "https://collector.cn.example.cn",
              store: { dataDir: join(dir, "c") },
            },
          ],
        }),
      );
    });
    after(async () => {
      await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it("blocks the incident's build for TA-1062/00WW with exit 1, every reason listed", () => {
      const run = check(sboms.incident, "--variant", "TA-1062/00WW");
      assert.equal(run.status, 1, run.stderr);
      assert.match(
        run.stdout,
        /^BLOCKED: build 00WW_3_39B_SP02 for TA-1062\/00WW \(region global\); 4 components checked$/m,
      );
      assert.match(
        run.stdout,
        /component\.not_allowed +com\.qualcomm\.qti\.autoregistration 1\.0 may ship only in variants of region cn/,
      );
      assert.match(run.stdout, /endpoint\.unapproved +.*zzhc\.vnet\.cn/);
      assert.match(run.stdout, /^2 reasons: this build cannot be released to TA-1062\/00WW$/m);
    });

    it("passes the same SBOM for the China variant, and the fixed build for the worldwide one, with exit 0", () => {
      const china = check(sboms.incident, "--variant", "00CN");
      assert.equal(china.status, 0, china.stderr);
      assert.match(china.stdout, /^PASS: build 00WW_3_39B_SP02 for TA-1062\/00CN \(region cn\)/);
      const fixed = check(sboms.fixed, "--variant", "00WW", "--model", "TA-1062");
      assert.equal(fixed.status, 0, fixed.stderr);
    });

    it("prints JSON and SARIF 2.1.0, to a file when asked", () => {
      const json = check(sboms.incident, "--variant", "TA-1062/00WW", "--format", "json");
      assert.equal(json.status, 1);
      const verdict = JSON.parse(json.stdout) as {
        passed: boolean;
        findings: { code: string; pointer: string }[];
      };
      assert.equal(verdict.passed, false);
      assert.deepEqual(
        verdict.findings.map((f) => f.code),
        ["component.not_allowed", "endpoint.unapproved"],
      );

      const out = join(dir, "gate.sarif");
      const sarif = check(sboms.incident, "--variant", "TA-1062/00WW", "--format", "sarif", "--output", out);
      assert.equal(sarif.status, 1);
      assert.equal(sarif.stdout, "");
      const log = JSON.parse(readFileSync(out, "utf8")) as {
        version: string;
        runs: {
          tool: { driver: { rules: { id: string }[] } };
          results: {
            ruleId: string;
            level: string;
            locations: { physicalLocation: { artifactLocation: { uri: string } } }[];
          }[];
        }[];
      };
      assert.equal(log.version, "2.1.0");
      const [run] = log.runs;
      assert.ok(run);
      assert.deepEqual(
        run.results.map((r) => [r.ruleId, r.level]),
        [
          ["component.not_allowed", "error"],
          ["endpoint.unapproved", "error"],
        ],
      );
      assert.equal(run.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri, sboms.incident);
      assert.ok(run.tool.driver.rules.some((r) => r.id === "endpoint.plaintext"));
    });

    it("exits 2 when it cannot judge: a broken SBOM, a missing file, an unknown or ambiguous variant, a bad format", () => {
      const broken = check(sboms.broken, "--variant", "TA-1062/00WW");
      assert.equal(broken.status, 2);
      assert.match(
        broken.stderr,
        /error \[release\.sbom_invalid\]: the SBOM does not follow the CycloneDX 1\.6 schema/,
      );
      assert.match(broken.stderr, /- \/components\/0: must have required property 'type'/);
      const missing = check(join(dir, "nope.json"), "--variant", "00WW", "--model", "TA-1062");
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /release\.sbom_invalid.*cannot read the SBOM/);
      const unknown = check(sboms.fixed, "--variant", "TA-1062/00XX");
      assert.equal(unknown.status, 2);
      assert.match(
        unknown.stderr,
        /fleet\.not_found.*registered: TA-1062\/00CN, TA-1062\/00WW, TA-2000\/00WW/,
      );
      const ambiguous = check(sboms.fixed, "--variant", "00WW");
      assert.equal(ambiguous.status, 2);
      assert.match(ambiguous.stderr, /release\.variant_ambiguous.*TA-1062, TA-2000/);
      assert.equal(check(sboms.fixed, "--variant", "00CN", "--format", "xml").status, 2);
    });
  });
}

describe("phonehome release check while the system runs (CLI, PGlite)", { skip: pgliteBackend.skip }, () => {
  let t: TestSystem;
  const dir = mkdtempSync(join(tmpdir(), "phonehome-release-live-"));
  const sboms = writeSboms(dir);
  const configFile = join(dir, "phonehome.yaml");
  before(async () => {
    t = await startTestSystem(pgliteBackend);
    await t.provision([{ market: "NO" }]);
    writeCliConfig(t, configFile);
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the variants from the running control plane that holds the store", async () => {
    // Not spawnSync: the control plane runs in this process and must answer meanwhile.
    const run = await phonehomeAsync([
      "--config",
      configFile,
      "release",
      "check",
      sboms.incident,
      "--variant",
      "TA-1062/00WW",
    ]);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /^BLOCKED: build 00WW_3_39B_SP02 for TA-1062\/00WW \(region global\)/);
  });
});
