import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { signRootLink } from "@phonehome/sdk";
import {
  embeddedRoot,
  embeddedRootPath,
  fleetTrustPath,
  generateRootKeyFile,
  loadFleetTrust,
  parseFleetTrust,
  readRootKeyFile,
  rootInUse,
} from "./roots.ts";

function dataDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "phonehome-roots-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("fleet root and trust", () => {
  it("generates the embedded root at a first start, trusts it, and reads the same trust after", async (t) => {
    const dir = dataDir(t);
    const trust = await loadFleetTrust(dir);
    const root = embeddedRoot(dir);
    assert.ok(root);
    assert.deepEqual(trust, { roots: [{ kid: root.kid, publicKey: root.publicKey }], chain: [] });
    assert.equal(statSync(embeddedRootPath(dir)).mode & 0o777, 0o600);
    assert.deepEqual(await loadFleetTrust(dir), trust);
    assert.equal((await rootInUse(trust)).kid, root.kid);
  });

  it("does not generate a root when the trust file is there (production: the root is offline)", async (t) => {
    const dir = dataDir(t);
    const offline = readRootKeyFile(writeRoot(dir, "offline.json"));
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "keys"), { recursive: true });
    const trust = { roots: [{ kid: offline.kid, publicKey: offline.publicKey }], chain: [] };
    writeFileSync(fleetTrustPath(dir), JSON.stringify(trust));
    assert.deepEqual(await loadFleetTrust(dir), trust);
    assert.equal(embeddedRoot(dir), undefined);
  });

  it("follows a rollover chain to the root in use, and refuses a link no trusted root signed", async (t) => {
    const dir = dataDir(t);
    const old = readRootKeyFile(writeRoot(dir, "old.json"));
    const next = readRootKeyFile(writeRoot(dir, "next.json"));
    const stranger = readRootKeyFile(writeRoot(dir, "stranger.json"));
    const link = await signRootLink({ kid: next.kid, publicKey: next.publicKey }, old);
    const roots = [{ kid: old.kid, publicKey: old.publicKey }];
    const trust = await parseFleetTrust(JSON.stringify({ roots, chain: [link] }), "trust");
    assert.equal((await rootInUse(trust)).kid, next.kid);
    const forged = await signRootLink({ kid: next.kid, publicKey: next.publicKey }, stranger);
    await assert.rejects(
      parseFleetTrust(JSON.stringify({ roots, chain: [forged] }), "trust"),
      /trust: the chain does not verify/,
    );
    await assert.rejects(
      parseFleetTrust(JSON.stringify({ roots: [], chain: [] }), "trust"),
      /at least one root/,
    );
    await assert.rejects(
      parseFleetTrust(
        JSON.stringify({ roots: [{ kid: "frk_x", publicKey: old.publicKey }], chain: [] }),
        "trust",
      ),
      /roots\[0\]/,
    );
  });

  it("refuses a root key file whose halves disagree", (t) => {
    const dir = dataDir(t);
    const a = generateRootKeyFile();
    const b = generateRootKeyFile();
    const path = join(dir, "mixed.json");
    writeFileSync(path, JSON.stringify({ ...a, privateKey: b.privateKey }));
    assert.throws(() => readRootKeyFile(path), /halves agree/);
    assert.throws(() => readRootKeyFile(join(dir, "missing.json")), /cannot read/);
  });
});

function writeRoot(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(generateRootKeyFile()), { mode: 0o600 });
  assert.ok(readFileSync(path, "utf8").includes("phonehome-fleet-root"));
  return path;
}
