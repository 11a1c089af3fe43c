/**
 * HAR files: each entry becomes the HTTP/1.1 exchange a pcap of it would
 * carry, as synthetic packets (readPackets) or a flow marked `har`
 * (readFlows); streamed entry by entry whatever the chunk size.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CaptureError } from "./errors.ts";
import { harEntries } from "./har-scan.ts";
import { readFlows, readPackets } from "./read.ts";
import { FlowAssembler } from "./reassembly.ts";
import { openSource } from "./source.ts";
import { bytes, collect, collectUntilError, tempDir } from "../../test/testing.ts";
import { pcapWriter } from "../../test/writer.ts";

const dir = tempDir();
let files = 0;

function harFile(entries: unknown[], extra: Record<string, unknown> = {}): string {
  const path = join(dir, `capture-${++files}.har`);
  const har = { log: { version: "1.2", creator: { name: "test", version: "1" }, ...extra, entries } };
  writeFileSync(path, JSON.stringify(har, null, 2));
  return path;
}

const reportBody = '{"imei":"490154203237518","note":"quote \\" and brace } inside"}';
const answer = Buffer.from('{"ok":true,"bin":"\u0000\u00ff"}', "latin1");

/** A POST with headers a browser records (a stale Content-Length among them) and a gzip-encoded answer. */
function reportEntry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    startedDateTime: "2025-01-02T03:04:05.123Z",
    time: 42.5,
    serverIPAddress: "203.0.113.7",
    request: {
      method: "POST",
      url: "http://collector.example/v1/report?device=a%20b#fragment",
      httpVersion: "HTTP/1.1",
      headers: [
        { name: "Host", value: "collector.example" },
        { name: "User-Agent", value: "phone/1.0" },
        { name: "Content-Type", value: "application/json" },
        { name: "Content-Length", value: "999" },
      ],
      postData: { mimeType: "application/json", text: reportBody },
    },
    response: {
      status: 200,
      statusText: "OK",
      headers: [
        { name: "Content-Type", value: "application/json" },
        { name: "Content-Encoding", value: "gzip" },
        { name: "Transfer-Encoding", value: "chunked" },
        { name: "Content-Length", value: "12" },
      ],
      content: {
        size: answer.length,
        mimeType: "application/json",
        text: answer.toString("base64"),
        encoding: "base64",
      },
    },
    ...overrides,
  };
}

const expectedRequest = Buffer.from(
  "POST /v1/report?device=a%20b HTTP/1.1\r\n" +
    "Host: collector.example\r\n" +
    "User-Agent: phone/1.0\r\n" +
    "Content-Type: application/json\r\n" +
    `Content-Length: ${Buffer.byteLength(reportBody)}\r\n\r\n` +
    reportBody,
);
const expectedResponse = Buffer.concat([
  Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n`,
  ),
  answer,
]);

test("a HAR entry carries the same request bytes as a pcap of the same exchange", async () => {
  const writer = pcapWriter();
  const client = { ip: "10.0.0.2", port: 50000 };
  const server = { ip: "203.0.113.7", port: 80 };
  writer.tcpSession({ client, server, request: expectedRequest, response: expectedResponse, time: 0 });
  const pcap = join(dir, "same.pcap");
  writeFileSync(pcap, writer.toBuffer());
  const [fromPcap] = await collect(readFlows(pcap));
  const [fromHar] = await collect(readFlows(harFile([reportEntry()])));
  assert.ok(fromPcap && fromHar);
  assert.deepEqual(bytes(fromHar.clientData), bytes(fromPcap.clientData));
  assert.deepEqual(bytes(fromHar.serverData), bytes(fromPcap.serverData));
  assert.deepEqual(fromHar.server, server);
  assert.deepEqual(fromHar.client, { ip: "192.0.2.1", port: 1024 });
  assert.deepEqual(fromHar.har, { scheme: "http", host: "collector.example" });
  assert.equal(fromHar.id, "tcp 192.0.2.1:1024 → 203.0.113.7:80");
  assert.equal(fromHar.firstTime, Date.UTC(2025, 0, 2, 3, 4, 5, 123));
  assert.equal(fromHar.lastTime, fromHar.firstTime + 42.5);
});

test("readPackets gives a HAR's entries as packets that reassemble to the same flow", async () => {
  const path = harFile([reportEntry(), reportEntry({ startedDateTime: "2025-01-02T03:04:06Z" })]);
  const stream = readPackets(path);
  const packets = await collect(stream);
  assert.equal(packets.length, 16);
  assert.deepEqual(
    packets.map((p) => p.index),
    [...Array<number>(8).fill(1), ...Array<number>(8).fill(2)],
  );
  assert.equal(stream.stats.format, "har");
  assert.equal(stream.stats.records, 2);
  assert.equal(stream.stats.packets, 16);
  const assembler = new FlowAssembler();
  const flows = [...packets.flatMap((p) => assembler.push(p)), ...assembler.finish()];
  assert.equal(flows.length, 2);
  assert.deepEqual(bytes(flows[0]?.clientData ?? new Uint8Array()), expectedRequest);
  assert.deepEqual(bytes(flows[1]?.serverData ?? new Uint8Array()), expectedResponse);
  assert.deepEqual(flows[1]?.client, { ip: "192.0.2.1", port: 1025 });
});

test("https without serverIPAddress, HTTP/2 pseudo-headers, base64 and form request bodies", async () => {
  const h2 = reportEntry({
    serverIPAddress: undefined,
    request: {
      method: "PUT",
      url: "https://api.example:8443/upload",
      headers: [
        { name: ":method", value: "PUT" },
        { name: ":authority", value: "api.example:8443" },
        { name: "x-token", value: "a\r\nInjected: yes" },
      ],
      postData: {
        mimeType: "application/octet-stream",
        text: Buffer.from([0, 1, 2, 255]).toString("base64"),
        encoding: "base64",
      },
    },
  });
  const form = reportEntry({
    serverIPAddress: "[2001:DB8::10]",
    request: {
      method: "POST",
      url: "http://[2001:db8::10]/form",
      headers: [],
      postData: {
        mimeType: "application/x-www-form-urlencoded",
        params: [
          { name: "a b", value: "c&d" },
          { name: "e", value: "é" },
        ],
      },
    },
    response: { status: 0, statusText: "", headers: [], content: { size: 0 } },
  });
  const flows = await collect(readFlows(harFile([h2, form])));
  const [put, post] = flows;
  assert.ok(put && post);
  assert.deepEqual(put.server, { ip: "", port: 8443 });
  assert.deepEqual(put.har, { scheme: "https", host: "api.example" });
  assert.equal(put.id, "tcp 192.0.2.1:1024 → api.example:8443");
  assert.deepEqual(
    bytes(put.clientData),
    Buffer.concat([
      Buffer.from(
        "PUT /upload HTTP/1.1\r\nHost: api.example:8443\r\nx-token: a Injected: yes\r\nContent-Length: 4\r\n\r\n",
      ),
      Buffer.from([0, 1, 2, 255]),
    ]),
  );
  assert.deepEqual(post.server, { ip: "2001:db8::10", port: 80 });
  assert.deepEqual(post.client, { ip: "2001:db8::1", port: 1025 });
  assert.equal(
    Buffer.from(post.clientData).toString(),
    "POST /form HTTP/1.1\r\nHost: [2001:db8::10]\r\nContent-Length: 18\r\n\r\na+b=c%26d&e=%C3%A9",
  );
  assert.equal(post.serverData.length, 0);
});

test("HAR streaming does not depend on where chunks end", async () => {
  const big = Buffer.alloc(30_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 256;
  const entries = [
    reportEntry(),
    reportEntry({
      response: {
        status: 200,
        statusText: "OK",
        headers: [],
        content: { text: big.toString("base64"), encoding: "base64" },
      },
    }),
    reportEntry({
      comment: 'braces { [ " \\ inside strings',
      request: { method: "GET", url: 'http://x.example/ü?q="', headers: [] },
    }),
  ];
  // "entries" inside pages must not be taken for log.entries.
  const path = harFile(entries, {
    pages: [{ id: "p", entries: [{ request: { url: "http://decoy.example/" } }] }],
  });
  const whole = await collect(readFlows(path));
  assert.equal(whole.length, 3);
  assert.equal(
    whole[1]?.serverData.length,
    big.length + "HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\n".length,
  );
  assert.equal(
    Buffer.from(whole[2]?.clientData ?? [])
      .toString()
      .split("\r\n")[0],
    "GET /%C3%BC?q=%22 HTTP/1.1",
  );
  const progress: number[] = [];
  const pieces = await collect(
    readFlows(path, { chunkBytes: 13, onProgress: (read) => progress.push(read) }),
  );
  assert.deepEqual(
    pieces.map((f) => [bytes(f.clientData), bytes(f.serverData)]),
    whole.map((f) => [bytes(f.clientData), bytes(f.serverData)]),
  );
  assert.equal(progress.at(-1), statSync(path).size);
});

test("a HAR cut inside an entry yields the entries before it, then capture.truncated", async () => {
  const path = harFile([reportEntry(), reportEntry()]);
  const text = readFileSync(path, "utf8");
  const cutAt = text.lastIndexOf('"startedDateTime"');
  writeFileSync(path, text.slice(0, cutAt));
  const { items, error } = await collectUntilError(readFlows(path));
  assert.equal(items.length, 1);
  assert.ok(error instanceof CaptureError);
  assert.equal(error.code, "capture.truncated");
  assert.match(error.message, new RegExp(`ends inside entry 2 at byte ${cutAt} `));
});

test("entries that are not valid JSON are unreadable; entries without an http(s) URL are skipped", async () => {
  const bad = join(dir, "bad.har");
  writeFileSync(bad, '{"log":{"entries":[{"request": {"url": "http://a/"}}, {"request": nope}]}}');
  const { items, error } = await collectUntilError(readFlows(bad));
  assert.equal(items.length, 1);
  assert.ok(error instanceof CaptureError && error.code === "capture.unreadable");
  assert.match(error.message, /HAR entry 2 at byte 54 is not valid JSON/);
  const odd = harFile([{ request: { url: "data:text/plain,hi" } }, { nothing: true }, reportEntry()]);
  const stream = readFlows(odd);
  assert.equal((await collect(stream)).length, 1);
  assert.equal(stream.stats.skippedEntries, 2);
});

test("keys that are not valid JSON strings are unreadable, with their offset", async () => {
  const escape = join(dir, "escape.har");
  writeFileSync(escape, '{"log":{"ver\\xsion":"1.2","entries":[]}}');
  const bad = await collectUntilError(readFlows(escape));
  assert.ok(bad.error instanceof CaptureError && bad.error.code === "capture.unreadable", String(bad.error));
  assert.match(bad.error.message, /escape\.har is not valid HAR: .+ at byte 8$/);
  const control = join(dir, "control.har");
  writeFileSync(control, '{"lo\u0001g":{"entries":[]}}'); // a raw control character in a key
  const raw = await collectUntilError(readFlows(control));
  assert.ok(raw.error instanceof CaptureError && raw.error.code === "capture.unreadable", String(raw.error));
  assert.match(raw.error.message, /control\.har is not valid HAR: .+ at byte 1$/);
});

test("a long string outside the entries is not held, escapes across chunk ends included", async () => {
  // Runs of backslashes and escaped quotes, so that chunk ends fall inside and between them.
  const alphabet = ["a", "\\", '"', "\\\\", "}"];
  const comment = Array.from({ length: 600_000 }, (_, i) => alphabet[(i * 7 + (i >> 3)) % 5]).join("");
  const path = harFile([reportEntry(), reportEntry()], { comment });
  assert.ok(statSync(path).size > 1_000_000);
  const expected = await collect(readFlows(harFile([reportEntry(), reportEntry()])));
  for (const chunkBytes of [4096, 4093]) {
    const stream = readFlows(path, { chunkBytes });
    const flows = await collect(stream);
    assert.deepEqual(
      flows.map((f) => [bytes(f.clientData), bytes(f.serverData)]),
      expected.map((f) => [bytes(f.clientData), bytes(f.serverData)]),
    );
    assert.ok(stream.stats.peakBufferBytes < 4 * chunkBytes, `${stream.stats.peakBufferBytes} bytes held`);
  }
});

test("a key, or a run of backslashes, beyond what one value may hold is unreadable", async () => {
  const cases: [string, RegExp][] = [
    [
      `{"log":{"${"k".repeat(5000)}":1,"entries":[]}}`,
      /key\.har is not valid HAR: more than 1000 bytes in one value at byte 8$/,
    ],
    [
      `{"log":{"comment":"${"\\".repeat(3000)}","entries":[]}}`,
      /more than 1000 bytes in one value at byte 19$/,
    ],
  ];
  for (const [content, message] of cases) {
    const path = join(dir, "key.har");
    writeFileSync(path, content);
    const source = await openSource(path, undefined, 256);
    await source.fill(1);
    const { error } = await collectUntilError(harEntries(source, 1000));
    source.close();
    assert.ok(error instanceof CaptureError && error.code === "capture.unreadable", String(error));
    assert.match(error.message, message);
  }
});

test("a lone surrogate in a form field and an endless entry time read as well-formed values", async () => {
  const path = join(dir, "odd-values.har");
  const entry = {
    startedDateTime: "2025-01-02T03:04:05.123Z",
    time: 1,
    request: {
      method: "POST",
      url: "http://x.example/",
      postData: { params: [{ name: "\ud800", value: "x" }] },
    },
  };
  writeFileSync(path, JSON.stringify({ log: { entries: [entry] } }).replace('"time":1', '"time":1e400'));
  const [flow] = await collect(readFlows(path));
  assert.ok(flow);
  assert.equal(flow.lastTime, Date.parse(entry.startedDateTime));
  assert.match(Buffer.from(flow.clientData).toString(), /\r\n\r\n%EF%BF%BD=x$/);
});
