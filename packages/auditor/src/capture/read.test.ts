/**
 * readPackets: the same exchange from every container (pcap in both byte
 * orders and both resolutions, pcapng), every link layer, IPv4 and IPv6 with
 * their options, extension headers and fragments, cut frames, several pcapng
 * sections and interfaces, and a file many times the read buffer.
 */
import assert from "node:assert/strict";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ipFragments, ipPacket, type LinkKind, tcpSegment, udpDatagram } from "../../test/frames.ts";
import { readPackets } from "./read.ts";
import {
  CLIENT,
  collect,
  comparable,
  httpRequest,
  httpResponse,
  SERVER,
  T0,
  tempDir,
} from "../../test/testing.ts";
import { type CaptureWriter, pcapngWriter, pcapWriter, type WriterOptions } from "../../test/writer.ts";
import type { Packet } from "../types.ts";

const dir = tempDir();
const DNS_CLIENT = { ip: "2001:db8::5", port: 5353 };
const DNS_SERVER = { ip: "2001:db8::53", port: 53 };

function writeExchange(writer: CaptureWriter): void {
  writer.tcpSession({
    client: CLIENT,
    server: SERVER,
    request: httpRequest(),
    response: httpResponse(3000),
    time: T0,
  });
  writer.udp(T0 + 5, DNS_CLIENT, DNS_SERVER, Buffer.from("query"));
  writer.udp(T0 + 6, DNS_SERVER, DNS_CLIENT, Buffer.from("answer"));
}

async function packetsOf(name: string, content: Buffer, chunkBytes?: number): Promise<Packet[]> {
  const path = join(dir, name);
  writeFileSync(path, content);
  return collect(readPackets(path, { chunkBytes }));
}

test("pcap in both byte orders and resolutions and pcapng yield the same packets", async () => {
  const variants: [string, (o: WriterOptions) => CaptureWriter, WriterOptions][] = [
    ["le-us.pcap", pcapWriter, {}],
    ["be-us.pcap", pcapWriter, { bigEndian: true }],
    ["le-ns.pcap", pcapWriter, { nanoseconds: true }],
    ["be-ns.pcap", pcapWriter, { bigEndian: true, nanoseconds: true }],
    ["le-us.pcapng", pcapngWriter, {}],
    ["be-ns.pcapng", pcapngWriter, { bigEndian: true, nanoseconds: true }],
  ];
  const results: Packet[][] = [];
  for (const [name, make, options] of variants) {
    const writer = make(options);
    writeExchange(writer);
    results.push(await packetsOf(name, writer.toBuffer()));
  }
  const [first = []] = results;
  assert.equal(first.length, 14);
  assert.deepEqual(first[0]?.src, CLIENT);
  assert.equal(first[0]?.tcp?.syn, true);
  assert.equal(Math.round((first[0]?.time ?? 0) * 1000), Math.round(T0 * 1000));
  assert.deepEqual(
    first.map((p) => p.index),
    first.map((_, i) => i + 1),
  );
  assert.deepEqual(first.at(-1)?.src, DNS_SERVER);
  for (const [i, packets] of results.entries()) {
    assert.deepEqual(packets.map(comparable), first.map(comparable), variants[i]?.[0]);
  }
});

test("records split across read chunks decode the same as whole ones", async () => {
  const writer = pcapngWriter();
  writeExchange(writer);
  const content = writer.toBuffer();
  const whole = await packetsOf("whole.pcapng", content);
  const pieces = await packetsOf("pieces.pcapng", content, 7);
  assert.deepEqual(pieces.map(comparable), whole.map(comparable));
});

const links: [LinkKind, number[], string, string][] = [
  ["ethernet", [], "10.1.1.1", "10.2.2.2"],
  ["ethernet", [100], "10.1.1.1", "10.2.2.2"],
  ["ethernet", [200, 100], "2001:db8::1", "2001:db8::2"],
  ["raw", [], "10.1.1.1", "10.2.2.2"],
  ["raw", [], "2001:db8::1", "2001:db8::2"],
  ["ipv4", [], "10.1.1.1", "10.2.2.2"],
  ["ipv6", [], "2001:db8::1", "2001:db8::2"],
  ["sll", [], "10.1.1.1", "10.2.2.2"],
  ["sll2", [], "2001:db8::1", "2001:db8::2"],
  ["null", [], "10.1.1.1", "10.2.2.2"],
  ["null", [], "2001:db8::1", "2001:db8::2"],
];

for (const [link, vlan, src, dst] of links) {
  test(`link layer ${link}${vlan.length > 0 ? ` with VLAN tags ${vlan.join(",")}` : ""} over ${src.includes(":") ? "IPv6" : "IPv4"}`, async () => {
    const writer = pcapWriter({ link, vlan });
    const a = { ip: src, port: 40000 };
    const b = { ip: dst, port: 443 };
    writer.udp(T0, a, b, Buffer.from("hi")); // short: Ethernet pads it to 60 bytes, which must not show
    writer.tcp(T0 + 1, {
      src: b,
      dst: a,
      seq: 7,
      ack: 9,
      flags: { ack: true, psh: true },
      payload: Buffer.from("hello"),
    });
    const packets = await packetsOf(`link-${link}-${vlan.length}-${src}.pcap`, writer.toBuffer());
    assert.equal(packets.length, 2);
    assert.deepEqual(packets[0]?.src, a);
    assert.deepEqual(packets[0]?.dst, b);
    assert.equal(Buffer.from(packets[0]?.payload ?? []).toString(), "hi");
    assert.equal(packets[0]?.transport, "udp");
    assert.deepEqual(packets[1]?.tcp, { seq: 7, ack: 9, syn: false, ack_: true, fin: false, rst: false });
    assert.equal(Buffer.from(packets[1]?.payload ?? []).toString(), "hello");
  });
}

test("IPv4 options and IPv6 extension headers are skipped to reach TCP", async () => {
  const writer = pcapWriter();
  const v4 = { src: { ip: "192.0.2.1", port: 1234 }, dst: { ip: "192.0.2.2", port: 80 } };
  const v6 = { src: { ip: "2001:db8::1", port: 1234 }, dst: { ip: "2001:db8::2", port: 80 } };
  const routerAlert = Uint8Array.from([0x94, 0x04, 0x00, 0x00, 0x01]); // padded to 8 bytes
  const segment4 = tcpSegment({ ...v4, seq: 1, flags: { ack: true }, payload: Buffer.from("four") });
  const segment6 = tcpSegment({ ...v6, seq: 1, flags: { ack: true }, payload: Buffer.from("six") });
  writer.ip(T0, ipPacket(v4.src.ip, v4.dst.ip, 6, segment4, { ipv4Options: routerAlert }));
  writer.ip(T0, ipPacket(v6.src.ip, v6.dst.ip, 6, segment6, { ipv6Extensions: [0, 43, 60] }));
  const packets = await packetsOf("options.pcap", writer.toBuffer());
  assert.deepEqual(
    packets.map((p) => [p.src.ip, Buffer.from(p.payload).toString()]),
    [
      ["192.0.2.1", "four"],
      ["2001:db8::1", "six"],
    ],
  );
});

test("IPv4 and IPv6 fragments are reassembled, in any order", async () => {
  const writer = pcapWriter();
  const payload = Buffer.alloc(3000, "f");
  const stream = readPackets(join(dir, "fragments.pcap"));
  for (const [src, dst] of [
    ["192.0.2.1", "192.0.2.2"],
    ["2001:db8::1", "2001:db8::2"],
  ] as const) {
    const datagram = udpDatagram({ ip: src, port: 5000 }, { ip: dst, port: 6000 }, payload);
    const fragments = ipFragments(src, dst, 17, datagram, 1000, { id: 77, ipv6Extensions: [0] });
    assert.equal(fragments.length, 4);
    for (const fragment of [fragments[3], fragments[1], fragments[0], fragments[2]]) {
      writer.ip(T0, fragment ?? Buffer.alloc(0));
    }
  }
  const lonely = ipFragments("192.0.2.9", "192.0.2.2", 17, Buffer.alloc(2000), 1000, { id: 5 });
  writer.ip(T0, lonely[0] ?? Buffer.alloc(0)); // its second half never comes
  writeFileSync(join(dir, "fragments.pcap"), writer.toBuffer());
  const packets = await collect(stream);
  assert.deepEqual(
    packets.map((p) => [p.src.ip, p.index, p.payload.length]),
    [
      ["192.0.2.1", 4, 3000],
      ["2001:db8::1", 8, 3000],
    ],
  );
  assert.equal(stream.stats.fragments, 9);
  assert.equal(stream.stats.reassembled, 2);
});

test("frames cut by the snap length give what was captured", async () => {
  const writer = pcapWriter({ snaplen: 100 });
  writer.tcp(T0, { src: CLIENT, dst: SERVER, seq: 1, flags: { ack: true }, payload: Buffer.alloc(1000, 1) });
  writer.udp(T0, CLIENT, SERVER, Buffer.alloc(1000, 2));
  const packets = await packetsOf("snaplen.pcap", writer.toBuffer());
  assert.deepEqual(
    packets.map((p) => p.payload.length),
    [100 - 14 - 20 - 20, 100 - 14 - 20 - 8],
  );
});

test("frames without TCP or UDP are counted, not yielded", async () => {
  const writer = pcapWriter();
  const arp = Buffer.concat([Buffer.alloc(12, 0xff), Buffer.from([0x08, 0x06]), Buffer.alloc(46)]);
  writer.frame(T0, arp);
  writer.ip(T0, ipPacket("192.0.2.1", "192.0.2.2", 1, Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]))); // ICMP echo
  writer.ip(T0, ipPacket("2001:db8::1", "2001:db8::2", 58, Buffer.alloc(8))); // ICMPv6
  writer.frame(T0, Buffer.concat([Buffer.alloc(12, 2), Buffer.from([0x08, 0x00, 0x45, 0, 0])])); // IPv4 cut short
  writer.udp(T0, CLIENT, SERVER, Buffer.from("kept"));
  const stream = readPackets(join(dir, "other.pcap"));
  writeFileSync(join(dir, "other.pcap"), writer.toBuffer());
  const packets = await collect(stream);
  assert.equal(packets.length, 1);
  assert.equal(packets[0]?.index, 5);
  assert.deepEqual(
    { ...stream.stats, peakBufferBytes: 0 },
    {
      format: "pcap",
      records: 5,
      packets: 1,
      nonIp: 1,
      otherTransport: 2,
      unsupportedLink: 0,
      malformed: 1,
      fragments: 0,
      reassembled: 0,
      fragmentsDropped: 0,
      skippedEntries: 0,
      peakBufferBytes: 0,
    },
  );
});

test("pcapng: several sections of either byte order, interfaces of several link types and resolutions", async () => {
  const writer = pcapngWriter({ link: "ethernet" });
  const raw = writer.addInterface("raw", { nanoseconds: true });
  const cooked = writer.addInterface("sll2");
  const a = { ip: "192.0.2.1", port: 1000 };
  const b = { ip: "2001:db8::9", port: 2000 };
  writer.udp(T0, a, a, Buffer.from("eth"));
  writer.udp(T0 + 1, b, b, Buffer.from("raw"), raw);
  writer.newSection(true);
  writer.udp(T0 + 2, a, a, Buffer.from("sll2"), cooked);
  writer.udp(T0 + 3, b, b, Buffer.from("raw again"), raw);
  writer.newSection(false);
  writer.udp(T0 + 4, a, a, Buffer.from("eth again"));
  const packets = await packetsOf("sections.pcapng", writer.toBuffer());
  assert.deepEqual(
    packets.map((p) => [Buffer.from(p.payload).toString(), Math.round((p.time - T0) * 1000), p.index]),
    [
      ["eth", 0, 1],
      ["raw", 1000, 2],
      ["sll2", 2000, 3],
      ["raw again", 3000, 4],
      ["eth again", 4000, 5],
    ],
  );
});

test("a file many times the read buffer streams with bounded memory, and progress reaches the total", async () => {
  const path = join(dir, "large.pcap");
  const writer = pcapWriter({ path, checksums: false });
  const request = httpRequest();
  const response = httpResponse(200_000);
  let sessions = 0;
  let time = T0;
  while (writer.bytesWritten < 20e6) {
    sessions++;
    const client = { ip: "10.0.0.2", port: 10000 + sessions };
    time = writer.tcpSession({ client, server: SERVER, request, response, time }) + 1;
  }
  writer.close();
  const size = statSync(path).size;
  const progress: [number, number][] = [];
  const stream = readPackets(path, { onProgress: (read, total) => progress.push([read, total]) });
  let packets = 0;
  let payloadBytes = 0;
  for await (const packet of stream) {
    packets++;
    payloadBytes += packet.payload.length;
  }
  const segmentsPerSession = 1 + Math.ceil(response.length / 1460);
  assert.equal(packets, sessions * (3 + 1 + segmentsPerSession + 2 + 3 - 1));
  assert.equal(payloadBytes, sessions * (request.length + response.length));
  assert.ok(size > 20e6);
  assert.ok(stream.stats.peakBufferBytes <= 2 * 1024 * 1024, `peak buffer ${stream.stats.peakBufferBytes}`);
  assert.ok(progress.length > 10);
  assert.deepEqual(progress.at(-1), [size, size]);
  assert.ok(progress.every(([read], i) => i === 0 || read > (progress[i - 1]?.[0] ?? 0)));
});

test("pcapng frames of an interface with a link type not decoded are counted and skipped", async () => {
  const writer = pcapngWriter();
  const other = writer.addInterface("raw");
  writer.udp(T0, CLIENT, SERVER, Buffer.from("kept"));
  writer.udp(T0, CLIENT, SERVER, Buffer.from("skipped"), other);
  const content = writer.toBuffer();
  const secondInterface = 28 + 32;
  assert.equal(content.readUInt16LE(secondInterface + 8), 101);
  content.writeUInt16LE(127, secondInterface + 8); // radiotap
  const stream = readPackets(join(dir, "mixed.pcapng"));
  writeFileSync(join(dir, "mixed.pcapng"), content);
  const packets = await collect(stream);
  assert.deepEqual(
    packets.map((p) => Buffer.from(p.payload).toString()),
    ["kept"],
  );
  assert.equal(stream.stats.unsupportedLink, 1);
});
