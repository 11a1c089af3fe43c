/**
 * Leaves of whole HTTP messages, parsed from bytes: the target's query, the
 * headers that can identify (cookies split, credentials decoded, plumbing
 * skipped), and bodies by Content-Type (JSON, form, multipart, a non-UTF-8
 * charset, sniffed when unlabelled).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseHttp } from "../protocols/http.ts";
import type { HttpRequest, HttpResponse } from "../protocols/http.ts";
import type { Leaf } from "../types.ts";
import { httpLeaves, responseLeaves } from "./index.ts";

const rendered = (leaves: Leaf[]): string[] => leaves.map((l) => l.path.join(" -> "));

function exchange(client: string | Buffer, server = ""): { request: HttpRequest; response?: HttpResponse } {
  const parsed = parseHttp(Buffer.from(client), Buffer.from(server));
  assert.ok(parsed !== null && parsed.requests[0] !== undefined);
  const result: { request: HttpRequest; response?: HttpResponse } = { request: parsed.requests[0] };
  if (parsed.responses[0] !== undefined) result.response = parsed.responses[0];
  return result;
}

function textAt(leaves: Leaf[], path: string): string | undefined {
  return leaves.find((l) => l.path.join(" -> ") === path)?.text;
}

describe("httpLeaves", () => {
  test("covers the target, identifying headers and a JSON body", () => {
    const body = JSON.stringify({ device: { imei: "861234567890123" } });
    const basic = Buffer.from("861234567890123:secret").toString("base64");
    const { request } = exchange(
      [
        "POST /api/v1/reg?imsi=460031234567890&lang=zh HTTP/1.1",
        "Host: reg.example.cn:9999",
        "Accept: */*",
        "User-Agent: Dalvik/2.1.0 (Linux; U; Android 9; ZTE-X1 Build/PKQ1)",
        "Cookie: sid=abc+123; uid=u%2042",
        `Authorization: Basic ${basic}`,
        "X-Device-Mac: 00:11:22:33:44:55",
        "IMEI: 861234567890123",
        "Content-Type: application/json; charset=utf-8",
        `Content-Length: ${body.length}`,
        "",
        body,
      ].join("\r\n"),
    );
    const leaves = httpLeaves(request);
    assert.deepEqual(rendered(leaves), [
      "target",
      "target -> query.imsi",
      "target -> query.lang",
      "header.user-agent",
      "header.cookie",
      "header.cookie -> cookie.sid",
      "header.cookie -> cookie.uid",
      "header.authorization",
      "header.authorization -> base64",
      "header.x-device-mac",
      "header.imei",
      "body",
      "body -> json.device.imei",
    ]);
    assert.equal(textAt(leaves, "header.cookie -> cookie.uid"), "u 42");
    assert.equal(textAt(leaves, "header.cookie -> cookie.sid"), "abc+123");
    assert.equal(textAt(leaves, "header.authorization -> base64"), "861234567890123:secret");
    assert.equal(leaves.find((l) => l.path[0] === "header.imei")?.key, "imei");
    assert.equal(textAt(leaves, "body -> json.device.imei"), "861234567890123");
  });

  test("splits a form body even when it would not sniff as one", () => {
    const body = "imei=861234567890123&model=ZTE X1";
    const { request } = exchange(
      `POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const leaves = httpLeaves(request);
    assert.equal(textAt(leaves, "body -> form.model"), "ZTE X1");
    assert.equal(textAt(leaves, "body -> form.imei"), "861234567890123");
  });

  test("reads multipart parts by name", () => {
    const body = [
      "--XyZ",
      'Content-Disposition: form-data; name="meta"',
      "Content-Type: application/json",
      "",
      '{"iccid":"89860312345678901234"}',
      "--XyZ",
      'Content-Disposition: form-data; name="log"; filename="log.txt"',
      "",
      "boot ok",
      "--XyZ--",
      "",
    ].join("\r\n");
    const { request } = exchange(
      `POST /up HTTP/1.1\r\nContent-Type: multipart/form-data; boundary="XyZ"\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const leaves = httpLeaves(request);
    assert.equal(textAt(leaves, "body -> part.meta -> json.iccid"), "89860312345678901234");
    assert.equal(textAt(leaves, "body -> part.log"), "boot ok");
  });

  test("masks identifiers used as header, cookie and part names; keys stay whole", () => {
    const body = [
      "--B",
      'Content-Disposition: form-data; name="89860312345678901234"',
      "",
      "sim",
      "--B--",
      "",
    ].join("\r\n");
    const { request } = exchange(
      [
        "POST /up HTTP/1.1",
        "X-490154203237518: 1",
        "Cookie: d41d8cd98f00b204=2; short=3",
        `Content-Type: multipart/form-data; boundary=B`,
        `Content-Length: ${body.length}`,
        "",
        body,
      ].join("\r\n"),
    );
    const leaves = httpLeaves(request);
    assert.deepEqual(rendered(leaves), [
      "target",
      "header.x-4901•••••••••••",
      "header.cookie",
      "header.cookie -> cookie.d41d••••••••••••",
      "header.cookie -> cookie.short",
      "body -> part.8986••••••••••••••••",
    ]);
    assert.equal(leaves[1]?.key, "x-490154203237518");
    assert.equal(leaves[3]?.key, "d41d8cd98f00b204");
    assert.equal(leaves[5]?.key, "89860312345678901234");
  });

  test("decodes a body in a declared non-UTF-8 charset", () => {
    const gbk = Buffer.concat([
      Buffer.from("name="),
      Buffer.from([0xd6, 0xd0, 0xce, 0xc4]),
      Buffer.from("&imei=1"),
    ]);
    const head = `POST / HTTP/1.1\r\nContent-Type: text/plain; charset=GBK\r\nContent-Length: ${gbk.length}\r\n\r\n`;
    const leaves = httpLeaves(exchange(Buffer.concat([Buffer.from(head), gbk])).request);
    assert.equal(textAt(leaves, "body -> form.name"), "中文");
  });
});

describe("responseLeaves", () => {
  test("covers set-cookie, location and the body", () => {
    const body = '{"token":"t-1","deviceId":"D-42"}';
    const { response } = exchange(
      "GET / HTTP/1.1\r\n\r\n",
      [
        "HTTP/1.1 302 Found",
        "Server: nginx",
        "Set-Cookie: uid=861234567890123; Path=/; HttpOnly",
        "Location: https://cn.example.com/next?imsi=460031234567890",
        `Content-Length: ${body.length}`,
        "",
        body,
      ].join("\r\n"),
    );
    assert.ok(response !== undefined);
    const leaves = responseLeaves(response);
    assert.deepEqual(rendered(leaves), [
      "header.set-cookie",
      "header.set-cookie -> cookie.uid",
      "header.location",
      "header.location -> query.imsi",
      "body",
      "body -> json.token",
      "body -> json.deviceId",
    ]);
  });
});
