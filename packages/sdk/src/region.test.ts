import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { isSdkError, type SdkErrorCode } from "./errors.ts";
import { assertSecureTransport, checkEndpoint, isLoopbackHost, type RegionDescriptor } from "./region.ts";
import { makeHome, makeRegionKeys, type RegionKeys } from "../test/helpers.ts";

describe("region pinning", () => {
  let keys: RegionKeys;
  let other: RegionKeys;
  let home: RegionDescriptor;
  let good: Record<string, unknown>;
  before(async () => {
    keys = await makeRegionKeys();
    other = await makeRegionKeys();
    home = makeHome("https://global.example.com", keys);
    good = { region: "global", storedIn: "SG", kid: keys.kid, publicKey: keys.publicKey, suite: "x" };
  });

  it("knows loopback hosts", () => {
    for (const url of [
      "http://localhost:8080",
      "http://127.0.0.1",
      "http://127.9.8.7:1",
      "http://[::1]:3000",
      "http://127.1",
    ]) {
      assert.equal(isLoopbackHost(new URL(url).hostname), true, url);
    }
    for (const url of [
      "http://10.0.0.1",
      "http://128.0.0.1",
      "http://localhost.evil.com",
      "http://[::2]",
      "http://zzhc.vnet.cn",
    ]) {
      assert.equal(isLoopbackHost(new URL(url).hostname), false, url);
    }
  });

  it("allows https anywhere and http only to loopback", () => {
    assertSecureTransport("https://collect.example.com");
    assertSecureTransport("http://127.0.0.1:4000");
    for (const url of [
      "http://10.0.0.1",
      "http://zzhc.vnet.cn/activate",
      "ftp://example.com",
      "ws://127.0.0.1",
      "nonsense",
    ]) {
      assert.throws(
        () => assertSecureTransport(url),
        (e) => isSdkError(e, "sdk.insecure_transport"),
        url,
      );
    }
  });

  it("accepts the home region's own announcement", () => {
    assert.equal(checkEndpoint(home, good).kid, keys.kid);
  });

  const refusals: Array<[string, () => unknown, SdkErrorCode]> = [
    ["another region", () => ({ ...good, region: "cn" }), "sdk.endpoint_region_mismatch"],
    ["another storage country", () => ({ ...good, storedIn: "CN" }), "sdk.endpoint_region_mismatch"],
    [
      "another key (consistent kid)",
      () => ({ ...good, kid: other.kid, publicKey: other.publicKey }),
      "sdk.endpoint_key_mismatch",
    ],
    [
      "our kid with another key",
      () => ({ ...good, publicKey: other.publicKey }),
      "sdk.endpoint_key_mismatch",
    ],
    ["a kid that is not the key's id", () => ({ ...good, kid: other.kid }), "sdk.endpoint_key_mismatch"],
    ["a malformed key", () => ({ ...good, publicKey: "short" }), "sdk.endpoint_key_mismatch"],
    ["no region field", () => ({ ...good, region: undefined }), "sdk.endpoint_invalid"],
    ["not an object", () => "global", "sdk.endpoint_invalid"],
    ["null", () => null, "sdk.endpoint_invalid"],
  ];
  for (const [what, target, code] of refusals) {
    it(`refuses an endpoint announcing ${what} with ${code}`, () => {
      assert.throws(
        () => checkEndpoint(home, target()),
        (e) => isSdkError(e, code),
      );
    });
  }

  it("refuses a device whose market the announced policy gives to another region (the incident)", () => {
    const policy = { markets: { CN: "cn" }, default: home.region };
    const announced = { ...good, policy };
    assert.equal(checkEndpoint(home, announced, "NO").region, home.region);
    assert.throws(
      () => checkEndpoint(home, announced, "CN"),
      (e) => isSdkError(e, "sdk.market_region_mismatch") && /CN belong to region `cn`/.test(e.message),
    );
  });

  it("keeps the limits a collector announces when they are positive whole numbers, and only then", () => {
    const limits = (value: unknown) => checkEndpoint(home, { ...good, limits: value }).limits;
    assert.equal(checkEndpoint(home, good).limits, undefined, "an older collector announces none");
    assert.deepEqual(limits({ maxBodyBytes: 65536, maxDiagnosticsEvents: 500, other: 1 }), {
      maxBodyBytes: 65536,
      maxDiagnosticsEvents: 500,
    });
    assert.deepEqual(limits({ maxBodyBytes: 0, maxDiagnosticsEvents: 20 }), { maxDiagnosticsEvents: 20 });
    for (const bad of [null, "64k", { maxBodyBytes: -1 }, { maxBodyBytes: 1.5 }, { maxBodyBytes: "65536" }]) {
      assert.equal(limits(bad), undefined, JSON.stringify(bad));
    }
  });

  it("refuses a plain-http non-loopback home even when the announcement matches", () => {
    const insecure = { ...home, url: "http://10.0.0.1" };
    assert.throws(
      () => checkEndpoint(insecure, good),
      (e) => isSdkError(e, "sdk.insecure_transport"),
    );
  });
});
