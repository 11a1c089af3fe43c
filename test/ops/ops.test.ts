/**
 * The operations files in `ops/` are what the tools they are for accept:
 * Prometheus's alert rules pass `promtool check rules` and fire as
 * `promtool test rules` expects; the systemd units pass `systemd-analyze
 * verify` (with this checkout in place of /opt/phonehome); the example HAProxy
 * configuration passes `haproxy -c` (with a self-signed certificate made by
 * openssl in place of the real ones).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { selfSigned } from "../helpers/tls.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const OPS = join(ROOT, "ops");

const run = (command: string, args: readonly string[], cwd?: string) =>
  spawnSync(command, args, { encoding: "utf8", timeout: 60_000, ...(cwd === undefined ? {} : { cwd }) });

describe("the operations files", () => {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-ops-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the alert rules pass promtool check rules, and promtool test rules", () => {
    const checked = run("promtool", ["check", "rules", "phonehome.rules.yml"], join(OPS, "prometheus"));
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /SUCCESS: 12 rules found/);
    const tested = run("promtool", ["test", "rules", "phonehome.rules.test.yml"], join(OPS, "prometheus"));
    assert.equal(tested.status, 0, tested.stdout + tested.stderr);
    // The rules name every alert the operations guide lists.
    const rules = readFileSync(join(OPS, "prometheus", "phonehome.rules.yml"), "utf8");
    const guide = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
    for (const [, name] of rules.matchAll(/- alert: (\w+)/g))
      assert.ok(guide.includes(`\`${name}\``), `${name} in docs/operations.md`);
  });

  test("the systemd units pass systemd-analyze verify", () => {
    const units: string[] = [];
    for (const [file, instance] of [
      ["phonehome-collector@.service", "phonehome-collector@global.service"],
      ["phonehome-control-plane.service", "phonehome-control-plane.service"],
    ] as const) {
      const text = readFileSync(join(OPS, "systemd", file), "utf8").replaceAll("/opt/phonehome", ROOT);
      writeFileSync(join(dir, instance), text);
      units.push(join(dir, instance));
    }
    const verified = run("systemd-analyze", ["verify", "--man=no", ...units]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.doesNotMatch(verified.stderr, /Unknown (key|section)|Invalid|Failed/i);
  });

  test("the example HAProxy configuration passes haproxy -c", () => {
    // HAProxy takes the certificate and its key in one PEM file.
    const tls = selfSigned(dir);
    const pem = join(dir, "self-signed.pem");
    writeFileSync(pem, readFileSync(tls.cert, "utf8") + readFileSync(tls.key, "utf8"));
    const config = readFileSync(join(OPS, "haproxy", "phonehome.cfg"), "utf8").replace(
      /\/etc\/haproxy\/certs\/[a-z-]+\.pem/g,
      pem,
    );
    writeFileSync(join(dir, "haproxy.cfg"), config);
    const checked = run("/usr/sbin/haproxy", ["-c", "-f", join(dir, "haproxy.cfg")]);
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
  });
});
