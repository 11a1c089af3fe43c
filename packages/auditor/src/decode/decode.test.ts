/**
 * The recursive decoder: each encoding alone and nested, the exact paths and
 * `encoded` flags, limits (depth, leaves, decompression bombs), and the
 * guards that keep ids and ordinary words from being decoded into garbage.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import zlib from "node:zlib";
import type { Leaf } from "../types.ts";
import { decode, MAX_INFLATED } from "./index.ts";

const b64 = (text: string | Buffer): string => Buffer.from(text).toString("base64");
const rendered = (leaves: Leaf[]): string[] => leaves.map((l) => l.path.join(" -> "));

/** The one leaf at this rendered path. */
function at(leaves: Leaf[], path: string): Leaf {
  const found = leaves.filter((l) => l.path.join(" -> ") === path);
  assert.equal(found.length, 1, `expected one leaf at ${path}, got: ${rendered(leaves).join(" | ")}`);
  return found[0] as Leaf;
}

const CTCC = JSON.stringify({
  REGVER: "1.0",
  MEID: "A1000012345678",
  IMSI1: "460031234567890",
  SIM1ICCID: "89860312345678901234",
  MODEL: "ZTE-X1",
});

describe("decode: single encodings", () => {
  test("keeps the original text as a leaf, unencoded", () => {
    const leaves = decode("imei 861234567890123 in plain words", ["body"]);
    assert.deepEqual(leaves, [
      { path: ["body"], text: "imei 861234567890123 in plain words", encoded: false },
    ]);
  });

  test("splits a form body into parameters, percent-decoding values", () => {
    const leaves = decode("imei=861234567890123&mac=00%3A11%3A22%3A33%3A44%3A55&name=A+B", ["body"]);
    assert.deepEqual(rendered(leaves), [
      "body",
      "body -> form.imei",
      "body -> form.mac",
      "body -> form.name",
    ]);
    assert.deepEqual(at(leaves, "body -> form.imei"), {
      path: ["body", "form.imei"],
      key: "imei",
      text: "861234567890123",
      encoded: false,
    });
    assert.equal(at(leaves, "body -> form.mac").text, "00:11:22:33:44:55");
    // `:` escaped as %3A is how a form is written, not a way of hiding the address.
    assert.equal(at(leaves, "body -> form.mac").encoded, false);
    assert.equal(at(leaves, "body -> form.name").text, "A B");
  });

  test("escaped letters and digits, which no form needs, mark the value encoded", () => {
    const leaves = decode("imei=%38%36%31234567890123&ok=1", ["body"]);
    assert.deepEqual(at(leaves, "body -> form.imei"), {
      path: ["body", "form.imei"],
      key: "imei",
      text: "861234567890123",
      encoded: true,
    });
    assert.equal(at(leaves, "body -> form.ok").encoded, false);
  });

  test("reads a URL's query parameters and its escaped path", () => {
    const leaves = decode("/dev/%E8%AE%BE%E5%A4%87/reg?IMSI=460031234567890&t=1#frag", ["target"]);
    assert.deepEqual(rendered(leaves), [
      "target",
      "target -> path",
      "target -> query.IMSI",
      "target -> query.t",
    ]);
    assert.equal(at(leaves, "target -> path").text, "/dev/设备/reg");
    assert.equal(at(leaves, "target -> query.IMSI").key, "imsi");
    assert.equal(at(leaves, "target -> query.IMSI").encoded, false);
  });

  test("walks JSON to every scalar with original-case paths and exact numbers", () => {
    const json = '{"Device":{"IDs":[{"ICCID":89860312345678901234},"x"],"on":true,"none":null,"a b":1.50}}';
    const leaves = decode(json, ["body"]);
    assert.deepEqual(rendered(leaves), [
      "body",
      "body -> json.Device.IDs[0].ICCID",
      "body -> json.Device.IDs[1]",
      "body -> json.Device.on",
      'body -> json.Device["a b"]',
    ]);
    assert.equal(at(leaves, "body -> json.Device.IDs[0].ICCID").text, "89860312345678901234");
    assert.equal(at(leaves, "body -> json.Device.IDs[0].ICCID").key, "iccid");
    assert.equal(at(leaves, "body -> json.Device.IDs[1]").key, "ids");
    assert.equal(at(leaves, 'body -> json.Device["a b"]').text, "1.50");
    assert.ok(leaves.every((l) => !l.encoded));
  });

  test("decodes standard, URL-safe unpadded, and line-wrapped base64", () => {
    const text = "serial=SN0123456789ABCDEF?&imei=861234567890123~~~ device report from the field ".repeat(3);
    const standard = b64(text);
    assert.ok(/[+/]/.test(standard) || standard.endsWith("="));
    const urlSafe = Buffer.from(text).toString("base64url");
    const wrappedCrlf = standard.replace(/.{76}/g, "$&\r\n");
    const wrappedLf = standard.replace(/.{76}/g, "$&\n");
    for (const encoded of [standard, urlSafe, wrappedCrlf, wrappedLf]) {
      const leaf = at(decode(encoded, ["body"]), "body -> base64");
      assert.equal(leaf.text, text);
      assert.equal(leaf.encoded, true);
    }
  });

  test("decodes hex of text and hex of gzip", () => {
    const text = "IMEI:861234567890123";
    assert.equal(at(decode(Buffer.from(text).toString("hex"), ["x"]), "x -> hex").text, text);
    const gzHex = zlib.gzipSync(text).toString("hex");
    assert.equal(at(decode(gzHex, ["x"]), "x -> hex -> gzip").text, text);
  });

  test("inflates gzip and zlib bytes", () => {
    assert.equal(at(decode(zlib.gzipSync("hello device"), ["body"]), "body -> gzip").text, "hello device");
    const leaf = at(decode(zlib.deflateSync("hello device"), ["body"]), "body -> gzip");
    assert.deepEqual(leaf, { path: ["body", "gzip"], text: "hello device", encoded: true });
  });

  test("takes base64 beginning with '/' as base64, and decodes base64 path segments", () => {
    const jpeg = Buffer.concat([
      Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
      Buffer.from("JFIF model ZTE-X1 serial SN12345678"),
    ]);
    const encoded = jpeg.toString("base64");
    assert.ok(encoded.startsWith("/9j/"));
    assert.match(at(decode(encoded, ["x"]), "x -> base64").text, /serial SN12345678/);
    const segment = Buffer.from('{"imei":"861234567890123"}').toString("base64url");
    const leaves = decode(`/reg/${segment}/done`, ["target"]);
    assert.equal(at(leaves, "target -> path -> base64 -> json.imei").text, "861234567890123");
  });

  test("undoes percent-escapes in plain text", () => {
    const leaves = decode("a%20b%3Dc%E4%B8%AD", ["x"]);
    assert.deepEqual(at(leaves, "x -> url"), { path: ["x", "url"], text: "a b=c中", encoded: true });
  });

  test("reads XML-ish elements and JWT payloads", () => {
    assert.deepEqual(rendered(decode("eyJhbGciOiJub25lIn0.x.", ["h"])), ["h"]); // payload shorter than 8
    const xml = decode('<?xml version="1.0"?><req><imei>861234567890123</imei><n a="1">x &amp; y</n></req>', [
      "b",
    ]);
    assert.deepEqual(rendered(xml), ["b", "b -> xml.imei", "b -> xml.n"]);
    assert.equal(at(xml, "b -> xml.n").text, "x & y");
    const jwt = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"861234567890123"}').toString("base64url")}.`;
    assert.equal(at(decode(jwt, ["h"]), "h -> jwt.payload -> base64 -> json.sub").text, "861234567890123");
  });

  test("shows binary as its printable runs and decodes the runs", () => {
    const proto = Buffer.concat([
      Buffer.from([0x0a, 0x0f]),
      Buffer.from("861234567890123"),
      Buffer.from([0x12, 0x18, 0x00, 0xff, 0x01]),
      Buffer.from(b64('{"mac":"00:11:22:33:44:55"}')),
      Buffer.from([0x00, 0xfe]),
    ]);
    const leaves = decode(proto, ["body"]);
    assert.match(at(leaves, "body").text, /861234567890123/);
    assert.equal(at(leaves, "body -> base64 -> json.mac").text, "00:11:22:33:44:55");
  });
});

describe("decode: nested encodings", () => {
  test("reaches the China Telecom self-registration fields: body -> base64 -> json.SIM1ICCID", () => {
    const leaves = decode(Buffer.from(b64(CTCC)), ["body"]);
    assert.deepEqual(rendered(leaves), [
      "body",
      "body -> base64",
      "body -> base64 -> json.REGVER",
      "body -> base64 -> json.MEID",
      "body -> base64 -> json.IMSI1",
      "body -> base64 -> json.SIM1ICCID",
      "body -> base64 -> json.MODEL",
    ]);
    assert.deepEqual(at(leaves, "body -> base64 -> json.SIM1ICCID"), {
      path: ["body", "base64", "json.SIM1ICCID"],
      key: "sim1iccid",
      text: "89860312345678901234",
      encoded: true,
    });
    assert.equal(at(leaves, "body").encoded, false);
  });

  test("form -> base64 -> json, with an escaped and with an unescaped '+'", () => {
    const payload = b64(JSON.stringify({ imei: "861234567890123", pad: "??>>" }));
    assert.ok(payload.includes("+"));
    for (const body of [`v=2&data=${encodeURIComponent(payload)}`, `v=2&data=${payload}`]) {
      const leaf = at(decode(body, ["body"]), "body -> form.data -> base64 -> json.imei");
      assert.equal(leaf.text, "861234567890123");
      assert.equal(leaf.encoded, true);
      assert.equal(leaf.key, "imei");
    }
  });

  test("json string -> base64 -> gzip -> json", () => {
    const inner = zlib.gzipSync(JSON.stringify({ Location: { lat: 31.230416, lng: 121.473701 } }));
    const leaves = decode(JSON.stringify({ payload: inner.toString("base64") }), ["body"]);
    const leaf = at(leaves, "body -> json.payload -> base64 -> gzip -> json.Location.lat");
    assert.deepEqual(leaf, {
      path: ["body", "json.payload", "base64", "gzip", "json.Location.lat"],
      key: "lat",
      text: "31.230416",
      encoded: true,
    });
    assert.equal(at(leaves, "body -> json.payload").encoded, false);
  });

  test("a JSON string holding percent-escaped JSON", () => {
    const leaves = decode(JSON.stringify({ q: encodeURIComponent('{"iccid":"89860312345678901234"}') }), [
      "b",
    ]);
    assert.equal(at(leaves, "b -> json.q -> url -> json.iccid").text, "89860312345678901234");
  });
});

describe("decode: guards and limits", () => {
  const notBase64 = [
    "abcdefabcdef1234",
    "HelloWorldThisIsText",
    "0123456789abcdef0123456789abcdef",
    "d41d8cd98f00b204e9800998ecf8427e",
    "550e8400-e29b-41d4-a716-446655440000",
    "861234567890123",
    "89860312345678901234",
    "AuthorizationToken",
    "ThisIsJustAnOrdinaryIdentifier",
    "com.example.deviceregistration",
  ];
  for (const text of notBase64) {
    test(`does not decode ${text} into garbage`, () => {
      const leaves = decode(text, ["x"]);
      assert.deepEqual(leaves, [{ path: ["x"], text, encoded: false }]);
    });
  }

  test("stops at maxDepth on base64 nested many times", () => {
    let text = "deep secret value 861234567890123";
    for (let i = 0; i < 12; i += 1) text = b64(text);
    const leaves = decode(text, ["x"]);
    assert.equal(Math.max(...leaves.map((l) => l.path.length)), 7);
    assert.equal(decode(text, ["x"], { maxDepth: 2 }).length, 3);
  });

  test("stops at maxLeaves", () => {
    const json = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ id: `device-${i}` })));
    assert.equal(decode(json, ["b"], { maxLeaves: 50 }).length, 50);
  });

  test("caps a decompression bomb instead of inflating it", () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x41));
    const leaves = decode(Buffer.from(b64(bomb)), ["body"]);
    assert.ok(leaves.length > 0);
    assert.ok(leaves.every((l) => !l.path.includes("gzip")));
    assert.ok(leaves.every((l) => l.text.length < 1024 * 1024));
  });

  test("decodes large inputs to the expected leaves", () => {
    const records = Array.from({ length: 20000 }, (_, i) => ({
      id: i,
      name: `Device ${i}`,
      hash: "d41d8cd98f00b204e9800998ecf8427e",
    }));
    const json = JSON.stringify(records);
    const prose = "An ordinary sentence about nothing in particular, repeated. ".repeat(100000);
    assert.equal(decode(json, ["b"], { maxLeaves: 100000 }).length, 1 + 60000);
    assert.equal(decode(prose, ["b"]).length, 1);
    assert.equal(decode("A".repeat(4_000_000) + "!", ["b"]).length, 1);
  });

  test("survives 40 MB of one character class (no regex stack overflow)", () => {
    // An 84 MB base64 body once overflowed V8's regex stack in the JWT pattern.
    for (const text of ["A".repeat(40e6), "0".repeat(40e6), `eyJ${"A".repeat(40e6)}`, "a=b&".repeat(10e6)]) {
      const leaves = decode(text, ["body"]);
      assert.ok(leaves.length > 0);
      assert.equal(leaves[0]?.text.length, text.length);
    }
    assert.doesNotThrow(() => decode(Buffer.alloc(40e6, 0x41), ["body"]));
    assert.doesNotThrow(() => decode(Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(40e6, 0x61)]), ["b"]));
  });

  test("does not try base64 or hex on texts longer than the decompression cap", () => {
    const line = "imei 861234567890123 and more words to read. ";
    const small = b64(line.repeat(1000));
    assert.equal(at(decode(small, ["x"]), "x -> base64").text, line.repeat(1000));
    const large = b64(line.repeat(Math.ceil((MAX_INFLATED * 0.8) / line.length)));
    assert.ok(large.length > MAX_INFLATED);
    assert.deepEqual(rendered(decode(large, ["x"])), ["x"]);
    const hex = Buffer.from(line.repeat(Math.ceil(MAX_INFLATED / 2 / line.length) + 1)).toString("hex");
    assert.deepEqual(rendered(decode(hex, ["x"])), ["x"]);
  });

  test("walks JSON nested 200 000 deep without overflowing; values below 64 levels are not leaves", () => {
    const deep = `${"[".repeat(200_000)}"861234567890123"${"]".repeat(200_000)}`;
    assert.deepEqual(rendered(decode(deep, ["b"])), ["b"]);
    const nest = (levels: number) => `${'{"a":'.repeat(levels)}"861234567890123"${"}".repeat(levels)}`;
    const shallow = decode(nest(64), ["b"]);
    assert.equal(shallow.length, 2);
    assert.equal(shallow[1]?.text, "861234567890123");
    assert.equal(shallow[1]?.path[1], `json${".a".repeat(64)}`);
    assert.deepEqual(rendered(decode(nest(65), ["b"])), ["b"]);
  });
});

describe("decode: names in paths are masked", () => {
  test("a very long name is cut in the path, not carried whole", () => {
    const leaves = decode(JSON.stringify({ ["k".repeat(1_000_000)]: "v" }), ["body"]);
    const steps = leaves.flatMap((l) => l.path);
    assert.ok(steps.length > 1);
    assert.ok(
      steps.every((step) => step.length <= 257),
      "no step longer than 256 characters and the ellipsis",
    );
  });

  test("a JSON key that is an IMEI keeps 4 digits in the path; the key stays whole", () => {
    const leaves = decode(JSON.stringify({ "490154203237518": { imsi: "460001234567890" } }), ["body"]);
    const leaf = at(leaves, 'body -> json["4901•••••••••••"].imsi');
    assert.equal(leaf.key, "imsi");
    assert.ok(leaves.every((l) => !l.path.join(" ").includes("490154203237518")));
    const named = at(
      decode(JSON.stringify({ "490154203237518": "x" }), ["body"]),
      'body -> json["4901•••••••••••"]',
    );
    assert.equal(named.key, "490154203237518");
  });

  test("query and form names, XML element names and hex runs of 12 or more are masked; short runs are not", () => {
    const query = decode("/r?490154203237518=1&id1234567=2", ["target"]);
    assert.equal(at(query, "target -> query.4901•••••••••••").key, "490154203237518");
    assert.equal(at(query, "target -> query.id1234567").text, "2");
    const form = decode("deadbeefcafebabe=1&x=2", ["body"]);
    assert.equal(at(form, "body -> form.dead••••••••••••").key, "deadbeefcafebabe");
    const hexKey = decode(JSON.stringify({ a9f86d081884c: "v", abcdef12345: "w" }), ["b"]);
    assert.deepEqual(rendered(hexKey), ["b", "b -> json.a9f8•••••••••", "b -> json.abcdef12345"]);
    const xml = decode("<r><m861234567890123>v</m861234567890123></r>", ["b"]);
    assert.equal(at(xml, "b -> xml.m8612•••••••••••").key, "m861234567890123");
  });
});
