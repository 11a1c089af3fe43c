import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import {
  type RegionDescriptorStatement,
  type RootKey,
  type RootSigner,
  rootKeyId,
  sealingKey,
  signRegionDescriptor,
  signRootLink,
  verifyRegionDescriptor,
} from "./descriptor.ts";
import { regionKeyId } from "./envelope.ts";
import { isSdkError } from "./errors.ts";

function root(): { key: RootKey; signer: RootSigner } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const publicKey = String(privateKey.export({ format: "jwk" }).x);
  const kid = rootKeyId(publicKey);
  return { key: { kid, publicKey }, signer: { kid, privateKey } };
}

function regionKey(notBefore: string, notAfter: string) {
  const publicKey = String(generateKeyPairSync("x25519").publicKey.export({ format: "jwk" }).x);
  return { kid: regionKeyId(publicKey), publicKey, notBefore, notAfter };
}

const statement = (): RegionDescriptorStatement => ({
  region: "eu",
  storedIn: "NO",
  url: "https://eu.collect.example.com",
  keys: [
    regionKey("2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z"),
    regionKey("2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"),
  ],
  issuedAt: "2026-05-01T00:00:00Z",
});

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isSdkError(err, "sdk.descriptor_invalid"), String(err));
    assert.match((err as Error).message, pattern);
    return true;
  });
}

describe("signed region descriptor", () => {
  it("verifies under the root that signed it and returns the statement", async () => {
    const r = root();
    const s = statement();
    const jws = await signRegionDescriptor(s, r.signer);
    assert.deepEqual(await verifyRegionDescriptor(jws, [r.key]), s);
  });

  it("refuses a descriptor signed by another root, unsigned, or altered", async () => {
    const r = root();
    const other = root();
    const jws = await signRegionDescriptor(statement(), other.signer);
    await refused(verifyRegionDescriptor(jws, [r.key]), /not a trusted root/);
    await refused(verifyRegionDescriptor(undefined, [r.key]), /missing/);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "phonehome-region+jws" })).toString("base64url")}.${Buffer.from(JSON.stringify(statement())).toString("base64url")}.`;
    await refused(verifyRegionDescriptor(unsigned, [r.key]), /EdDSA/);
    // The other root's signature presented under the trusted root's kid.
    const [, payload, sig] = jws.split(".");
    const header = Buffer.from(
      JSON.stringify({ alg: "EdDSA", kid: r.key.kid, typ: "phonehome-region+jws" }),
    ).toString("base64url");
    await refused(verifyRegionDescriptor(`${header}.${payload}.${sig}`, [r.key]), /does not verify/);
    // A payload changed after signing.
    const good = await signRegionDescriptor(statement(), r.signer);
    const [h, , s] = good.split(".");
    const changed = Buffer.from(JSON.stringify({ ...statement(), region: "cn" })).toString("base64url");
    await refused(verifyRegionDescriptor(`${h}.${changed}.${s}`, [r.key]), /does not verify/);
  });

  it("refuses a root link presented as a descriptor, and a statement that is not one", async () => {
    const r = root();
    const link = await signRootLink(root().key, r.signer);
    await refused(verifyRegionDescriptor(link, [r.key]), /type phonehome-root\+jws/);
    const [first] = statement().keys;
    assert.ok(first);
    const bad = { ...statement(), keys: [{ ...first, kid: "rk_other" }] };
    await assert.rejects(signRegionDescriptor(bad, r.signer), /kid: not the id/);
  });

  it("follows a root rollover: a new root signed by the old one is trusted, a link by an untrusted root is not", async () => {
    const old = root();
    const next = root();
    const link = await signRootLink(next.key, old.signer);
    const jws = await signRegionDescriptor(statement(), next.signer);
    await refused(verifyRegionDescriptor(jws, [old.key]), /not a trusted root/);
    assert.equal((await verifyRegionDescriptor(jws, [old.key], [link])).region, "eu");
    const stranger = root();
    const forged = await signRootLink(next.key, stranger.signer);
    await refused(verifyRegionDescriptor(jws, [old.key], [forged]), /root chain link 0/);
  });

  it("signs nothing with a root the chain has moved past, and the chain is a line no retired root can extend", async () => {
    const old = root();
    const next = root();
    const link = await signRootLink(next.key, old.signer);
    // The old root signs a descriptor: refused once the chain moves on, even though the device trusts it.
    const byOld = await signRegionDescriptor(statement(), old.signer);
    assert.equal((await verifyRegionDescriptor(byOld, [old.key])).region, "eu");
    await refused(verifyRegionDescriptor(byOld, [old.key], [link]), /not a trusted root in use/);
    // A link back to itself, or to a root of the old root's holder, after the real link: refused.
    const back = await signRootLink(old.key, old.signer);
    await refused(verifyRegionDescriptor(byOld, [old.key], [link, back]), /root chain link 1/);
    const theirs = root();
    const branch = await signRootLink(theirs.key, old.signer);
    const byTheirs = await signRegionDescriptor(statement(), theirs.signer);
    await refused(verifyRegionDescriptor(byTheirs, [old.key], [link, branch]), /root chain link 1/);
    // The next root hands on: a line of two links verifies, and only its last root signs.
    const third = root();
    const link2 = await signRootLink(third.key, next.signer);
    const byThird = await signRegionDescriptor(statement(), third.signer);
    assert.equal((await verifyRegionDescriptor(byThird, [old.key], [link, link2])).region, "eu");
    const byNext = await signRegionDescriptor(statement(), next.signer);
    await refused(verifyRegionDescriptor(byNext, [old.key], [link, link2]), /not a trusted root in use/);
    // A link handing trust back to a root already in the line.
    const loop = await signRootLink(old.key, next.signer);
    await refused(verifyRegionDescriptor(byOld, [old.key], [link, loop]), /already in the chain/);
  });

  it("seals to the key that started last among those in force, and to none when all have ended", () => {
    const s = statement();
    const [older, newer] = s.keys;
    assert.equal(sealingKey(s, new Date("2026-03-01T00:00:00Z")).kid, older?.kid);
    assert.equal(sealingKey(s, new Date("2026-06-15T00:00:00Z")).kid, newer?.kid);
    assert.throws(
      () => sealingKey(s, new Date("2027-01-01T00:00:00Z")),
      (err: unknown) => isSdkError(err, "sdk.region_key_expired"),
    );
    assert.throws(
      () => sealingKey(s, new Date("2025-12-31T23:59:59Z")),
      (err: unknown) => isSdkError(err, "sdk.region_key_expired"),
    );
  });
});
