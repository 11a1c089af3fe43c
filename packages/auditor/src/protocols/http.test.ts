/**
 * HTTP/1.x by content: keep-alive and pipelining, Content-Length, chunked
 * (extensions, trailers), read-until-close, content codings alone, stacked
 * and under chunking, truncated streams, bodiless responses, and bytes that
 * are not HTTP at all.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import zlib from "node:zlib";
import { parseHttp } from "./http.ts";

const bytes = (...parts: (string | Uint8Array)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : p)));
const text = (body: Uint8Array): string => Buffer.from(body).toString("utf8");
const JSON_BODY = JSON.stringify({ imei: "861234567890123", note: "x".repeat(200) });

function must<T>(value: T | null | undefined): T {
  assert.ok(value !== null && value !== undefined);
  return value;
}

describe("parseHttp: recognising HTTP", () => {
  test("returns null for bytes that do not begin with a request line", () => {
    const empty = new Uint8Array();
    assert.equal(parseHttp(bytes("HELLO server\r\n"), empty), null);
    assert.equal(parseHttp(bytes("GET / HTTP/2.0\r\n\r\n"), empty), null);
    assert.equal(parseHttp(bytes("get / HTTP/1.1\r\n\r\n"), empty), null);
    assert.equal(parseHttp(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]), empty), null);
    assert.equal(parseHttp(empty, bytes("HTTP/1.1 200 OK\r\n\r\n")), null);
  });

  test("reads two keep-alive requests and pairs the responses by order", () => {
    const client = bytes(
      "POST /register?v=2 HTTP/1.1\r\nHost: Reg.Example.CN:9999\r\nX-Id: a\r\nX-Id: b\r\n",
      `Content-Type: application/json\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`,
      "\r\nGET /status HTTP/1.1\r\nHost: reg.example.cn\r\n\r\n",
    );
    const server = bytes(
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine",
    );
    const { requests, responses } = must(parseHttp(client, server));
    assert.equal(requests.length, 2);
    const [first, second] = requests;
    assert.equal(first?.method, "POST");
    assert.equal(first?.target, "/register?v=2");
    assert.equal(first?.version, "HTTP/1.1");
    assert.equal(first?.host, "reg.example.cn");
    assert.deepEqual(
      first?.headers.filter(([n]) => n === "x-id"),
      [
        ["x-id", "a"],
        ["x-id", "b"],
      ],
    );
    assert.equal(text(must(first).body), JSON_BODY);
    assert.equal(first?.offset, 0);
    assert.equal(second?.method, "GET");
    assert.equal(second?.body.length, 0);
    assert.equal(second?.offset, client.indexOf("GET /status"));
    assert.deepEqual(
      responses.map((r) => [r.status, r.reason, r.requestIndex, text(r.body)]),
      [
        [201, "Created", 0, "ok"],
        [200, "OK", 1, "fine"],
      ],
    );
  });

  test("takes the host from an absolute-form target and from CONNECT's authority", () => {
    const proxied = must(
      parseHttp(bytes("GET http://[2001:db8::1]:8080/a HTTP/1.0\r\n\r\n"), new Uint8Array()),
    );
    assert.equal(proxied.requests[0]?.host, "2001:db8::1");
    const tunnel = bytes("CONNECT api.example.com:443 HTTP/1.1\r\n\r\n", Buffer.from([0x16, 3, 1, 0, 1, 1]));
    const connect = must(parseHttp(tunnel, bytes("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03")));
    assert.equal(connect.requests.length, 1);
    assert.equal(connect.requests[0]?.host, "api.example.com");
    assert.equal(connect.responses.length, 1);
  });
});

describe("parseHttp: bodies", () => {
  test("decodes a chunked request body with chunk extensions and trailers", () => {
    const client = bytes(
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
      "5;name=value\r\nhello\r\n",
      "7\r\n, world\r\n",
      "0\r\nX-Checksum: abc\r\n\r\n",
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    const { requests } = must(parseHttp(client, new Uint8Array()));
    assert.equal(text(must(requests[0]).body), "hello, world");
    assert.deepEqual(requests[0]?.headers.at(-1), ["x-checksum", "abc"]);
    assert.equal(requests[1]?.target, "/next");
  });

  const codings: [string, string, (data: Buffer) => Buffer][] = [
    ["gzip", "gzip", (d) => zlib.gzipSync(d)],
    ["x-gzip", "x-gzip", (d) => zlib.gzipSync(d)],
    ["zlib-wrapped deflate", "deflate", (d) => zlib.deflateSync(d)],
    ["raw deflate", "deflate", (d) => zlib.deflateRawSync(d)],
    ["brotli", "br", (d) => zlib.brotliCompressSync(d)],
    ["stacked deflate then gzip", "deflate, gzip", (d) => zlib.gzipSync(zlib.deflateSync(d))],
  ];
  for (const [label, coding, compress] of codings) {
    test(`undoes Content-Encoding: ${coding} (${label})`, () => {
      const body = compress(Buffer.from(JSON_BODY));
      const server = bytes(
        `HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${body.length}\r\n\r\n`,
        body,
      );
      const { responses } = must(parseHttp(bytes("GET / HTTP/1.1\r\n\r\n"), server));
      assert.equal(text(must(responses[0]).body), JSON_BODY);
      assert.equal(responses[0]?.bodyNote, undefined);
    });
  }

  test("undoes gzip under chunked transfer coding, split across odd chunk sizes", () => {
    const gz = zlib.gzipSync(Buffer.from(JSON_BODY));
    const cut = 17;
    const server = bytes(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
      `${cut.toString(16)}\r\n`,
      gz.subarray(0, cut),
      `\r\n${(gz.length - cut).toString(16)}\r\n`,
      gz.subarray(cut),
      "\r\n0\r\n\r\n",
    );
    const { responses } = must(parseHttp(bytes("GET / HTTP/1.1\r\n\r\n"), server));
    assert.equal(text(must(responses[0]).body), JSON_BODY);
  });

  test("keeps a body that fails to decode as it came, with a note", () => {
    const server = bytes("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!");
    const { responses } = must(parseHttp(bytes("GET / HTTP/1.1\r\n\r\n"), server));
    assert.equal(text(must(responses[0]).body), "not gzip!");
    assert.match(responses[0]?.bodyNote ?? "", /gzip could not be decoded/);
  });

  test("reads a response without length until the connection closes", () => {
    const server = bytes("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two");
    const { responses } = must(parseHttp(bytes("GET / HTTP/1.0\r\n\r\n"), server));
    assert.equal(text(must(responses[0]).body), "line one\r\nline two");
  });

  test("gives HEAD, 1xx, 204 and 304 responses no body and keeps pairing", () => {
    const client = bytes(
      "HEAD /a HTTP/1.1\r\n\r\n",
      "POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
      "GET /c HTTP/1.1\r\n\r\n",
      "GET /d HTTP/1.1\r\n\r\n",
    );
    const server = bytes(
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    );
    const { requests, responses } = must(parseHttp(client, server));
    assert.equal(requests.length, 4);
    assert.deepEqual(
      responses.map((r) => [r.status, r.requestIndex, r.body.length]),
      [
        [200, 0, 0],
        [100, 1, 0],
        [204, 1, 0],
        [304, 2, 0],
        [200, 3, 2],
      ],
    );
  });
});

describe("parseHttp: truncated streams", () => {
  test("returns the part of a body that arrived, with a note", () => {
    const client = bytes("POST /x HTTP/1.1\r\nContent-Length: 100\r\n\r\n", "a".repeat(40));
    const { requests } = must(parseHttp(client, new Uint8Array()));
    assert.equal(requests[0]?.body.length, 40);
    assert.match(requests[0]?.bodyNote ?? "", /truncated: 40 of 100/);
  });

  test("returns the decoded prefix of a truncated gzip body", () => {
    const gz = zlib.gzipSync(Buffer.from(JSON_BODY.repeat(20)));
    const half = gz.subarray(0, Math.floor(gz.length / 2));
    const server = bytes(
      `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`,
      half,
    );
    const { responses } = must(parseHttp(bytes("GET / HTTP/1.1\r\n\r\n"), server));
    const body = text(must(responses[0]).body);
    assert.ok(body.length > 0 && JSON_BODY.repeat(20).startsWith(body));
    assert.match(responses[0]?.bodyNote ?? "", /truncated.*gzip stream incomplete/);
  });

  test("returns a truncated chunked body and a request whose head was cut", () => {
    const chunked = bytes("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nwor");
    const cut = must(parseHttp(chunked, new Uint8Array()));
    assert.equal(text(must(cut.requests[0]).body), "hellowor");
    assert.match(cut.requests[0]?.bodyNote ?? "", /truncated inside a chunk/);
    const head = must(
      parseHttp(bytes("GET /imei/861234567890123 HTTP/1.1\r\nHost: a.cn\r\nUser-Ag"), new Uint8Array()),
    );
    assert.equal(head.requests[0]?.target, "/imei/861234567890123");
    assert.equal(head.requests[0]?.host, "a.cn");
    assert.match(head.requests[0]?.bodyNote ?? "", /head truncated/);
  });
});

describe("parseHttp: large streams", () => {
  test("reads 5 000 pipelined requests and a 20 MB body", () => {
    const one = `POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: ${JSON_BODY.length}\r\n\r\n${JSON_BODY}`;
    const big = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const client = bytes(
      one.repeat(5000),
      `POST /big HTTP/1.1\r\nContent-Length: ${big.length}\r\n\r\n`,
      big,
    );
    const { requests } = must(parseHttp(client, new Uint8Array()));
    assert.equal(requests.length, 5001);
    assert.equal(text(must(requests[4999]).body), JSON_BODY);
    assert.equal(requests[5000]?.body.length, big.length);
  });

  test("reads at most 64 KiB of a head cut off by the end of the stream", () => {
    const rest = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const client = bytes("POST /imei/861234567890123 HTTP/1.1\r\nHost: a.cn\r\nX-Blob: ", rest);
    const request = must(must(parseHttp(client, new Uint8Array())).requests[0]);
    assert.equal(request.target, "/imei/861234567890123");
    assert.equal(request.host, "a.cn");
    const blob = request.headers.find(([name]) => name === "x-blob")?.[1] ?? "";
    assert.ok(blob.length > 60 * 1024 && blob.length < 64 * 1024, `${blob.length}`);
    assert.match(request.bodyNote ?? "", /head truncated/);
  });
});

describe("parseHttp: responseBodies false", () => {
  const gz = zlib.gzipSync(JSON_BODY);
  const chunked = (data: Buffer) =>
    bytes(`${data.length.toString(16)}\r\n`, data, "\r\n0\r\nX-Trailer: t\r\n\r\n");
  const client = bytes(
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /d HTTP/1.1\r\nHost: h\r\n\r\n",
  );
  const server = bytes(
    `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`,
    gz,
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
    chunked(gz),
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
  );

  test("frames responses so pipelined ones still pair, but neither copies nor inflates their bodies", () => {
    const read = must(parseHttp(client, server));
    const framed = must(parseHttp(client, server, { responseBodies: false }));
    assert.deepEqual(framed.requests, read.requests);
    assert.deepEqual(
      framed.responses.map((r) => [r.status, r.requestIndex, r.offset, r.body.length]),
      [
        [200, 0, 0, 0],
        [200, 1, read.responses[1]?.offset, 0],
        [204, 2, read.responses[2]?.offset, 0],
        [200, 3, read.responses[3]?.offset, 0],
      ],
    );
    assert.equal(text(must(read.responses[0]).body), JSON_BODY);
    assert.equal(text(must(read.responses[1]).body), JSON_BODY);
    assert.deepEqual(framed.responses[1]?.headers.at(-1), ["x-trailer", "t"]);
    assert.equal(framed.responses[0]?.bodyNote, undefined);
    assert.match(framed.responses[3]?.bodyNote ?? "", /body truncated: 5 of 100 bytes/);
  });

  test("defaults to reading response bodies", () => {
    const read = must(parseHttp(client, server, {}));
    assert.equal(text(must(read.responses[0]).body), JSON_BODY);
  });
});
