/**
 * Throughput of the capture half: writes a capture of HTTP sessions (the
 * size given, default 100 MB; concurrent connections interleaved, segments of
 * 1460 bytes, a few retransmits) with pcapWriter, then times readFlows over
 * it, and, with --tshark, `tshark -r FILE -Y http` over the same file as the
 * baseline measured in the same run.
 *
 *   node packages/auditor/test/capture-bench.ts [--mb 100] [--format pcap|pcapng] [--tshark] [--keep FILE]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readFlows } from "../src/capture/read.ts";
import { pcapngWriter, pcapWriter, type TcpSessionSpec } from "./writer.ts";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "100" },
    format: { type: "string", default: "pcap" },
    tshark: { type: "boolean", default: false },
    keep: { type: "string" },
  },
});

const dir = mkdtempSync(join(tmpdir(), "phonehome-capture-bench-"));
const path = values.keep ?? join(dir, `bench.${values.format}`);
try {
  const written = writeCapture(path, Number(values.mb) * 1e6, values.format === "pcapng");
  console.log(`wrote ${(written / 1e6).toFixed(1)} MB to ${path}`);
  const ours = await timeFlows(path);
  console.log(
    `readFlows: ${ours.flows} flows, ${(ours.bytes / 1e6).toFixed(1)} MB of payload in ${ours.seconds.toFixed(2)} s = ${(written / 1e6 / ours.seconds).toFixed(0)} MB/s`,
  );
  if (values.tshark) {
    const started = performance.now();
    const output = execFileSync("tshark", ["-r", path, "-Y", "http"], {
      maxBuffer: 1 << 30,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const seconds = (performance.now() - started) / 1000;
    const lines = output.toString().split("\n").length - 1;
    console.log(
      `tshark -Y http: ${lines} lines in ${seconds.toFixed(2)} s = ${(written / 1e6 / seconds).toFixed(0)} MB/s; ratio ${(seconds / ours.seconds).toFixed(1)}x`,
    );
  }
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}

/** Writes HTTP sessions, 8 at a time interleaved by time, until `bytes`; returns the file's size. */
function writeCapture(file: string, bytes: number, pcapng: boolean): number {
  const writer = pcapng
    ? pcapngWriter({ path: file, checksums: false })
    : pcapWriter({ path: file, checksums: false });
  let time = Date.UTC(2025, 0, 1);
  let session = 0;
  while (writer.bytesWritten < bytes) {
    const specs = Array.from({ length: 8 }, (_, i) => sessionSpec(++session, time + i * 0.013));
    time = writer.tcpSessions(specs) + 1;
  }
  writer.close();
  return statSync(file).size;
}

/** An HTTP POST and a JSON answer of 2 to 62 kB; every tenth session has retransmits. */
function sessionSpec(session: number, time: number): TcpSessionSpec {
  const size = 2_000 + ((session * 7919) % 60_000);
  const request = Buffer.from(
    `POST /v1/collect?id=${session} HTTP/1.1\r\nHost: collector.example\r\nContent-Length: 64\r\n\r\n${"a".repeat(64)}`,
  );
  const response = Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`),
    Buffer.alloc(size, 0x7b),
  ]);
  return {
    client: { ip: `10.0.${(session >> 8) & 0xff}.${session & 0xff}`, port: 40000 + (session % 20000) },
    server: { ip: "203.0.113.10", port: 80 },
    request,
    response,
    time,
    retransmit: session % 10 === 0,
  };
}

async function timeFlows(file: string): Promise<{ flows: number; bytes: number; seconds: number }> {
  const started = performance.now();
  let flows = 0;
  let bytes = 0;
  for await (const flow of readFlows(file)) {
    flows++;
    bytes += flow.clientData.length + flow.serverData.length;
  }
  return { flows, bytes, seconds: (performance.now() - started) / 1000 };
}
