/**
 * Region keys through the HTTP stack, on PGlite and PostgreSQL: `GET
 * /v1/region` publishes a descriptor the fleet root signed; a rotation through
 * `phonehome keys rotate` with a root key file kept outside the data
 * directory (a wrong root changes nothing); hand-built envelopes sealed to
 * the previous key are opened until its end and refused after, counted in
 * the ingest ledger; receipts issued before two receipt-key rotations verify
 * with the published JWK Set after both.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type DeviceIdentity,
  mintOwnerToken,
  type RegionDescriptorStatement,
  verifyRegionDescriptor,
} from "@phonehome/sdk";
import { compactVerify, createLocalJWKSet } from "jose";
import { embeddedRootPath, type FleetTrust, fleetTrustPath } from "../../src/core/keys/index.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { collectorLedger, startTestSystem, type TestSystem, writeCliConfig } from "../helpers/system.ts";

interface Announcement {
  kid: string;
  publicKey: string;
  descriptor: string | null;
  rootChain: string[];
}

for (const backend of BACKENDS) {
  describe(`region keys on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let scratch: string;
    let configFile: string;
    let offlineRoot: string;
    let devices: DeviceIdentity[];
    before(async () => {
      t = await startTestSystem(backend);
      scratch = mkdtempSync(join(tmpdir(), "phonehome-regionkeys-e2e-"));
      configFile = join(scratch, "phonehome.json");
      writeCliConfig(t, configFile);
      // The root leaves the data directory, as in production: the services can no longer sign.
      offlineRoot = join(scratch, "fleet-root.json");
      renameSync(embeddedRootPath(t.dataDir), offlineRoot);
      devices = await t.provision(Array.from({ length: 6 }, () => ({ market: "NO" })));
    });
    after(async () => {
      await t?.close();
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    const url = () => t.system.regions.find((r) => r.id === "global")?.url ?? "";
    const region = async () => (await (await fetch(`${url()}/v1/region`)).json()) as Announcement;
    const trust = () => JSON.parse(readFileSync(fleetTrustPath(t.dataDir), "utf8")) as FleetTrust;
    const keysCli = (...args: string[]) =>
      phonehomeAsync(["--config", configFile, "keys", ...args, "--region", "global"]);
    const activate = (device: DeviceIdentity, to: { kid: string; publicKey: string }) =>
      buildEnvelope(device, { to: { ...device.home, kid: to.kid, publicKey: to.publicKey } }).then((e) =>
        post(`${url()}/v1/activations`, e),
      );

    test("GET /v1/region publishes a descriptor the fleet root signed, listing the key to seal to", async () => {
      const r = await region();
      const { roots, chain } = trust();
      assert.deepEqual(r.rootChain, chain);
      const statement = await verifyRegionDescriptor(r.descriptor, roots, r.rootChain);
      assert.equal(statement.url, url());
      assert.deepEqual(
        statement.keys.map((k) => k.kid),
        [r.kid],
      );
    });

    test("a rotation signed with a wrong root changes nothing; signed with the offline root it publishes the next key", async () => {
      const before = await region();
      const stranger = join(scratch, "stranger.json");
      const init = await phonehomeAsync(["keys", "root", "init", "--out", stranger]);
      assert.equal(init.status, 0, init.stderr);
      const refused = await keysCli(
        "rotate",
        "--root-key",
        stranger,
        "--starts-in",
        "PT0S",
        "--overlap",
        "PT4S",
      );
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /keys\.descriptor_refused/);
      assert.deepEqual(await region(), before, "nothing changed");

      const rotated = await keysCli(
        "rotate",
        "--root-key",
        offlineRoot,
        "--starts-in",
        "PT0S",
        "--overlap",
        "PT15S",
        "--json",
      );
      assert.equal(rotated.status, 0, rotated.stderr);
      const answer = JSON.parse(rotated.stdout) as {
        published: string;
        statement: RegionDescriptorStatement;
      };
      const after = await region();
      assert.equal(after.kid, answer.published, "devices seal to the new key at once (it started now)");
      const statement = await verifyRegionDescriptor(after.descriptor, trust().roots, after.rootChain);
      assert.deepEqual(
        statement.keys.map((k) => k.kid),
        [before.kid, answer.published],
      );
      const listed = await keysCli("list");
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`seal\\s+${answer.published}`));

      // Sealed to the previous key within its overlap: opened. To the new one: opened.
      const previous = { kid: before.kid, publicKey: before.publicKey };
      const [a, b, c, d] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity, DeviceIdentity];
      const inOverlap = await activate(a, previous);
      assert.equal(inOverlap.status, 201, JSON.stringify(inOverlap.body));
      assert.ok(Date.now() < Date.parse(statement.keys[0]?.notAfter ?? ""), "sent within the overlap");
      assert.equal((await activate(b, after)).status, 201);
      // After its end: refused with its own code, and counted.
      const end = Date.parse(statement.keys[0]?.notAfter ?? "");
      await sleep(Math.max(0, end - Date.now()) + 50);
      const late = await activate(c, previous);
      assert.equal(late.status, 400);
      assert.equal(late.body.error?.code, "envelope.key_expired");
      assert.equal(late.body.error?.path, "/kid");
      assert.equal((await activate(d, after)).status, 201);
      const ledger = await collectorLedger(t, "global");
      assert.ok(ledger.some((row) => row.reason === "envelope.key_expired" && row.count >= 1));
    });

    test("the root rolls over: the new root signs the descriptor, devices trusting the old root verify it through the chain", async () => {
      const newRoot = join(scratch, "fleet-root-2.json");
      const rolled = await phonehomeAsync([
        "--config",
        configFile,
        "keys",
        "root",
        "roll",
        "--root",
        offlineRoot,
        "--out",
        newRoot,
        "--install",
      ]);
      assert.equal(rolled.status, 0, rolled.stderr);
      assert.equal(trust().chain.length, 1);
      // The old root is no longer the one in use: what it signs now is refused.
      const old = await keysCli("publish", "--root-key", offlineRoot);
      assert.notEqual(old.status, 0);
      assert.match(old.stderr, /keys\.descriptor_refused.*root in use/);
      const published = await keysCli("publish", "--root-key", newRoot);
      assert.equal(published.status, 0, published.stderr);
      const r = await region();
      assert.deepEqual(r.rootChain, trust().chain);
      const factoryRoots = trust().roots;
      const statement = await verifyRegionDescriptor(r.descriptor, factoryRoots, r.rootChain);
      assert.equal(statement.keys.at(-1)?.kid, r.kid);
      await assert.rejects(verifyRegionDescriptor(r.descriptor, factoryRoots, []), "not without the chain");
      const log = (await (
        await fetch(`${url()}/v1/audit-log`, {
          headers: { authorization: `Bearer ${t.system.controlPlane.serviceToken}` },
        })
      ).json()) as { entries: { action: string; detail: Record<string, unknown> }[] };
      const actions = log.entries.map((e) => e.action);
      for (const action of [
        "keys.generated",
        "keys.published",
        "keys.descriptor_published",
        "keys.rotation_refused",
        "keys.root_rolled",
      ]) {
        assert.ok(actions.includes(action), `${action} in the region's audit log`);
      }
    });

    test("consent receipts issued before each of two receipt-key rotations verify with the published JWK Set after both", async () => {
      const [, , , , e, f] = devices as DeviceIdentity[];
      assert.ok(e && f);
      const consent = async (device: DeviceIdentity, granted: boolean) => {
        const response = await fetch(`${url()}/v1/owner/consents/uep.diagnostics`, {
          method: "PUT",
          headers: {
            authorization: `Bearer ${await mintOwnerToken(device)}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ granted, noticeVersion: 1, language: "en", method: "device-settings" }),
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { jws: string }).jws;
      };
      const receipts = [await consent(e, true)];
      const first = await keysCli("rotate", "--receipts");
      assert.equal(first.status, 0, first.stderr);
      receipts.push(await consent(f, true));
      const second = await keysCli("rotate", "--receipts");
      assert.equal(second.status, 0, second.stderr);
      receipts.push(await consent(e, false));
      const published = (await (await fetch(`${url()}/v1/receipt-keys`)).json()) as {
        keys: { kid: string }[];
      };
      assert.equal(published.keys.length, 3);
      const set = createLocalJWKSet(published as Parameters<typeof createLocalJWKSet>[0]);
      const kids = [];
      for (const jws of receipts) kids.push((await compactVerify(jws, set)).protectedHeader.kid);
      assert.equal(new Set(kids).size, 3, "each receipt names the key that signed it");
      // The older routes answer the same set.
      assert.deepEqual(await (await fetch(`${url()}/v1/receipt-key`)).json(), published);
      assert.deepEqual(await (await fetch(`${url()}/v1/consent/receipt-key`)).json(), published);
    });
  });
}
