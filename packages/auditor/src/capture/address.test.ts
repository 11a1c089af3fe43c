/** RFC 5952 formatting of IPv6 addresses, and parsing back. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalIp, endpointText, formatIPv4, formatIPv6, parseIp } from "./address.ts";

const rfc5952 = [
  ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
  ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
  ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
  ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
  ["2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"],
  ["0:0:0:0:0:0:0:0", "::"],
  ["0:0:0:0:0:0:0:1", "::1"],
  ["1:0:0:0:0:0:0:0", "1::"],
  ["fe80:0:0:0:0:0:0:0", "fe80::"],
  ["0:0:0:0:0:ffff:c000:0280", "::ffff:192.0.2.128"],
  ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
  ["64:ff9b::c000:221", "64:ff9b::c000:221"],
  ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
];

test("IPv6 addresses are formatted per RFC 5952", () => {
  for (const [input, expected] of rfc5952) {
    assert.equal(formatIPv6(parseIp(input ?? ""), 0), expected, input);
  }
});

test("IPv6 formatting agrees with the WHATWG URL serialiser on random addresses", () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(16);
    for (let b = 0; b < 16; b++) bytes[b] = Math.random() < 0.6 ? 0 : Math.floor(Math.random() * 256);
    bytes[10] = 0; // keep clear of ::ffff:0:0/96, which RFC 5952 writes dotted and URL does not
    const text = formatIPv6(bytes, 0);
    assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
    assert.deepEqual(parseIp(text), bytes);
  }
});

test("IPv4 formatting and canonical forms", () => {
  assert.equal(formatIPv4(Uint8Array.from([0, 192, 0, 2, 1]), 1), "192.0.2.1");
  assert.equal(canonicalIp("[2001:DB8::0:1]"), "2001:db8::1");
  assert.equal(canonicalIp("192.0.2.7"), "192.0.2.7");
  assert.equal(canonicalIp("example.com"), undefined);
  assert.equal(canonicalIp("1.2.3.256"), undefined);
  assert.equal(canonicalIp("1::2::3"), undefined);
  assert.throws(() => parseIp("nope"), TypeError);
  assert.equal(endpointText({ ip: "2001:db8::1", port: 443 }), "[2001:db8::1]:443");
  assert.equal(endpointText({ ip: "", port: 443 }, "example.com"), "example.com:443");
});
