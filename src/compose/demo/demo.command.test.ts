/**
 * `phonehome demo` runs the whole story as a user would (the real binary, the
 * embedded default) and its facts — every figure read back from the running
 * system — are checked against the story, not its wording.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { phonehome } from "../../../test/helpers/cli.ts";
import type { DemoFacts } from "./story.ts";

const dir = mkdtempSync(join(tmpdir(), "phonehome-demo-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("phonehome demo tells the incident's story end to end, every figure from the running system", () => {
  const devices = 12;
  const run = phonehome(["demo", "--devices", String(devices), "--dir", dir, "--json"]);
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split("\n");
  const facts = JSON.parse(lines[lines.length - 1] as string) as DemoFacts;

  // The gate blocks the worldwide build with the China client, passes the same SBOM for China; it is forced through.
  assert.equal(facts.gate.worldwide.passed, false);
  assert.ok(facts.gate.worldwide.findings.includes("component.not_allowed"));
  assert.ok(facts.gate.worldwide.findings.includes("endpoint.unapproved"));
  assert.equal(facts.gate.china.passed, true);
  assert.equal(facts.gate.releasedDespiteGate, true);
  assert.equal(facts.gate.fixedBuildPassed, true);

  // Every attempt to send home to China is refused: by the SDK's pin, or by the cn collector without storage.
  assert.deepEqual(facts.activation.sdkRefused, { "sdk.market_region_mismatch": devices });
  assert.deepEqual(facts.activation.collectorRefused, { "region.misrouted": devices });
  assert.deepEqual(facts.activation.cnLedger, { stored: 0, refused: devices });

  // The alert opens an incident naming exactly the batch and build, with the data the China client sends.
  assert.equal(facts.incident.source, "misrouting");
  assert.deepEqual(facts.incident.batches, [facts.batch]);
  assert.deepEqual(facts.incident.builds, ["00WW_3_39B_SP02"]);
  assert.equal(facts.incident.devices, devices);
  assert.ok(facts.incident.dataCategories.includes("user.device.device_id.imei"));

  // The fix goes out in stages; every device ends on it, and adoption only climbs, to all of them.
  assert.deepEqual(
    facts.rollout.map((s) => s.percentage),
    [25, 50, 100],
  );
  assert.equal(
    facts.rollout.reduce((n, s) => n + s.installed, 0),
    devices,
  );
  const shares = facts.rollout.map((s) => s.adoption);
  assert.deepEqual(
    shares,
    [...shares].sort((a, b) => a - b),
  );
  assert.equal(shares[shares.length - 1], 1);

  // Owners are told: each affected device gets the notice once.
  assert.deepEqual(facts.notices, { sent: devices, shownOnDevices: devices, delivered: devices });

  // Is my device fixed?
  assert.deepEqual(facts.lookup, {
    "00WW_3_39B_SP02": "not fixed",
    "00WW_3_39B_SP03": "fixed",
    "00WW_9_99Z_SP01": "unknown build",
  });

  // The report is written, and says what the system says.
  assert.equal(facts.report.refused, devices);
  assert.equal(facts.report.noticesDelivered, devices);
  assert.equal(facts.report.adoption, 1);
  assert.ok(existsSync(facts.report.markdown) && existsSync(facts.report.json));
  const report = JSON.parse(readFileSync(facts.report.json, "utf8")) as {
    incident: { id: string };
    storage: { regions: { region: string; stored: number }[] };
  };
  assert.equal(report.incident.id, facts.incident.id);
  assert.equal(report.storage.regions.find((r) => r.region === "cn")?.stored, 0, "nothing stored in China");
  assert.ok(
    readFileSync(facts.report.markdown, "utf8").startsWith(`# Incident report ${facts.incident.id}:`),
  );
});

test("phonehome demo refuses a device count out of range, or a folder it cannot start fresh in, with a clear error", () => {
  const outOfRange = phonehome(["demo", "--devices", "2"]);
  assert.notEqual(outOfRange.status, 0);
  assert.match(outOfRange.stderr, /--devices.*4 to 200/);
  // The test's own folder holds the demo that ran above; a folder that is a file; a missing parent.
  const file = join(dir, "report", "not-a-folder");
  writeFileSync(file, "");
  for (const bad of [dir, file, join(dir, "missing", "deeper")]) {
    const run = phonehome(["demo", "--dir", bad]);
    assert.equal(run.status, 1, bad);
    assert.match(run.stderr, /^error \[request\.invalid\]: cannot use --dir /, bad);
    assert.doesNotMatch(run.stderr, /\bat .*\.ts:\d+/, "no stack trace");
  }
});
