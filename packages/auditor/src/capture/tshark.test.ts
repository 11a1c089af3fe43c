/**
 * The writers checked by another implementation: Debian's tshark must read
 * what they write as HTTP, with every checksum good, the same frames and the
 * same timestamps as readPackets. Skipped (with the reason) when tshark is
 * not installed, except in CI, where its absence is a failure.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readPackets } from "./read.ts";
import { CLIENT, collect, httpRequest, httpResponse, SERVER, T0, tempDir } from "../../test/testing.ts";
import { pcapngWriter, pcapWriter } from "../../test/writer.ts";

const TSHARK = "/usr/bin/tshark";
const missing = !existsSync(TSHARK) && process.env.CI !== "true";
const skip = missing ? `${TSHARK} is not installed (in CI this test fails instead)` : false;
const dir = tempDir();

function tshark(...args: string[]): string[] {
  const output = execFileSync(TSHARK, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return output.split("\n").filter((line) => line !== "");
}

test("tshark reads the pcapng writer's HTTP exchange as HTTP, checksums good", { skip }, () => {
  const path = join(dir, "http.pcapng");
  const writer = pcapngWriter({ path });
  writer.tcpSession({
    client: CLIENT,
    server: SERVER,
    request: httpRequest(),
    response: httpResponse(5_000),
    time: T0,
  });
  const v6client = { ip: "2001:db8::2", port: 50000 };
  const v6server = { ip: "2001:db8::80", port: 80 };
  const request = httpRequest("/six");
  writer.tcpSession({
    client: v6client,
    server: v6server,
    request,
    response: httpResponse(10),
    time: T0 + 1,
  });
  writer.udp(T0 + 2, { ip: "2001:db8::2", port: 5353 }, { ip: "2001:db8::53", port: 53 }, Buffer.from("odd"));
  writer.close();
  const http = [
    "-Y",
    "http",
    "-T",
    "fields",
    "-E",
    "separator=,",
    "-e",
    "http.request.method",
    "-e",
    "http.response.code",
  ];
  assert.deepEqual(tshark("-r", path, ...http), ["GET,", ",200", "GET,", ",200"]);
  const statuses = tshark(
    "-r",
    path,
    ...["-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"],
    ...["-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "tcp.srcport", "-e", "udp.srcport"],
    ...["-e", "ip.checksum.status", "-e", "tcp.checksum.status", "-e", "udp.checksum.status"],
  );
  // Wireshark's checksum status: 0 bad, 1 good, 2 unverified. Every header that has a checksum must
  // show 1; a field tshark leaves out for a header that is there fails, and so does no output at all.
  // IPv6 has no header checksum (no ip.src, no ip.checksum.status).
  const good = (present: string) => (present === "" ? "" : "1");
  const expected = statuses.map((line) => {
    const [ipSource = "", tcpPort = "", udpPort = ""] = line.split(",");
    return [ipSource, tcpPort, udpPort, good(ipSource), good(tcpPort), good(udpPort)].join(",");
  });
  assert.deepEqual(statuses, expected);
  const kinds = statuses.map((line) =>
    line
      .split(",")
      .slice(0, 3)
      .map((field) => field !== ""),
  );
  assert.equal(kinds.length, 24); // the 13 and 10 TCP segments of the two sessions, the UDP datagram
  assert.ok(kinds.every(([, tcp, udp]) => tcp !== udp)); // each frame is TCP or UDP
  assert.ok(kinds.some(([ip, tcp]) => ip && tcp)); // an IPv4 TCP segment
  assert.ok(kinds.some(([ip, tcp]) => !ip && tcp)); // an IPv6 TCP segment
  assert.ok(kinds.some(([, , udp]) => udp)); // the UDP datagram
});

test("tshark sees the pcap writer's frames and timestamps as readPackets does", { skip }, async () => {
  const path = join(dir, "times.pcap");
  const writer = pcapWriter({ path, bigEndian: true, nanoseconds: true, link: "sll2" });
  writer.tcpSession({
    client: CLIENT,
    server: SERVER,
    request: httpRequest(),
    response: httpResponse(3_000),
    time: T0,
  });
  writer.close();
  const theirs = tshark("-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.len");
  const ours = await collect(readPackets(path));
  assert.equal(theirs.length, ours.length);
  theirs.forEach((line, i) => {
    const [epoch = "", length = ""] = line.split("\t");
    assert.equal(Math.round(Number(epoch) * 1e6), Math.round((ours[i]?.time ?? 0) * 1000), line);
    assert.equal(Number(length), ours[i]?.payload.length);
  });
});
