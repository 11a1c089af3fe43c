import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import {
  SHIPPED_DICTIONARY,
  sampleDoc,
  tempDictionary,
  TEST_REVIEWERS_FILE,
} from "../../../test/helpers/dictionary.ts";

const BIN = new URL("../../../bin/phonehome.ts", import.meta.url).pathname;
const scratch = tempDictionary();
after(scratch.cleanup);

/** Runs the real CLI in a child process (node 24, as the tests run), from a folder without a phonehome.yaml. */
function phonehome(...args: string[]) {
  const env = { ...process.env };
  delete env.PHONEHOME_CONFIG;
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: scratch.dir,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("phonehome registry check", () => {
  it("exits 0 on the shipped dictionary, with a summary", () => {
    for (const args of [[], ["--dictionary", SHIPPED_DICTIONARY]]) {
      const run = phonehome("registry", "check", ...args);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /: 4 collections, 4 versions, 15 fields; 0 errors, 0 warnings\n$/);
    }
  });

  it("exits 1 when a shipped collection differs from what was approved (a change without a review)", () => {
    const dir = `${scratch.dir}/changed`;
    cpSync(SHIPPED_DICTIONARY, dir, { recursive: true });
    const file = `${dir}/activation/v1.yaml`;
    // Keep the warranty record a year longer, without a new review.
    writeFileSync(file, readFileSync(file, "utf8").replace(/^retention: P5Y$/m, "retention: P6Y"));
    const run = phonehome("registry", "check", "--dictionary", "changed");
    assert.equal(run.code, 1, run.stderr + run.stdout);
    assert.match(
      run.stdout + run.stderr,
      /activation\/v1\.yaml:\/approval\/sha256: collectors refuse this version: it differs from what was approved/,
    );
  });

  it("exits 1 when an approval was edited by hand: a later end, another reviewer, its author as reviewer", () => {
    const edits: [string, (text: string) => string, RegExp][] = [
      // Renewing without a review: the signature no longer covers the record.
      [
        "extended",
        (t) => t.replace(/^( {2}date: "2026-11-30"\n)/m, '$1  expires: "2099-12-31"\n'),
        /\/approval\/signature: collectors refuse this version: its approval's signature does not verify/,
      ],
      [
        "self",
        (t) => t.replace(/^ {2}author: maintainers$/m, "  author: privacy-review"),
        /\/approval\/author: collectors refuse this version: it is approved by its own author \(privacy-review\)/,
      ],
      [
        "stranger",
        (t) => t.replace(/^ {2}reviewer: privacy-review$/m, "  reviewer: someone.else"),
        /\/approval\/reviewer: collectors refuse this version: its reviewer someone\.else is not among the dictionary's reviewers/,
      ],
    ];
    for (const [name, edit, expected] of edits) {
      const dir = `${scratch.dir}/${name}`;
      cpSync(SHIPPED_DICTIONARY, dir, { recursive: true });
      const file = `${dir}/activation/v1.yaml`;
      const before = readFileSync(file, "utf8");
      writeFileSync(file, edit(before));
      assert.notEqual(readFileSync(file, "utf8"), before, `${name}: the edit applies`);
      const run = phonehome("registry", "check", "--dictionary", name);
      assert.equal(run.code, 1, `${name}: ${run.stdout}`);
      assert.match(run.stdout, expected, name);
    }
  });

  it("exits 1 on a broken dictionary and prints every problem", () => {
    const broken = sampleDoc();
    const serial = broken.fields.serial;
    assert.ok(serial);
    serial.dataCategory = "user.device.serial";
    delete broken.approval;
    scratch.write("broken/sample/v1.yaml", broken);
    const run = phonehome("registry", "check", "--dictionary", "broken");
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stdout,
      /^error {3}broken\/sample\/v1\.yaml:\/fields\/serial\/dataCategory: undeclared data category/m,
    );
    assert.match(run.stdout, /^warning broken\/sample\/v1\.yaml:\/approval: no approval record/m);
    assert.match(run.stdout, /broken: 1 collection, 1 version, 6 fields; 1 error, 1 warning\n$/);
  });

  it("prints a JSON report with --json", () => {
    scratch.write("json/reviewers.yaml", TEST_REVIEWERS_FILE);
    scratch.write("json/sample/v1.yaml", sampleDoc({ regions: ["global", "mars"] }));
    const run = phonehome("registry", "check", "--dictionary", "json", "--json");
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { ok: boolean; errors: { path: string; message: string }[] };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.errors.map((e) => e.path),
      ["json/sample/v1.yaml:/regions/1"],
    );
    assert.match(report.errors[0]?.message ?? "", /region mars is not in the configuration \(global, cn\)/);
  });

  it("exits 2 when the configuration itself is invalid", () => {
    const run = phonehome("--config", "missing.yaml", "registry", "check");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /config\.invalid/);
  });
});
