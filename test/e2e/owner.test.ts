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

    /** A token signed by `key` (A's by default) with A's header and claims, changed as given. */
    const tokenOf = async (
      change: {
        header?: Record<string, unknown>;
        claims?: Record<string, unknown>;
        key?: DeviceIdentity;
      } = {},
    ) => {
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        sub: a.keyId,
        aud: OWNER_TOKEN_AUDIENCE,
        iat: now,
        exp: now + 300,
        jti: "a-token",
        ...change.claims,
      };
      for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
      const signer = change.key ?? a;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: "EdDSA", typ: OWNER_TOKEN_TYPE, kid: a.keyId, ...change.header })
        .sign(ed25519PrivateKey(signer.privateKey, signer.publicKey));
    };
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const in10Minutes = Math.floor(Date.now() / 1000) + 600;
    const anHourAgo = Math.floor(Date.now() / 1000) - 3600;

    /** What is wrong, the Authorization header that carries it, and what the refusal must say. */
    const refusals: [string, () => Promise<string | undefined>, string | RegExp][] = [
      [
        "no token",
        async () => undefined,
        "no token was sent: send it as Authorization: Bearer <owner token>",
      ],
      [
        "another scheme",
        async () => "Basic a2FyaTpzZWNyZXQ=",
        "the Authorization header is not Bearer <owner token>",
      ],
      [
        "a token that is not three parts",
        async () => "Bearer not-a-token",
        "the token is malformed: an owner token is three base64url parts joined by dots",
      ],
      [
        "a header that is not JSON",
        async () => `Bearer ${Buffer.from("not json").toString("base64url")}.${part({})}.c2ln`,
        "the token is malformed: its header is not JSON",
      ],
      [
        "alg none with an empty signature",
        async () =>
          `Bearer ${part({ alg: "none", typ: OWNER_TOKEN_TYPE, kid: a.keyId })}.${part({ sub: a.keyId, aud: "phonehome" })}.`,
        "the token is signed with alg none; owner tokens are signed with EdDSA (Ed25519)",
      ],
      [
        "another algorithm (HS256)",
        async () =>
          `Bearer ${await new SignJWT({ sub: a.keyId })
            .setProtectedHeader({ alg: "HS256", typ: OWNER_TOKEN_TYPE, kid: a.keyId })
            .sign(new TextEncoder().encode("a shared secret of enough length"))}`,
        "the token is signed with alg HS256; owner tokens are signed with EdDSA (Ed25519)",
      ],
      [
        "another type of token",
        async () => `Bearer ${await tokenOf({ header: { typ: "JWT" } })}`,
        'the token is not an owner token (typ must be "phonehome-owner+jwt")',
      ],
      [
        "no device key",
        async () => `Bearer ${await tokenOf({ header: { kid: "me" } })}`,
        "the token names no device key (kid must be a dk_… key id)",
      ],
      [
        "EdDSA without a signature",
        async () => `Bearer ${(await tokenOf()).replace(/\.[^.]+$/, ".")}`,
        "the token is not signed",
      ],
      [
        "an unknown device",
        async () =>
          `Bearer ${await tokenOf({ header: { kid: `dk_${"Z".repeat(27)}` }, claims: { sub: `dk_${"Z".repeat(27)}` } })}`,
        "no device was provisioned with the key the token names",
      ],
      [
        "A's key id signed by B's key (a bad signature)",
        async () => `Bearer ${await tokenOf({ key: b })}`,
        "the signature does not verify against the device's key",
      ],
      [
        "an expired token",
        async () => `Bearer ${await mintOwnerToken(a, { now: new Date(anHourAgo * 1000), ttlSeconds: 600 })}`,
        `the token expired at ${new Date((anHourAgo + 600) * 1000).toISOString()}; ask the device for a new one`,
      ],
      [
        "a token not valid yet",
        async () => `Bearer ${await tokenOf({ claims: { iat: in10Minutes, exp: in10Minutes + 300 } })}`,
        `the token is not valid yet: it was issued for ${new Date(in10Minutes * 1000).toISOString()}, later than now (check the device's clock)`,
      ],
      [
        "a token living longer than an hour",
        async () => `Bearer ${await tokenOf({ claims: { exp: Math.floor(Date.now() / 1000) + 86_400 } })}`,
        /^the token lives 864\d\d s; an owner token may live 3600 s at most$/,
      ],
      [
        "a subject other than the signing device",
        async () => `Bearer ${await tokenOf({ claims: { sub: b.keyId } })}`,
        "the token is about another device than the key that signed it (sub)",
      ],
      [
        "another audience",
        async () => `Bearer ${await tokenOf({ claims: { aud: "someone-else" } })}`,
        'the token is not meant for phonehome (aud must be "phonehome")',
      ],
      [
        "no id",
        async () => `Bearer ${await tokenOf({ claims: { jti: undefined } })}`,
        "the token has no id (jti)",
      ],
      [
        "no expiry",
        async () => `Bearer ${await tokenOf({ claims: { exp: undefined } })}`,
        "the token says no expiry time (exp)",
      ],
    ];
    for (const [what, authorization, reason] of refusals) {
      test(`refuses ${what}, saying so in plain words, in a region and on the control plane`, async () => {
        const header = await authorization();
        const headers = header === undefined ? {} : { authorization: header };
        const answers = await Promise.all([
          fetch(`${url("global")}/v1/owner/data`, { headers }),
          fetch(`${t.system.controlPlane.url}/v1/subject-requests/${crypto.randomUUID()}`, { headers }),
        ]);
        for (const answer of answers) {
          const body = (await answer.json()) as { error?: { code: string; message: string; path?: string } };
          assert.equal(answer.status, 401);
          assert.equal(body.error?.code, "auth.owner_token_invalid");
          assert.equal(body.error?.path, "/headers/authorization");
          const message = body.error?.message ?? "";
          assert.ok(message.startsWith("owner token refused: "), message);
          const said = message.slice("owner token refused: ".length);
          if (typeof reason === "string") assert.equal(said, reason);
          else assert.match(said, reason);
          assert.doesNotMatch(said, /check_failed|claim |JWS|JWT|ERR_|jose/, "no library internals");
        }
      });
    }
  });
}
