/**
 * The collector's remaining error codes, which need a particular dictionary or
 * a failing store: collection.unknown, collection.unapproved (no approval
 * record), internal (the store fails mid-write: nothing is acknowledged, and a
 * retry succeeds) and service.unavailable.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DeviceIdentity } from "@phonehome/sdk";
import { PACKAGE_ROOT } from "../../src/core/config/index.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { pgliteBackend } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

/** A dictionary folder with activation v1 as shipped and a v2 that carries no approval record. */
function dictionaryWithUnapprovedV2(): string {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-dict-"));
  mkdirSync(join(dir, "activation"));
  const v1 = readFileSync(join(PACKAGE_ROOT, "dictionary/activation/v1.yaml"), "utf8");
  writeFileSync(join(dir, "activation/v1.yaml"), v1);
  cpSync(join(PACKAGE_ROOT, "dictionary/reviewers.yaml"), join(dir, "reviewers.yaml"));
  const v2 = v1.replace(/^version: 1$/m, "version: 2").replace(/^approval:\n( {2}.*\n)+/m, "");
  assert.ok(!v2.includes("approval:"), "v2 has no approval record");
  writeFileSync(join(dir, "activation/v2.yaml"), v2);
  return dir;
}

describe("collector faults (PGlite)", () => {
  let t: TestSystem;
  let device: DeviceIdentity;
  const activations = () => `${t.system.regions[0]?.url}/v1/activations`;

  before(async () => {
    // This dictionary has no consent-based collection, so no notice is needed (or allowed) for one.
    t = await startTestSystem(pgliteBackend, {
      extra: {
        dictionary: dictionaryWithUnapprovedV2(),
        notices: mkdtempSync(join(tmpdir(), "phonehome-notices-")),
      },
    });
    [device] = (await t.provision([{ market: "SE" }])) as [DeviceIdentity];
  });
  after(async () => {
    await t?.close();
  });

  test("collection.unapproved for a version without an approval record", async () => {
    const answer = await post(activations(), await buildEnvelope(device, { header: { schemaVersion: 2 } }));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error?.code, "collection.unapproved");
    assert.match(String(answer.body.error?.message), /not approved/);
  });

  test("internal when the store fails mid-write: nothing is acknowledged or stored, and the retry is stored once", async () => {
    const region = t.system.regions.find((r) => r.id === "global");
    assert.ok(region);
    const envelope = await buildEnvelope(device);
    await region.db.query("ALTER TABLE activations RENAME TO activations_away");
    const failed = await post(activations(), envelope);
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.body, { error: { code: "internal", message: "internal error" } });
    await region.db.query("ALTER TABLE activations_away RENAME TO activations");
    assert.equal((await t.activationsByRegion()).get("global")?.length, 0);
    const retried = await post(activations(), envelope);
    assert.equal(retried.status, 201);
    assert.equal((await t.activationsByRegion()).get("global")?.length, 1);
  });

  test("service.unavailable from /readyz when the store cannot be reached", async () => {
    const region = t.system.regions.find((r) => r.id === "cn");
    assert.ok(region);
    assert.equal((await fetch(`${region.url}/readyz`)).status, 200);
    // Readiness asks whether the store takes writes (checkWritable); here it cannot be reached at all.
    const { query, checkWritable } = region.db;
    const unreachable = async () => {
      throw new Error("store unreachable");
    };
    region.db.query = unreachable;
    region.db.checkWritable = unreachable;
    try {
      const answer = await fetch(`${region.url}/readyz`);
      assert.equal(answer.status, 503);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, "service.unavailable");
    } finally {
      region.db.query = query;
      region.db.checkWritable = checkWritable;
    }
  });
});

describe("collector with a dictionary that lacks the collection (PGlite)", () => {
  let t: TestSystem;
  before(async () => {
    t = await startTestSystem(pgliteBackend, {
      extra: {
        dictionary: mkdtempSync(join(tmpdir(), "phonehome-empty-")),
        notices: mkdtempSync(join(tmpdir(), "phonehome-notices-")),
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  test("collection.unknown", async () => {
    const [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
    const answer = await post(`${t.system.regions[0]?.url}/v1/activations`, await buildEnvelope(device));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error?.code, "collection.unknown");
    assert.equal(answer.body.error?.path, "/collection");
  });
});
