/**
 * Mutated captures: a small valid pcap, pcapng and HAR (a few HTTP
 * sessions, a UDP datagram, IP fragments, out-of-order and retransmitted
 * segments) each mutated a thousand times with a fixed seed — bytes
 * flipped, the file cut, a 32-bit field set to 0, 12, 16, 20 or 0xffffffff
 * (half the time a length or timestamp field of a record, a pcapng block's
 * length then written at both ends), garbage inserted — and read with
 * readFlows, in one read or in chunks of 64 bytes. Each read must end, either
 * with its flows (whose times are valid dates) or with a CaptureError;
 * any other error is a bug. The loop is bounded by the number of mutants.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isCaptureError } from "./errors.ts";
import { ipFragments, udpDatagram } from "../../test/frames.ts";
import { readFlows } from "./read.ts";
import { isValidTime } from "./records.ts";
import { CLIENT, httpRequest, httpResponse, SERVER, T0, tempDir } from "../../test/testing.ts";
import { type CaptureWriter, pcapngWriter, pcapWriter } from "../../test/writer.ts";

const dir = tempDir();
const MUTANTS_PER_FORMAT = 1000;
const LENGTHS = [0, 12, 16, 20, 0xffffffff];

/** mulberry32: a seed gives the same mutants every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function capture(writer: CaptureWriter): Buffer {
  writer.tcpSessions([
    { client: CLIENT, server: SERVER, request: httpRequest(), response: httpResponse(2_000), time: T0 },
    {
      client: { ip: "2001:db8::2", port: 50000 },
      server: { ip: "2001:db8::80", port: 8080 },
      request: httpRequest("/six"),
      response: httpResponse(1_500),
      time: T0 + 1,
      segmentSize: 300,
      shuffle: true,
      retransmit: true,
      omit: { server: [2] },
    },
  ]);
  writer.udp(T0 + 2, { ip: "10.0.0.2", port: 5353 }, { ip: "10.0.0.53", port: 53 }, Buffer.from("query"));
  const datagram = udpDatagram(
    { ip: "192.0.2.1", port: 5000 },
    { ip: "192.0.2.2", port: 6000 },
    Buffer.alloc(900, 7),
  );
  for (const fragment of ipFragments("192.0.2.1", "192.0.2.2", 17, datagram, 400, { id: 9 }).reverse()) {
    writer.ip(T0 + 3, fragment);
  }
  return writer.toBuffer();
}

function har(): Buffer {
  const entry = (path: string) => ({
    startedDateTime: "2025-01-02T03:04:05.123Z",
    time: 12.5,
    serverIPAddress: "203.0.113.7",
    request: {
      method: "POST",
      url: `https://collector.example${path}?q=1`,
      headers: [{ name: "User-Agent", value: "phone/1.0" }],
      postData: { params: [{ name: "imei", value: "490154203237518" }] },
    },
    response: {
      status: 200,
      statusText: "OK",
      headers: [],
      content: { text: "eyJvayI6dHJ1ZX0=", encoding: "base64" },
    },
  });
  return Buffer.from(
    JSON.stringify({
      log: { version: "1.2", comment: 'a "quoted" \\ note', entries: [entry("/a"), entry("/b")] },
    }),
  );
}

/** Where a record's length and timestamp fields are: [offset of the field, offset of the pcapng block] pairs. */
function recordFields(original: Buffer, format: string): [number, number | undefined][] {
  const fields: [number, number | undefined][] = [];
  if (format === "pcap") {
    for (let at = 24; at + 16 <= original.length; at += 16 + original.readUInt32LE(at + 8)) {
      fields.push([at, undefined], [at + 8, undefined], [at + 12, undefined]);
    }
  } else if (format === "pcapng") {
    for (let at = 0; at + 12 <= original.length; at += original.readUInt32LE(at + 4)) {
      fields.push([at + 4, at]);
      if (original.readUInt32LE(at) === 6) fields.push([at + 12, undefined], [at + 20, undefined]);
    }
  }
  return fields;
}

/** One seeded mutation of `original`: flips, a cut, a length field, or garbage. */
function mutate(original: Buffer, fields: [number, number | undefined][], next: () => number): Buffer {
  const at = (length: number) => Math.floor(next() * length);
  const kind = at(4);
  if (kind === 0) {
    const flipped = Buffer.from(original);
    for (let n = 1 + at(4); n > 0; n--) flipped[at(flipped.length)] = at(256);
    return flipped;
  }
  if (kind === 1) return original.subarray(0, at(original.length));
  if (kind === 2) {
    const field = Buffer.from(original);
    const value = LENGTHS[at(LENGTHS.length)] ?? 0;
    const known = fields.length > 0 && next() < 0.5 ? fields[at(fields.length)] : undefined;
    if (known) {
      const [offset, block] = known;
      field.writeUInt32LE(value, offset);
      // A pcapng block made shorter (or longer) at both ends, so that it passes the trailing check.
      if (block !== undefined && block + value <= field.length) field.writeUInt32LE(value, block + value - 4);
      return field;
    }
    const offset = next() < 0.5 ? at(field.length >> 2) * 4 : at(field.length - 3);
    if (next() < 0.5) field.writeUInt32LE(value, offset);
    else field.writeUInt32BE(value, offset);
    return field;
  }
  const garbage = Buffer.from(Array.from({ length: 1 + at(64) }, () => at(256)));
  const where = at(original.length + 1);
  return Buffer.concat([original.subarray(0, where), garbage, original.subarray(where)]);
}

for (const [name, original] of [
  ["pcap", capture(pcapWriter())],
  ["pcapng", capture(pcapngWriter())],
  ["har", har()],
] as const) {
  test(`${MUTANTS_PER_FORMAT} mutants of a ${name} read to their end or to a CaptureError`, async () => {
    const next = random(name.length * 7919);
    const fields = recordFields(original, name);
    const path = join(dir, `mutant.${name}`);
    const outcomes = { flows: 0, captureErrors: 0 };
    for (let i = 0; i < MUTANTS_PER_FORMAT; i++) {
      const mutant = mutate(original, fields, next);
      writeFileSync(path, mutant);
      const chunkBytes = next() < 0.25 ? 64 : undefined;
      try {
        for await (const flow of readFlows(path, { chunkBytes })) {
          assert.ok(isValidTime(flow.firstTime) && isValidTime(flow.lastTime), `mutant ${i}: ${flow.id}`);
          assert.ok(flow.clientData.length >= 0 && flow.serverData.length >= 0);
          outcomes.flows++;
        }
      } catch (error) {
        if (!isCaptureError(error)) {
          writeFileSync(join(dir, `failing.${name}`), mutant);
          assert.fail(`mutant ${i} of the ${name} threw ${String((error as Error)?.stack ?? error)}`);
        }
        outcomes.captureErrors++;
      }
    }
    // Both outcomes occur: the mutations neither all break the file nor all miss it.
    assert.ok(outcomes.flows > 0 && outcomes.captureErrors > 0, JSON.stringify(outcomes));
  });
}
