import assert from "node:assert/strict";
import { sign, verify } from "node:crypto";
import { describe, it } from "node:test";
import { generateKeyPairSync } from "node:crypto";
import {
  deviceKeyId,
  ed25519PrivateKey,
  ed25519PublicKey,
  regionKeyId,
  rootKeyId,
  validateIdentity,
} from "@phonehome/sdk";
import { demoIdentities, generateDemoFleet } from "./fleet.generate.ts";
import { parseFactory } from "./fleet.parse.ts";

describe("demo fleet", () => {
  it("gives every device its own Ed25519 key pair, and keeps the private halves out of the factory file", () => {
    const { factory, keys } = generateDemoFleet({ devices: 9 });
    assert.equal(factory.devices.length, 9);
    assert.equal(new Set(factory.devices.map((d) => d.publicKey)).size, 9);
    const text = JSON.stringify(factory);
    for (const device of factory.devices) {
      const pair = keys[device.serial];
      assert.ok(pair, device.serial);
      assert.equal(pair.publicKey, device.publicKey);
      assert.equal(pair.keyId, deviceKeyId(device.publicKey));
      assert.ok(!text.includes(pair.privateKey), "a private key leaked into the factory document");
      const message = Buffer.from(`hello from ${device.serial}`);
      const signature = sign(null, message, ed25519PrivateKey(pair.privateKey, pair.publicKey));
      assert.ok(verify(null, message, ed25519PublicKey(device.publicKey), signature));
    }
  });

  it("flashes identities that trust the fleet roots it is given, each a valid identity", () => {
    const fleet = generateDemoFleet({ devices: 3, seed: "roots" });
    const x = String(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x);
    const root = { kid: rootKeyId(x), publicKey: x };
    const regionKey = String(generateKeyPairSync("x25519").publicKey.export({ format: "jwk" }).x);
    const home = {
      region: "global",
      storedIn: "SG",
      url: "https://global.example.com",
      kid: regionKeyId(regionKey),
      publicKey: regionKey,
    };
    const identities = demoIdentities(fleet, () => home, [root]);
    assert.equal(identities.length, 3);
    for (const identity of identities) assert.deepEqual(validateIdentity(identity).roots, [root]);
  });

  it("spreads devices over the markets, one batch each, with the variant of the market's region", () => {
    const { factory } = generateDemoFleet({ devices: 10, markets: ["NO", "CN", "FI"], seed: "spread" });
    assert.deepEqual(
      factory.batches.map((b) => `${b.market}:${b.variant}:${b.build}:${b.size}`),
      ["NO:00WW:00WW_3_39B_SP03:4", "CN:00CN:00CN_3_39B_SP03:3", "FI:00WW:00WW_3_39B_SP03:3"],
    );
    for (const device of factory.devices) {
      const batch = factory.batches.find((b) => b.id === device.batch);
      assert.equal(device.market, batch?.market);
      assert.equal(device.variant, batch?.variant);
    }
    const parsed = parseFactory("demo.json", JSON.stringify(factory));
    assert.deepEqual(parsed.problems, [], "the demo document passes the factory file schema");
  });

  it("is reproducible with a seed and different without one", () => {
    const a = generateDemoFleet({ devices: 5, seed: "same" });
    const b = generateDemoFleet({ devices: 5, seed: "same" });
    assert.deepEqual(a, b);
    const c = generateDemoFleet({ devices: 5, seed: "other" });
    assert.notEqual(c.factory.devices[0]?.publicKey, a.factory.devices[0]?.publicKey);
    const d = generateDemoFleet({ devices: 5 });
    const e = generateDemoFleet({ devices: 5 });
    assert.notEqual(d.factory.devices[0]?.serial, e.factory.devices[0]?.serial);
  });

  it("refuses what it cannot build", () => {
    assert.throws(() => generateDemoFleet({ devices: -1 }), RangeError);
    assert.throws(() => generateDemoFleet({ devices: 3, markets: ["Norway"] }), /alpha-2/);
    assert.throws(
      () => generateDemoFleet({ devices: 3, markets: ["DE"], regionOfMarket: () => "eu" }),
      /variants for global and cn only/,
    );
  });
});
