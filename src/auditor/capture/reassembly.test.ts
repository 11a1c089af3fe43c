/**
 * FlowAssembler: TCP streams put back in order whatever the network did to
 * them (reordering, retransmission, overlap, wraparound, a missed SYN, a
 * lost segment), flows emitted when they end, UDP grouped by endpoints.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readFlows, readPackets } from "./read.ts";
import { FlowAssembler } from "./reassembly.ts";
import { TcpDirection } from "./tcp-direction.ts";
import { bytes, CLIENT, collect, httpRequest, httpResponse, SERVER, T0, tempDir } from "./testing.ts";
import { pcapWriter, type TcpSessionSpec } from "./writer.ts";
import type { Flow, Packet } from "../types.ts";

const dir = tempDir();
let files = 0;

function captureOf(specs: Partial<TcpSessionSpec>[]): string {
  const writer = pcapWriter();
  writer.tcpSessions(specs.map((spec) => ({ ...session(), ...spec })));
  const path = join(dir, `capture-${++files}.pcap`);
  writeFileSync(path, writer.toBuffer());
  return path;
}

function session(): TcpSessionSpec {
  return { client: CLIENT, server: SERVER, request: httpRequest(), response: httpResponse(10_000), time: T0 };
}

async function onlyFlow(spec: Partial<TcpSessionSpec>, options = {}): Promise<Flow> {
  const flows = await collect(readFlows(captureOf([spec]), options));
  assert.equal(flows.length, 1);
  const [flow] = flows;
  assert.ok(flow);
  return flow;
}

async function packetsOf(path: string): Promise<Packet[]> {
  return collect(readPackets(path));
}

test("a body split over 100 segments comes back whole, in both directions", async () => {
  const request = Buffer.concat([httpRequest(), Buffer.alloc(5_000, "q")]);
  const response = httpResponse(9_950);
  const flow = await onlyFlow({ request, response, segmentSize: 100 });
  assert.equal(flow.id, "tcp 10.0.0.2:51000 → 93.184.216.34:80");
  assert.deepEqual(flow.client, CLIENT);
  assert.deepEqual(flow.server, SERVER);
  assert.deepEqual(bytes(flow.clientData), request);
  assert.deepEqual(bytes(flow.serverData), response);
  assert.equal(Math.ceil(response.length / 100), 100);
  assert.deepEqual(flow.gaps, { client: 0, server: 0 });
  assert.equal(flow.truncated, undefined);
  assert.equal(Math.round(flow.firstTime * 1000), Math.round(T0 * 1000));
  assert.ok(flow.lastTime > flow.firstTime);
});

test("out-of-order segments, exact and overlapping retransmissions", async () => {
  const request = Buffer.concat([httpRequest(), Buffer.alloc(3_000, "r")]);
  for (const seed of [1, 2, 3]) {
    const flow = await onlyFlow({ request, segmentSize: 300, shuffle: true, retransmit: true, seed });
    assert.deepEqual(bytes(flow.clientData), request);
    assert.deepEqual(bytes(flow.serverData), httpResponse(10_000));
    assert.deepEqual(flow.gaps, { client: 0, server: 0 });
  }
});

test("sequence numbers wrapping around 2^32", async () => {
  const isn = { client: 2 ** 32 - 500, server: 2 ** 32 - 1 };
  const flow = await onlyFlow({ isn, segmentSize: 200, shuffle: true });
  assert.deepEqual(bytes(flow.clientData), httpRequest());
  assert.deepEqual(bytes(flow.serverData), httpResponse(10_000));
  assert.deepEqual(flow.gaps, { client: 0, server: 0 });
});

test("a connection seen without its SYN: the client is the side without a service port, else the higher port", async () => {
  const cases: [number, number][] = [
    [51000, 80],
    [3000, 8080], // an old Windows ephemeral port below a well-known service port above 1023
    [40000, 20000],
  ];
  for (const [clientPort, serverPort] of cases) {
    const client = { ...CLIENT, port: clientPort };
    const server = { ...SERVER, port: serverPort };
    const flow = await onlyFlow({ client, server, handshake: false, shuffle: true, segmentSize: 500 });
    assert.deepEqual([flow.client, flow.server], [client, server]);
    assert.deepEqual(bytes(flow.clientData), httpRequest());
    assert.deepEqual(bytes(flow.serverData), httpResponse(10_000));
  }
  // When only the server's data is seen first, the port rule still names the client.
  const path = captureOf([{ handshake: false, request: Buffer.alloc(0) }]);
  const [flow] = await collect(readFlows(path));
  assert.deepEqual(flow?.client, CLIENT);
});

test("a lost segment leaves a hole: counted in gaps, skipped (not zero-filled), the data after it delivered", async () => {
  const response = httpResponse(1_000);
  const flow = await onlyFlow({ response, segmentSize: 100, omit: { server: [3] }, shuffle: true });
  assert.deepEqual(flow.gaps, { client: 0, server: 100 });
  assert.deepEqual(
    bytes(flow.serverData),
    Buffer.concat([response.subarray(0, 300), response.subarray(400)]),
  );
  const lastLost = await onlyFlow({ response, segmentSize: 100, omit: { server: [10] } });
  assert.deepEqual(lastLost.gaps, { client: 0, server: response.length - 1000 });
  const firstLost = await onlyFlow({ response, segmentSize: 100, omit: { server: [0] } });
  assert.deepEqual(firstLost.gaps, { client: 0, server: 100 });
});

test("a flow is emitted by the packet that completes it: the second FIN, or a RST", async () => {
  const packets = await packetsOf(captureOf([{}]));
  const assembler = new FlowAssembler();
  const completedBy = packets.map((p) => assembler.push(p).length);
  const secondFin = packets.findLastIndex((p) => p.tcp?.fin);
  assert.deepEqual(
    completedBy.map((n, i) => (n > 0 ? i : -1)).filter((i) => i >= 0),
    [secondFin],
  );
  assert.deepEqual(assembler.finish(), []);
  assert.equal(assembler.stats.ignored, 1); // the last ACK, after the flow was emitted

  const reset = await packetsOf(captureOf([{ close: "rst" }]));
  const resetAssembler = new FlowAssembler();
  const done = reset.map((p) => resetAssembler.push(p));
  assert.equal(done.at(-1)?.length, 1);
  assert.deepEqual(bytes(done.at(-1)?.[0]?.serverData ?? new Uint8Array()), httpResponse(10_000));
});

test("a FIN before the bytes it follows does not end the flow early", async () => {
  const packets = await packetsOf(captureOf([{ segmentSize: 1000 }]));
  const dataIndex = packets.findIndex((p) => p.src.port === 80 && p.payload.length > 0);
  const late = packets.splice(dataIndex, 1);
  const assembler = new FlowAssembler();
  const flows = [...packets, ...late].flatMap((p) => assembler.push(p));
  assert.equal(flows.length, 1);
  assert.deepEqual(bytes(flows[0]?.serverData ?? new Uint8Array()), httpResponse(10_000));
});

test("many concurrent connections, interleaved, each reassembled on its own", async () => {
  const specs = Array.from({ length: 50 }, (_, i) => ({
    client: { ip: `10.0.0.${i + 1}`, port: 40000 + i },
    request: httpRequest(`/item/${i}`),
    response: httpResponse(2_000 + i * 100),
    time: T0 + i * 0.01,
    segmentSize: 500,
    shuffle: i % 2 === 0,
  }));
  const flows = await collect(readFlows(captureOf(specs)));
  assert.equal(flows.length, 50);
  for (const flow of flows) {
    const i = Number(flow.client.ip.split(".")[3]) - 1;
    assert.deepEqual(bytes(flow.clientData), httpRequest(`/item/${i}`));
    assert.deepEqual(bytes(flow.serverData), httpResponse(2_000 + i * 100));
  }
});

test("a 4-tuple used again (a new SYN) makes a second flow with its own id", async () => {
  const path = captureOf([
    { time: T0, response: httpResponse(10) },
    { time: T0 + 10, isn: { client: 7, server: 9 }, response: httpResponse(20) },
  ]);
  const flows = await collect(readFlows(path));
  assert.deepEqual(
    flows.map((f) => [f.id, f.serverData.length]),
    [
      ["tcp 10.0.0.2:51000 → 93.184.216.34:80", httpResponse(10).length],
      ["tcp 10.0.0.2:51000 → 93.184.216.34:80 #2", httpResponse(20).length],
    ],
  );
});

test("beyond maxBytesPerDirection the data is cut and the cut noted", async () => {
  const flow = await onlyFlow({ segmentSize: 300, shuffle: true }, { maxBytesPerDirection: 1000 });
  assert.deepEqual(bytes(flow.serverData), httpResponse(10_000).subarray(0, 1000));
  assert.deepEqual(flow.truncated, { client: 0, server: httpResponse(10_000).length - 1000 });
  assert.deepEqual(flow.gaps, { client: 0, server: 0 });
});

test("UDP datagrams grouped by their endpoints, the first sender as client", async () => {
  const writer = pcapWriter();
  const phone = { ip: "2001:db8::5", port: 40000 };
  const resolver = { ip: "2001:db8::53", port: 53 };
  const other = { ip: "2001:db8::5", port: 40001 };
  writer.udp(T0, phone, resolver, Buffer.from("q1"));
  writer.udp(T0 + 1, other, resolver, Buffer.from("q2"));
  writer.udp(T0 + 2, resolver, phone, Buffer.from("a1"));
  writer.udp(T0 + 3, phone, resolver, Buffer.from("q3"));
  const path = join(dir, "udp.pcap");
  writeFileSync(path, writer.toBuffer());
  const flows = await collect(readFlows(path));
  assert.deepEqual(
    flows.map((f) => [f.id, f.datagrams?.map((d) => [d.fromClient, Buffer.from(d.payload).toString()])]),
    [
      [
        "udp [2001:db8::5]:40000 → [2001:db8::53]:53",
        [
          [true, "q1"],
          [false, "a1"],
          [true, "q3"],
        ],
      ],
      ["udp [2001:db8::5]:40001 → [2001:db8::53]:53", [[true, "q2"]]],
    ],
  );
  assert.equal(Buffer.from(flows[0]?.clientData ?? []).toString(), "q1q3");
});

test("a flow idle for longer than idleTimeoutMs of capture time is emitted by the next packet", async () => {
  const assembler = new FlowAssembler({ idleTimeoutMs: 1000 });
  const udp = (time: number, port: number): Packet => ({
    time,
    index: 1,
    transport: "udp",
    src: { ip: "192.0.2.1", port },
    dst: { ip: "192.0.2.2", port: 53 },
    payload: Buffer.from("x"),
  });
  assert.deepEqual(assembler.push(udp(T0, 1000)), []);
  assert.deepEqual(assembler.push(udp(T0 + 500, 1001)), []);
  const later = assembler.push(udp(T0 + 1200, 1002));
  assert.deepEqual(
    later.map((f) => f.client.port),
    [1000],
  );
  assert.deepEqual(
    assembler.finish().map((f) => f.client.port),
    [1001, 1002],
  );
});

test("duplicates piling up beyond the limit are merged away, holes kept fillable", () => {
  const direction = new TcpDirection(1000);
  direction.syn(100);
  const data = Buffer.alloc(1000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  for (let round = 0; round < 10; round++) {
    direction.data(101, data.subarray(0, 400));
    direction.data(101 + 600, data.subarray(600));
  }
  direction.data(101 + 400, data.subarray(400, 600)); // fills the hole after the merges
  direction.fin(101 + 1000, 0);
  assert.equal(direction.isComplete(), true);
  const stream = direction.assemble();
  assert.deepEqual(bytes(stream.data), data);
  assert.equal(stream.gaps, 0);
});
