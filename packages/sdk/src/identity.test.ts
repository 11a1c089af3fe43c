import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { deviceKeyId, ed25519PrivateKey, ed25519PublicKey, signBytes, verifyBytes } from "./envelope.ts";
import { isSdkError } from "./errors.ts";
import {
  generateDeviceKeys,
  loadIdentity,
  rekeyIdentity,
  saveIdentity,
  validateIdentity,
} from "./identity.ts";
import {
  makeHome,
  makeIdentity,
  makeRegionKeys,
  makeRoot,
  publicRoot,
  type RegionKeys,
  tempDir,
  TEST_ROOT,
} from "../test/helpers.ts";

describe("device identity", () => {
  let keys: RegionKeys;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    keys = await makeRegionKeys();
    ({ dir, cleanup } = await tempDir());
  });
  after(() => cleanup());

  it("generates raw 32-byte Ed25519 keys that sign and verify", () => {
    const k = generateDeviceKeys();
    assert.equal(Buffer.from(k.publicKey, "base64url").length, 32);
    assert.equal(Buffer.from(k.privateKey, "base64url").length, 32);
    assert.equal(k.keyId, deviceKeyId(k.publicKey));
    assert.match(k.keyId, /^dk_[A-Za-z0-9_-]{27}$/);
    const data = new TextEncoder().encode("hello");
    const sig = signBytes(data, ed25519PrivateKey(k.privateKey, k.publicKey));
    assert.equal(verifyBytes(data, sig, ed25519PublicKey(k.publicKey)), true);
    assert.notEqual(generateDeviceKeys().publicKey, k.publicKey);
  });

  it("saves with mode 0600 and loads back the same identity, leaving no temp file", async () => {
    const id = makeIdentity(makeHome("https://global.example.com", keys));
    const path = join(dir, "identity.json");
    await saveIdentity(path, id);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await loadIdentity(path), id);
    // Overwriting replaces the whole file atomically.
    const other = makeIdentity(makeHome("https://global.example.com", keys));
    await saveIdentity(path, other);
    assert.deepEqual(await loadIdentity(path), other);
    assert.deepEqual(await readdir(dir), ["identity.json"]);
  });

  it("re-keys an identity: fresh keys that sign, the same profile and home, saved and loaded back", async () => {
    const id = makeIdentity(makeHome("https://global.example.com", keys));
    const rekeyed = rekeyIdentity(id);
    assert.notEqual(rekeyed.publicKey, id.publicKey);
    assert.notEqual(rekeyed.privateKey, id.privateKey);
    assert.equal(rekeyed.keyId, deviceKeyId(rekeyed.publicKey));
    const { publicKey: _p, privateKey: _s, keyId: _k, ...profile } = rekeyed;
    const { publicKey: _op, privateKey: _os, keyId: _ok, ...before } = id;
    assert.deepEqual(profile, before, "profile and home stay");
    const data = new TextEncoder().encode("after the re-key");
    const sig = signBytes(data, ed25519PrivateKey(rekeyed.privateKey, rekeyed.publicKey));
    assert.equal(verifyBytes(data, sig, ed25519PublicKey(rekeyed.publicKey)), true);
    assert.equal(
      verifyBytes(data, sig, ed25519PublicKey(id.publicKey)),
      false,
      "the old key does not verify it",
    );
    const path = join(dir, "rekeyed.json");
    await saveIdentity(path, rekeyed);
    assert.deepEqual(await loadIdentity(path), rekeyed);
    assert.notEqual(rekeyIdentity(id).keyId, rekeyed.keyId, "each re-key makes new keys");
  });

  it("refuses to re-key an identity that is not valid", () => {
    const id = makeIdentity(makeHome("https://global.example.com", keys));
    assert.throws(
      () => rekeyIdentity({ ...id, keyId: "dk_nope" }),
      (e) => isSdkError(e, "sdk.identity_invalid"),
    );
  });

  it("refuses to save an invalid identity", async () => {
    const id = makeIdentity(makeHome("https://global.example.com", keys));
    await assert.rejects(saveIdentity(join(dir, "bad.json"), { ...id, keyId: "dk_nope" }), (e) =>
      isSdkError(e, "sdk.identity_invalid"),
    );
    assert.equal((await readdir(dir)).includes("bad.json"), false);
  });

  const cases: Array<[string, (good: Record<string, unknown>) => string]> = [
    ["not JSON", () => "{ serial: "],
    ["not an object", () => "[1,2]"],
    ["a missing serial", (g) => JSON.stringify({ ...g, serial: undefined })],
    ["a multi-line build", (g) => JSON.stringify({ ...g, build: "a\nb" })],
    ["a market that is not a country code", (g) => JSON.stringify({ ...g, market: "Norway" })],
    ["a short public key", (g) => JSON.stringify({ ...g, publicKey: "AAAA" })],
    [
      "a keyId of another key",
      (g) => JSON.stringify({ ...g, keyId: deviceKeyId(generateDeviceKeys().publicKey) }),
    ],
    [
      "a private key of another device",
      (g) => JSON.stringify({ ...g, privateKey: generateDeviceKeys().privateKey }),
    ],
    [
      "a home kid that is not its key's",
      (g) => JSON.stringify({ ...g, home: { ...(g.home as object), kid: "rk_x" } }),
    ],
    ["a home without url", (g) => JSON.stringify({ ...g, home: { ...(g.home as object), url: undefined } })],
    [
      "a home url with credentials",
      (g) => JSON.stringify({ ...g, home: { ...(g.home as object), url: "https://u:p@h" } }),
    ],
    ["an empty list of roots", (g) => JSON.stringify({ ...g, roots: [] })],
    ["roots that are not a list", (g) => JSON.stringify({ ...g, roots: publicRoot(TEST_ROOT) })],
    [
      "a root kid that is not its key's",
      (g) => JSON.stringify({ ...g, roots: [{ ...publicRoot(TEST_ROOT), kid: "frk_x" }] }),
    ],
    [
      "a root listed twice",
      (g) => JSON.stringify({ ...g, roots: [publicRoot(TEST_ROOT), publicRoot(TEST_ROOT)] }),
    ],
  ];
  for (const [what, make] of cases) {
    it(`loadIdentity refuses a file with ${what}`, async () => {
      const good = makeIdentity(makeHome("https://global.example.com", keys)) as unknown as Record<
        string,
        unknown
      >;
      const path = join(dir, "case.json");
      await writeFile(path, make(good));
      await assert.rejects(
        loadIdentity(path),
        (e) => isSdkError(e, "sdk.identity_invalid") && e.message.includes(path),
      );
    });
  }

  it("keeps the fleet roots it is given, and an identity without roots is legacy (none)", async () => {
    const other = publicRoot(makeRoot());
    const id = makeIdentity(makeHome("https://global.example.com", keys), [publicRoot(TEST_ROOT), other]);
    const path = join(dir, "roots.json");
    await saveIdentity(path, id);
    assert.deepEqual((await loadIdentity(path)).roots, [publicRoot(TEST_ROOT), other]);
    const legacy = makeIdentity(makeHome("https://global.example.com", keys), null);
    await saveIdentity(path, legacy);
    assert.equal("roots" in (await loadIdentity(path)), false);
    assert.equal((await readFile(path, "utf8")).includes("roots"), false);
  });

  it("loadIdentity names a missing file", async () => {
    const path = join(dir, "absent.json");
    await assert.rejects(
      loadIdentity(path),
      (e) => isSdkError(e, "sdk.identity_invalid") && /ENOENT/.test(e.message),
    );
  });

  it("validateIdentity returns only the known fields", async () => {
    const good = makeIdentity(makeHome("https://global.example.com", keys));
    const v = validateIdentity({ ...good, imsi: "242010123456789" });
    assert.equal("imsi" in v, false);
    const path = join(dir, "clean.json");
    await saveIdentity(path, v);
    assert.equal((await readFile(path, "utf8")).includes("imsi"), false);
  });
});
