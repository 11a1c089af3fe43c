/**
 * Owners without accounts: a device-signed token opens that device's data, in
 * every region, and nothing else; forged, expired, over-long or foreign tokens
 * are refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type DeviceIdentity,
  ed25519PrivateKey,
  mintOwnerToken,
  OWNER_TOKEN_AUDIENCE,
  OWNER_TOKEN_TYPE,
} from "@phonehome/sdk";
import { SignJWT } from "jose";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

interface Export {
  region: string;
  device: string;
  records: {
    collection: string;
    legalBasis: string;
    expiresAt: string;
    facts: Record<string, string>;
    fields: { name: string; value: unknown; dataCategory: string; retention: string; transform: string }[];
  }[];
}

for (const backend of BACKENDS) {
  describe(`owner access on ${backend.name}`, { skip: backend.skip }, () => {
    let t: TestSystem;
    let a: DeviceIdentity;
    let b: DeviceIdentity;
    let c: DeviceIdentity;
    const url = (region: string) => t.system.regions.find((r) => r.id === region)?.url ?? "";
    const access = async (region: string, token: string | undefined) => {
      const response = await fetch(`${url(region)}/v1/owner/data`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      return {
        status: response.status,
        body: (await response.json()) as Export & { error?: { code: string; message: string } },
      };
    };

    before(async () => {
      t = await startTestSystem(backend);
      [a, b, c] = (await t.provision([
        { market: "NO" },
        { market: "FI" },
        { market: "CN" },
      ])) as DeviceIdentity[] as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
      for (const d of [a, b, c])
        assert.equal((await post(`${d.home.url}/v1/activations`, await buildEnvelope(d))).status, 201);
    });
    after(async () => {
      await t?.close();
    });

    test("a device's token shows what its home region holds, field by field, and nothing in the other region", async () => {
      const token = await mintOwnerToken(a);
      const home = await access("global", token);
      assert.equal(home.status, 200);
      assert.equal(home.body.device, a.keyId);
      assert.equal(home.body.records.length, 1);
      const record = home.body.records[0];
      assert.equal(record?.collection, "activation");
      assert.equal(record?.legalBasis, "contract");
      assert.ok(record?.facts.warrantyUntil);
      const serial = record?.fields.find((f) => f.name === "serial");
      assert.equal(serial?.transform, "pseudonymise");
      assert.equal(serial?.dataCategory, "user.device.serial_number");
      assert.match(String(serial?.value), /^ps_/);
      assert.equal(record?.fields.find((f) => f.name === "market")?.value, "NO");
      const elsewhere = await access("cn", token);
      assert.equal(elsewhere.status, 200);
      assert.deepEqual(elsewhere.body.records, [], "the cn region holds nothing about a Norwegian device");
      const china = await access("cn", await mintOwnerToken(c));
      assert.equal(china.body.records.length, 1);
    });

    test("the readable summary says the same in plain language", async () => {
      const summary = async (region: string, device: DeviceIdentity) => {
        const response = await fetch(`${url(region)}/v1/owner/summary`, {
          headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
        });
        assert.equal(response.status, 200);
        return ((await response.json()) as { summary: string }).summary;
      };
      const home = await summary("global", a);
      assert.match(home, /Stored in Singapore \(SG\)/);
      assert.match(home, /## activation: 1 record/);
      assert.match(home, /the sales contract and its warranty/);
      assert.match(home, /serial \(user\.device\.serial_number\), only as a pseudonym/);
      assert.ok(!home.includes(a.serial), "the summary shows what is stored, not the serial");
      assert.match(await summary("cn", a), /This region holds nothing about your device\./);
    });

    test("a token for device B opens B's data only", async () => {
      const exportB = await access("global", await mintOwnerToken(b));
      assert.equal(exportB.body.device, b.keyId);
      assert.equal(exportB.body.records.length, 1);
      assert.equal(exportB.body.records[0]?.fields.find((f) => f.name === "market")?.value, "FI");
      assert.ok(!JSON.stringify(exportB.body).includes(a.keyId));
    });

    const refusals: [string, () => Promise<string | undefined>, RegExp][] = [
      ["no token", async () => undefined, /Bearer/],
      [
        "a token with A's key id signed by B's key (forged)",
        async () =>
          new SignJWT({})
            .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: a.keyId })
            .setSubject(a.keyId)
            .setAudience(OWNER_TOKEN_AUDIENCE)
            .setIssuedAt()
            .setExpirationTime("5m")
            .setJti("forged")
            .sign(ed25519PrivateKey(b.privateKey, b.publicKey)),
        /signature/,
      ],
      [
        "an expired token",
        async () => mintOwnerToken(a, { now: new Date(Date.now() - 3_600_000), ttlSeconds: 600 }),
        /expired/,
      ],
      [
        "a token living longer than an hour",
        async () =>
          new SignJWT({})
            .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: a.keyId })
            .setSubject(a.keyId)
            .setAudience(OWNER_TOKEN_AUDIENCE)
            .setIssuedAt()
            .setExpirationTime("1d")
            .setJti("long")
            .sign(ed25519PrivateKey(a.privateKey, a.publicKey)),
        /3600 s at most/,
      ],
      [
        "a token whose subject is another device",
        async () =>
          new SignJWT({})
            .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: a.keyId })
            .setSubject(b.keyId)
            .setAudience(OWNER_TOKEN_AUDIENCE)
            .setIssuedAt()
            .setExpirationTime("5m")
            .setJti("swap")
            .sign(ed25519PrivateKey(a.privateKey, a.publicKey)),
        /sub/,
      ],
      [
        "a token for an unknown device",
        async () =>
          new SignJWT({})
            .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: `dk_${"Z".repeat(27)}` })
            .setSubject(`dk_${"Z".repeat(27)}`)
            .setAudience(OWNER_TOKEN_AUDIENCE)
            .setIssuedAt()
            .setExpirationTime("5m")
            .setJti("nobody")
            .sign(ed25519PrivateKey(a.privateKey, a.publicKey)),
        /no device/,
      ],
      ["garbage", async () => "not.a.token", /malformed|not an owner token/],
    ];
    for (const [what, token, reason] of refusals) {
      test(`refuses ${what}`, async () => {
        const answer = await access("global", await token());
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error?.code, "auth.owner_token_invalid");
        assert.match(answer.body.error?.message ?? "", reason);
      });
    }
  });
}
