/**
 * The audit log of a running system, on PGlite and PostgreSQL: operators'
 * steps land in the control plane's chain, owners' requests and purges in the
 * region's, each with who, what, why and when; the heads are public; and
 * `phonehome audit-log verify` checks a running store's chain through its API
 * and names an entry changed behind the database's back.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import type { AuditEntry } from "../../src/core/audit-log/chain.ts";
import { buildSbom } from "../../src/control-plane/release/build-sbom.ts";
import { INCIDENT_BUILD } from "../../src/control-plane/release/examples.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { callControlPlane, startTestSystem, type TestSystem, writeCliConfig } from "../helpers/system.ts";

for (const backend of BACKENDS) {
  describe(`the audit log of a running system on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let device: DeviceIdentity;
    const dir = mkdtempSync(join(tmpdir(), "phonehome-audit-"));
    const configFile = join(dir, "phonehome.yaml");
    const regionOf = (id: string) => {
      const r = t.system.regions.find((x) => x.id === id);
      if (r === undefined) throw new Error(`no region ${id}`);
      return r;
    };
    const entries = async (url: string) => {
      const answer = await fetch(`${url}/v1/audit-log`, {
        headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
      });
      assert.equal(answer.status, 200);
      return ((await answer.json()) as { entries: AuditEntry[] }).entries;
    };
    const verify = (...args: string[]) =>
      phonehomeAsync(["--config", configFile, "audit-log", "verify", ...args]);

    before(async () => {
      t = await startTestSystem(backend);
      [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
      const sbom = JSON.parse(buildSbom(INCIDENT_BUILD)) as object;
      const put = await callControlPlane(t, "PUT", `/v1/builds/${INCIDENT_BUILD.number}`, {
        model: "TA-1062",
        variant: "00WW",
        lineage: "00WW_3_39B",
        sbom,
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const forced = await callControlPlane(t, "POST", `/v1/builds/${INCIDENT_BUILD.number}/release`, {
        force: { reason: "shipped before the gate existed" },
      });
      assert.equal(forced.status, 200, JSON.stringify(forced.body));
      assert.equal(
        (await post(`${regionOf("global").url}/v1/activations`, await buildEnvelope(device))).status,
        201,
      );
      const erased = await fetch(`${regionOf("global").url}/v1/owner/data`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
      });
      assert.equal(erased.status, 200);
      const purge = await fetch(`${regionOf("global").url}/v1/purges/retention`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${t.system.controlPlane.serviceToken}`,
          "content-type": "application/json",
        },
        body: "{}",
      });
      assert.equal(purge.status, 200, await purge.clone().text());
      writeCliConfig(t, configFile);
    });
    after(async () => {
      await t?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("operators' steps are in the control plane's chain; owners' requests and purges in the region's", async () => {
      const control = await entries(t.system.controlPlane.url);
      const actions = control.map((e) => e.action);
      for (const a of ["fleet.imported", "release.checked", "release.forced"])
        assert.ok(actions.includes(a), a);
      const forced = control.find((e) => e.action === "release.forced");
      assert.deepEqual(
        [forced?.actor, forced?.subject, forced?.reason],
        ["service-token", INCIDENT_BUILD.number, "shipped before the gate existed"],
      );
      const checked = control.find((e) => e.action === "release.checked");
      assert.deepEqual(checked?.detail.passed, false);

      const region = await entries(regionOf("global").url);
      const erasure = region.find((e) => e.action === "subject_request.erasure");
      assert.equal(erasure?.actor, `owner:${device.keyId}`);
      assert.ok(region.some((e) => e.action === "purge.retention" && e.actor === "service-token"));
      // In cn nothing happened but the region's first keys (docs/keys.md: every key step is logged).
      const cn = await entries(regionOf("cn").url);
      assert.ok(cn.length > 0);
      assert.deepEqual(
        cn.filter((e) => e.subject !== "region-keys").map((e) => e.action),
        [],
        "nothing but key steps happened in cn",
      );

      // The heads are public, and are the chains' last entries.
      for (const [url, chain] of [
        [t.system.controlPlane.url, control],
        [regionOf("global").url, region],
      ] as const) {
        const head = (await (await fetch(`${url}/v1/audit-log/head`)).json()) as {
          seq: number;
          hash: string;
        };
        assert.deepEqual([head.seq, head.hash], [chain.at(-1)?.seq, chain.at(-1)?.hash]);
      }
      assert.equal(
        (await fetch(`${regionOf("global").url}/v1/audit-log`)).status,
        401,
        "entries need the token",
      );
    });

    test("the control plane anchors each region's head in its own chain; a region cut short after it shows", async () => {
      const unanchored = await verify("--region", "cn", "--anchored");
      assert.match(unanchored.stderr, /^error \[audit\.not_anchored\]/, "no anchor yet");
      const anchors = await callControlPlane<{
        anchored: { region: string; seq: number }[];
        unchanged: string[];
      }>(t, "POST", "/v1/audit-log/anchors");
      assert.equal(anchors.status, 200, JSON.stringify(anchors.body));
      const headOf = async (region: string) =>
        (await (await fetch(`${regionOf(region).url}/v1/audit-log/head`)).json()) as {
          seq: number;
          hash: string;
        };
      const globalHead = await headOf("global");
      const cnHead = await headOf("cn");
      assert.deepEqual(anchors.body.anchored, [
        { region: "cn", seq: cnHead.seq, hash: cnHead.hash },
        { region: "global", seq: globalHead.seq, hash: globalHead.hash },
      ]);
      assert.deepEqual(anchors.body.unchanged, []);
      const again = await callControlPlane<{ anchored: unknown[]; unchanged: string[] }>(
        t,
        "POST",
        "/v1/audit-log/anchors",
      );
      assert.deepEqual(
        [again.body.anchored, again.body.unchanged],
        [[], ["cn", "global"]],
        "an unmoved head once",
      );
      const published = (await (
        await fetch(`${t.system.controlPlane.url}/v1/audit-log/anchors/global`)
      ).json()) as { seq: number; hash: string };
      assert.deepEqual([published.seq, published.hash], [globalHead.seq, globalHead.hash]);
      assert.equal((await fetch(`${t.system.controlPlane.url}/v1/audit-log/anchors/nowhere`)).status, 404);
      assert.ok(
        (await entries(t.system.controlPlane.url)).some(
          (e) => e.action === "audit.anchored" && e.subject === "global",
        ),
      );

      assert.equal((await verify("--region", "global", "--anchored")).status, 0);
      // Cut the region's last entry off: its own chain is still whole, but no longer holds the anchored head.
      const db = regionOf("global").db;
      await db.query("ALTER TABLE audit_log DISABLE TRIGGER USER");
      try {
        await db.query("DELETE FROM audit_log WHERE seq = $1", [globalHead.seq]);
      } finally {
        await db.query("ALTER TABLE audit_log ENABLE TRIGGER USER");
      }
      assert.equal((await verify("--region", "global")).status, 0);
      const cut = await verify("--region", "global", "--anchored");
      assert.equal(cut.status, 1);
      assert.match(
        cut.stdout,
        new RegExp(`BROKEN at entry ${globalHead.seq}: the chain ends at entry ${globalHead.seq - 1}`),
      );
      assert.equal((await verify("--region", "cn", "--anchored")).status, 0, "cn's anchored head is whole");
    });

    test("verify checks a running store's chain through its API, and names an entry changed behind its back", async () => {
      const intact = await verify("--region", "global", "--json");
      assert.equal(intact.status, 0, intact.stderr);
      const verdict = JSON.parse(intact.stdout) as { ok: boolean; entries: number; head: { seq: number } };
      assert.equal(verdict.ok, true);
      assert.ok(verdict.entries >= 1);
      const control = await verify();
      assert.equal(control.status, 0, control.stderr);
      assert.match(
        control.stdout,
        /^audit log of control-plane: intact, \d+ entries; head \d+:[0-9a-f]{64}$/m,
      );

      const db = regionOf("global").db;
      await db.query("ALTER TABLE audit_log DISABLE TRIGGER USER");
      try {
        await db.query("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 1");
      } finally {
        await db.query("ALTER TABLE audit_log ENABLE TRIGGER USER");
      }
      const broken = await verify("--region", "global");
      assert.equal(broken.status, 1);
      assert.match(broken.stdout, /BROKEN at entry 1: entry 1 was changed/);
      const unknown = await verify("--region", "nowhere");
      assert.match(unknown.stderr, /^error \[request\.invalid\]: no region nowhere/);
      const badHead = await verify("--expect", "not-a-head");
      assert.notEqual(badHead.status, 0);
      assert.match(badHead.stderr, /SEQ:HASH/);
    });
  });
}
