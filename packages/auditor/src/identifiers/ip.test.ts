/**
 * Public IP addresses: globally routable IPv4 and IPv6 found; private,
 * special-purpose, documentation and resolver addresses, and versions, not.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findIdentifiers, isGloballyRoutable } from "./index.ts";

const find = (text: string, key?: string) => findIdentifiers(text, { key });
const values = (text: string, key?: string) => find(text, key).map((match) => match.value);

describe("public IP", () => {
  test("a public IPv4 address: medium", () => {
    const [match] = find('{"ip":"81.2.69.160"}');
    assert.equal(match?.kind, "public-ip");
    assert.equal(match?.value, "81.2.69.160");
    assert.equal(match?.confidence, "medium");
    assert.deepEqual(values("client 93.184.216.34 connected"), ["93.184.216.34"]);
  });

  test("a public IPv6 address", () => {
    assert.deepEqual(values("from 2a00:1450:4001:82a::200e"), ["2a00:1450:4001:82a::200e"]);
    assert.deepEqual(values("[2a02:2350:5:100::1]:443"), ["2a02:2350:5:100::1"]);
  });

  test("private, loopback, link-local, CGNAT, documentation, multicast and unspecified are skipped", () => {
    const special = [
      "10.1.2.3",
      "172.16.5.4",
      "192.168.1.10",
      "127.0.0.1",
      "169.254.10.20",
      "100.64.1.1",
      "192.0.2.15",
      "198.51.100.7",
      "203.0.113.9",
      "224.0.0.251",
      "255.255.255.255",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1c2b:3aff:fe4d:5e6f",
      "fd12:3456:789a::1",
      "2001:db8::1",
      "ff02::fb",
      "::ffff:192.168.1.1",
    ];
    for (const address of special) assert.deepEqual(find(address), [], address);
  });

  test("version strings are not addresses", () => {
    assert.deepEqual(find("1.2.3.4"), []);
    assert.deepEqual(find("v1.2.3.4"), []);
    assert.deepEqual(find("version 10.0.19041.1"), []);
    assert.deepEqual(find("1.2.3.4.5"), []);
    assert.deepEqual(find("81.2.69.160", "app_version"), []);
    assert.deepEqual(find("Chrome/124.0.6367.207"), []);
  });

  test("single-digit quads count only under an ip key", () => {
    assert.deepEqual(values("5.6.7.8", "client_ip"), ["5.6.7.8"]);
  });

  test("public resolvers are configuration, not the device", () => {
    assert.deepEqual(find("dns=8.8.8.8,1.1.1.1"), []);
    assert.deepEqual(find("2001:4860:4860::8888"), []);
  });

  test("leading zeros, out-of-range octets and reverse-DNS names are not addresses", () => {
    assert.deepEqual(find("081.002.069.160"), []);
    assert.deepEqual(find("81.2.69.256"), []);
    assert.deepEqual(find("160.69.2.81.in-addr.arpa"), []);
  });
});

test("isGloballyRoutable: an address, judged alone (resolvers and short quads included)", () => {
  assert.equal(isGloballyRoutable("8.8.8.8"), true);
  assert.equal(isGloballyRoutable("1.2.3.4"), true);
  assert.equal(isGloballyRoutable("220.181.38.148"), true);
  assert.equal(isGloballyRoutable("2a00:1450:4001:82b::200e"), true);
  for (const address of [
    "127.0.0.1",
    "10.1.2.3",
    "192.168.1.20",
    "100.64.0.1",
    "169.254.1.1",
    "::1",
    "fe80::1",
    "fd00::1",
    "not an address",
  ]) {
    assert.equal(isGloballyRoutable(address), false, address);
  }
});
