/**
 * What a reader says about files it cannot read: not a capture, a capture
 * cut short (after yielding what was complete), a corrupt length, a kind of
 * capture it does not decode.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CaptureError, type CaptureErrorCode } from "./errors.ts";
import { readFlows, readPackets } from "./read.ts";
import {
  CLIENT,
  collectUntilError,
  httpRequest,
  httpResponse,
  SERVER,
  T0,
  tempDir,
} from "../../test/testing.ts";
import { type CaptureWriter, pcapngWriter, pcapWriter } from "../../test/writer.ts";

const dir = tempDir();

function file(name: string, content: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function failure(path: string, code: CaptureErrorCode, message: RegExp): Promise<number> {
  const { items, error } = await collectUntilError(readPackets(path));
  assert.ok(error instanceof CaptureError, `expected a CaptureError, got ${String(error)}`);
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return items.length;
}

/** Two sessions of 12 packets each (3 of them the response's data segments). */
function twoSessions(writer: CaptureWriter): Buffer {
  for (const port of [51000, 51001]) {
    const client = { ...CLIENT, port };
    writer.tcpSession({
      client,
      server: SERVER,
      request: httpRequest(),
      response: httpResponse(4000),
      time: T0,
    });
  }
  return writer.toBuffer();
}

test("files that are no capture are unreadable, with what they start with", async () => {
  await failure(
    file("notes.txt", "hello world\n"),
    "capture.unreadable",
    /notes\.txt is not a pcap, pcapng or HAR file \(starts with 68 65 6c 6c 6f 20 77 6f 72 6c 64 0a "hello world."\)/,
  );
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  await failure(
    file("image.png", png),
    "capture.unreadable",
    /is not a pcap, pcapng or HAR file \(starts with 89 50 4e 47 0d 0a 1a 0a/,
  );
  await failure(
    file("empty.pcap", ""),
    "capture.unreadable",
    /empty\.pcap is not a pcap, pcapng or HAR file \(it is empty\)/,
  );
  await failure(
    file("other.json", '{"log": {"pages": []}}'),
    "capture.unreadable",
    /\(JSON without log\.entries\)/,
  );
  await failure(file("tiny", "ab"), "capture.unreadable", /starts with 61 62 "ab"/);
  await failure(join(dir, "missing.pcap"), "capture.unreadable", /missing\.pcap cannot be read: ENOENT/);
  await failure(dir, "capture.unreadable", /cannot be read: not a regular file/);
});

test("compressed captures and unknown link types are unsupported", async () => {
  await failure(
    file("x.pcap.gz", Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0])),
    "capture.unsupported",
    /gzip-compressed/,
  );
  const radiotap = pcapWriter().toBuffer();
  radiotap.writeUInt32LE(127, 20);
  await failure(file("wifi.pcap", radiotap), "capture.unsupported", /link type 127/);
});

test("a pcap cut inside a packet yields the packets before it, then capture.truncated", async () => {
  const whole = twoSessions(pcapWriter());
  const cut = whole.subarray(0, whole.length - 10);
  const yielded = await failure(
    file("cut.pcap", cut),
    "capture.truncated",
    new RegExp(`cut\\.pcap ends inside packet 24 at byte ${cut.length} `),
  );
  assert.equal(yielded, 23);
  const headerOnly = whole.subarray(0, 24 + 7);
  assert.equal(
    await failure(file("cut2.pcap", headerOnly), "capture.truncated", /ends inside packet 1 at byte 31/),
    0,
  );
  await failure(file("cut3.pcap", whole.subarray(0, 20)), "capture.truncated", /inside its pcap file header/);
});

test("a pcapng cut inside a block yields the packets before it, then capture.truncated", async () => {
  const whole = twoSessions(pcapngWriter());
  const cut = whole.subarray(0, whole.length - 33);
  assert.equal(
    await failure(file("cut.pcapng", cut), "capture.truncated", /ends inside packet 24 at byte/),
    23,
  );
});

test("readFlows on a cut capture yields the flows it could assemble, then capture.truncated", async () => {
  const whole = twoSessions(pcapWriter());
  const { items, error } = await collectUntilError(
    readFlows(file("cut-flows.pcap", whole.subarray(0, whole.length - 10))),
  );
  assert.ok(error instanceof CaptureError && error.code === "capture.truncated");
  assert.equal(items.length, 2);
  assert.equal(items[0]?.serverData.length, httpResponse(4000).length);
});

test("a record length beyond any sane capture is unreadable, with its offset", async () => {
  const pcap = twoSessions(pcapWriter());
  const firstLength = pcap.readUInt32LE(24 + 8);
  const second = 24 + 16 + firstLength;
  pcap.writeUInt32LE(0x7fffffff, second + 8);
  const yielded = await failure(
    file("huge.pcap", pcap),
    "capture.unreadable",
    new RegExp(`packet 2 claims a captured length of 2147483647 bytes at byte ${second}$`),
  );
  assert.equal(yielded, 1);
});

test("pcapng blocks whose lengths disagree or are impossible are unreadable, with their offset", async () => {
  const pcapng = twoSessions(pcapngWriter());
  const firstPacket = 28 + 32;
  const length = pcapng.readUInt32LE(firstPacket + 4);
  const mismatched = Buffer.from(pcapng);
  mismatched.writeUInt32LE(length + 4, firstPacket + length - 4);
  await failure(
    file("mismatch.pcapng", mismatched),
    "capture.unreadable",
    new RegExp(`block at byte ${firstPacket} says ${length} bytes at its start and ${length + 4} at its end`),
  );
  const unaligned = Buffer.from(pcapng);
  unaligned.writeUInt32LE(length + 2, firstPacket + 4);
  await failure(
    file("unaligned.pcapng", unaligned),
    "capture.unreadable",
    new RegExp(`a block claims a length of ${length + 2} bytes at byte ${firstPacket}`),
  );
  const noMagic = Buffer.from(pcapng);
  noMagic.writeUInt32LE(0x12345678, 8);
  await failure(
    file("nomagic.pcapng", noMagic),
    "capture.unreadable",
    /section header at byte 0 has no byte-order magic/,
  );
});

/** A little-endian pcapng block of `type` around `body` (padded to 4 bytes). */
function block(type: number, body: Buffer): Buffer {
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const out = Buffer.alloc(12 + padded.length);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(out.length, 4);
  padded.copy(out, 8);
  out.writeUInt32LE(out.length, out.length - 4);
  return out;
}

test("pcapng blocks too short for the fixed fields of their type are unreadable, with their offset", async () => {
  const pcapng = twoSessions(pcapngWriter());
  const header = pcapng.subarray(0, 28); // the section header; the writer's IDB follows, then the packets
  const withIdb = pcapng.subarray(0, 60);
  const cases: [string, Buffer, RegExp][] = [
    [
      "epb12",
      block(6, Buffer.alloc(0)),
      /packet 1 has 20 bytes of fixed fields in a body of 0 bytes at byte 60$/,
    ],
    [
      "epb16",
      block(6, Buffer.alloc(16)),
      /packet 1 has 20 bytes of fixed fields in a body of 16 bytes at byte 60$/,
    ],
    [
      "opb",
      block(2, Buffer.alloc(16)),
      /packet 1 has 20 bytes of fixed fields in a body of 16 bytes at byte 60$/,
    ],
    [
      "spb",
      block(3, Buffer.alloc(0)),
      /packet 1 has 4 bytes of fixed fields in a body of 0 bytes at byte 60$/,
    ],
  ];
  for (const [name, bad, message] of cases) {
    await failure(file(`${name}.pcapng`, Buffer.concat([withIdb, bad])), "capture.unreadable", message);
  }
  // An IDB of 12 bytes has no link type: its trailing length must not be read as one.
  await failure(
    file("idb12.pcapng", Buffer.concat([header, block(1, Buffer.alloc(0)), pcapng.subarray(60)])),
    "capture.unreadable",
    /an interface description block has 8 bytes of fixed fields in a body of 0 bytes at byte 28$/,
  );
});

test("pcapng timestamps that are no date (if_tsresol of seconds, a huge if_tsoffset) are unreadable", async () => {
  const pcapng = twoSessions(pcapngWriter());
  const seconds = Buffer.from(pcapng);
  assert.equal(seconds.readUInt16LE(28 + 16), 9); // the writer's if_tsresol option
  seconds[28 + 20] = 0; // microsecond ticks read as seconds: some 5e13 years after 1970
  assert.equal(
    await failure(
      file("seconds.pcapng", seconds),
      "capture.unreadable",
      /packet 1 at byte 60 has a timestamp that is no date/,
    ),
    0,
  );
  const tsoffset = Buffer.alloc(12);
  tsoffset.writeUInt16LE(14, 0); // if_tsoffset, 8 bytes: 2^62 seconds
  tsoffset.writeUInt16LE(8, 2);
  tsoffset.writeBigInt64LE(2n ** 62n, 4);
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(1, 0); // Ethernet
  const idb = block(1, Buffer.concat([fixed, tsoffset, Buffer.alloc(4)]));
  await failure(
    file("tsoffset.pcapng", Buffer.concat([pcapng.subarray(0, 28), idb, pcapng.subarray(60)])),
    "capture.unreadable",
    new RegExp(`packet 1 at byte ${28 + idb.length} has a timestamp that is no date`),
  );
});
