/**
 * DNS with dns-packet: questions and A/AAAA/CNAME answers over UDP and over
 * TCP (length-prefixed, several messages), garbage refused, and DnsNames
 * following CNAME chains back to the name that was asked for.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import dnsPacket from "dns-packet";
import { canonicalIp } from "../capture/index.ts";
import { DnsNames, normaliseIp, parseDns } from "./dns.ts";

const query = dnsPacket.encode({
  type: "query",
  id: 7,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ type: "A", name: "API.Example.CN" }],
});

const response = dnsPacket.encode({
  type: "response",
  id: 7,
  questions: [{ type: "A", name: "api.example.cn" }],
  answers: [
    { type: "CNAME", name: "api.example.cn", data: "edge.example.cn.cdn.net" },
    { type: "CNAME", name: "edge.example.cn.cdn.net", data: "x7.cdn.net" },
    { type: "A", name: "x7.cdn.net", data: "1.2.3.4" },
    { type: "AAAA", name: "x7.cdn.net", data: "2001:0db8:0000:0000:0000:0000:0000:0001" },
    { type: "TXT", name: "x7.cdn.net", data: "ignored" },
  ],
});

function tcp(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 0xff]), m]));
}

describe("parseDns", () => {
  test("reads a query's questions", () => {
    assert.deepEqual(parseDns(query, false), { response: false, questions: ["api.example.cn"], answers: [] });
  });

  test("says whether a message is a response (the QR bit), whichever side sent it", () => {
    assert.equal(parseDns(query, false)?.response, false);
    assert.equal(parseDns(response, false)?.response, true);
    assert.equal(parseDns(tcp(response, response), true)?.response, true);
    // A stream is a response only when every message in it is one.
    assert.equal(parseDns(tcp(query, response), true)?.response, false);
    // A response without answers (NXDOMAIN) is still a response.
    const empty = dnsPacket.encode({ type: "response", id: 1, questions: [{ type: "A", name: "none.cn" }] });
    assert.deepEqual(parseDns(empty, false), { response: true, questions: ["none.cn"], answers: [] });
  });

  test("reads A, AAAA and CNAME answers and drops other types", () => {
    assert.deepEqual(parseDns(response, false)?.answers, [
      { name: "api.example.cn", type: "CNAME", data: "edge.example.cn.cdn.net" },
      { name: "edge.example.cn.cdn.net", type: "CNAME", data: "x7.cdn.net" },
      { name: "x7.cdn.net", type: "A", data: "1.2.3.4" },
      { name: "x7.cdn.net", type: "AAAA", data: "2001:db8::1" },
    ]);
  });

  test("reads every length-prefixed message of a TCP stream", () => {
    const parsed = parseDns(tcp(query, response), true);
    assert.deepEqual(parsed?.questions, ["api.example.cn", "api.example.cn"]);
    assert.equal(parsed?.answers.length, 4);
    assert.equal(parseDns(tcp(query).subarray(0, 10), true), null);
  });

  test("over TCP, reads several messages and returns what parsed when the last is cut", () => {
    const stream = tcp(response, query, response);
    const whole = parseDns(stream, true);
    assert.equal(whole?.answers.length, 8);
    assert.equal(whole?.questions.length, 3);
    for (const cut of [1, 2, 3, 20, response.length - 1]) {
      const parsed = parseDns(stream.subarray(0, stream.length - cut), true);
      assert.equal(parsed?.questions.length, 2, `cut ${cut}`);
      assert.equal(parsed?.answers.length, 4, `cut ${cut}`);
      assert.equal(parsed?.response, false, `cut ${cut}`);
    }
    const onlyFirst = parseDns(tcp(response, query).subarray(0, response.length + 2 + 5), true);
    assert.deepEqual(onlyFirst?.answers.length, 4);
    assert.equal(onlyFirst?.response, true);
  });

  test("returns null for bytes that are not DNS, without throwing", () => {
    const samples = [
      Buffer.from("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
      Buffer.from([0x16, 3, 1, 0, 5, 1, 0, 0, 1, 3, 3, 0, 0]),
      Buffer.alloc(11),
      Buffer.alloc(40),
      query.subarray(0, 20),
    ];
    for (const sample of samples) assert.equal(parseDns(sample, false), null);
    for (let seed = 1; seed <= 200; seed += 1) {
      const noise = Buffer.from(Array.from({ length: 60 }, (_, i) => (seed * 7919 + i * 104729) % 256));
      assert.doesNotThrow(() => parseDns(noise, false));
      assert.doesNotThrow(() => parseDns(noise, true));
    }
  });
});

describe("normaliseIp", () => {
  test("is capture's canonicalIp: RFC 5952 IPv6, mapped IPv4 dotted, brackets removed", () => {
    const cases: [string, string][] = [
      ["1.2.3.4", "1.2.3.4"],
      ["010.001.002.003", "10.1.2.3"],
      ["2001:db8::1", "2001:db8::1"],
      ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["1:2:3:4:5:6::7", "1:2:3:4:5:6:0:7"],
      ["0::", "::"],
      ["::", "::"],
      ["::ffff", "::ffff"],
      ["::FFFF:0102:0304", "::ffff:1.2.3.4"],
      ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
      ["[2a00:1450:4001:82a::200e]", "2a00:1450:4001:82a::200e"],
    ];
    for (const [input, expected] of cases) {
      assert.equal(normaliseIp(input), expected, input);
      assert.equal(normaliseIp(input), canonicalIp(input), input);
    }
  });

  test("leaves what is not an address as it is, lower-cased", () => {
    assert.equal(normaliseIp("Not-An-IP"), "not-an-ip");
    assert.equal(normaliseIp("fe80::1%ETH0"), "fe80::1%eth0");
    assert.equal(normaliseIp(""), "");
  });
});

describe("DnsNames", () => {
  test("names an address by the queried name, following CNAMEs back", () => {
    const names = new DnsNames();
    names.record(parseDns(response, false)?.answers ?? []);
    assert.equal(names.nameFor("1.2.3.4"), "api.example.cn");
    assert.equal(names.nameFor("2001:db8:0:0:0:0:0:1"), "api.example.cn");
    assert.equal(names.nameFor("5.6.7.8"), null);
    names.record([{ name: "mapped.example", type: "AAAA", data: "0:0:0:0:0:FFFF:0102:0304" }]);
    assert.equal(names.nameFor("::ffff:1.2.3.4"), "mapped.example");
  });

  test("prefers the latest name for a shared address, lists all, and survives a CNAME loop", () => {
    const names = new DnsNames();
    names.record([{ name: "a.example", type: "A", data: "9.9.9.9" }]);
    names.record([{ name: "b.example", type: "A", data: "9.9.9.9" }]);
    assert.equal(names.nameFor("9.9.9.9"), "b.example");
    assert.deepEqual(names.namesFor("9.9.9.9"), ["a.example", "b.example"]);
    names.record([
      { name: "x.loop", type: "CNAME", data: "y.loop" },
      { name: "y.loop", type: "CNAME", data: "x.loop" },
      { name: "y.loop", type: "A", data: "8.8.4.4" },
    ]);
    assert.equal(names.nameFor("8.8.4.4"), "x.loop");
  });
});
