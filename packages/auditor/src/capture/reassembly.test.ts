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
import {
  bytes,
  CLIENT,
  collect,
  httpRequest,
  httpResponse,
  SERVER,
  T0,
  tempDir,
} from "../../test/testing.ts";
import { pcapWriter, type TcpSessionSpec } from "../../test/writer.ts";
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

test("a direction holds no more than its limit, whatever the retransmissions; the bytes received first win", () => {
  const direction = new TcpDirection(1000);
  direction.syn(0);
  const data = Buffer.alloc(1000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  let seed = 7;
  for (let i = 0; i < 5000; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const start = seed % 1100;
    const length = 1 + ((seed >>> 20) % 300);
    direction.data(1 + start, data.subarray(start, start + length));
    assert.ok(direction.heldBytes() <= 1000, `${direction.heldBytes()} bytes held`);
  }
  direction.data(1, data);
  assert.deepEqual(bytes(direction.assemble().data), data);

  const disagreeing = new TcpDirection(100);
  disagreeing.syn(0);
  disagreeing.data(3, Buffer.from("AAAA"));
  disagreeing.data(1, Buffer.from("BBBBBBBB"));
  assert.deepEqual(bytes(disagreeing.assemble().data), Buffer.from("BBAAAABB"));
  assert.equal(disagreeing.heldBytes(), 8);
});

test("without a SYN, data before the first sequence number seen counts against the same limit", () => {
  const direction = new TcpDirection(100);
  direction.data(1000, Buffer.alloc(80, "b"));
  direction.data(950, Buffer.alloc(50, "a")); // sent earlier, captured later: only 20 fit
  assert.equal(direction.heldBytes(), 100);
  const stream = direction.assemble();
  assert.deepEqual(bytes(stream.data), Buffer.from("a".repeat(20) + "b".repeat(80)));
  assert.equal(stream.truncated, 30);
  assert.deepEqual(stream.holes, [20]); // the 30 bytes not kept lie between
});

test("holes: the offsets in the data where missing bytes were skipped", async () => {
  const response = httpResponse(1_000);
  const flow = await onlyFlow({ response, segmentSize: 100, omit: { server: [3, 5] } });
  assert.deepEqual(flow.holes, { client: [], server: [300, 400] });
  assert.deepEqual(
    bytes(flow.serverData),
    Buffer.concat([response.subarray(0, 300), response.subarray(400, 500), response.subarray(600)]),
  );
  // A hole before the first byte or after the last joins nothing: not listed.
  const edges = await onlyFlow({ response, segmentSize: 100, omit: { server: [0, 10] } });
  assert.deepEqual(edges.gaps, { client: 0, server: 100 + response.length - 1000 });
  assert.equal(edges.holes, undefined);
  assert.equal((await onlyFlow({})).holes, undefined);
});

test("maxServerBytes cuts the server's direction alone, TCP and UDP", async () => {
  const request = Buffer.concat([httpRequest(), Buffer.alloc(3_000, "q")]);
  const flow = await onlyFlow({ request, segmentSize: 300, shuffle: true }, { maxServerBytes: 1000 });
  assert.deepEqual(bytes(flow.clientData), request);
  assert.deepEqual(bytes(flow.serverData), httpResponse(10_000).subarray(0, 1000));
  assert.deepEqual(flow.truncated, { client: 0, server: httpResponse(10_000).length - 1000 });

  const assembler = new FlowAssembler({ maxBytesPerDirection: 100, maxServerBytes: 10 });
  const phone = { ip: "192.0.2.1", port: 4000 };
  const resolver = { ip: "192.0.2.53", port: 53 };
  const udp = (src: typeof phone, dst: typeof phone, size: number): Packet => ({
    time: T0,
    index: 1,
    transport: "udp",
    src,
    dst,
    payload: Buffer.alloc(size, src === phone ? "q" : "a"),
  });
  assembler.push(udp(phone, resolver, 50));
  assembler.push(udp(resolver, phone, 8));
  assembler.push(udp(resolver, phone, 8));
  const [done] = assembler.finish();
  assert.deepEqual(done?.truncated, { client: 0, server: 8 });
  assert.deepEqual(
    done?.datagrams?.map((d) => d.payload.length),
    [50, 8],
  );
  assert.equal(done?.clientData.length, 50);
  assert.deepEqual(bytes(done?.serverData ?? new Uint8Array()), Buffer.alloc(8, "a"));
});

test("a 4-tuple's count is forgotten an idle timeout after its last flow: ids number reuse within it", () => {
  const assembler = new FlowAssembler({ idleTimeoutMs: 1000 });
  const query = (time: number, port: number): Packet => ({
    time,
    index: 1,
    transport: "udp",
    src: { ip: "192.0.2.1", port },
    dst: { ip: "192.0.2.2", port: 53 },
    payload: Buffer.from("x"),
  });
  const ids: string[] = [];
  const push = (packet: Packet) => ids.push(...assembler.push(packet).map((f) => f.id));
  push(query(T0, 1000)); // flow 1 of port 1000
  push(query(T0 + 1500, 2000)); // emits it, idle
  push(query(T0 + 1600, 1000)); // flow 2 of port 1000, within the timeout of the first's end
  push(query(T0 + 3000, 3000)); // emits both idle flows
  push(query(T0 + 6000, 3001)); // forgets every count: nothing live for port 1000 since T0 + 3000
  push(query(T0 + 6100, 1000)); // port 1000 again, long after
  ids.push(...assembler.finish().map((f) => f.id));
  const label = "udp 192.0.2.1:1000 → 192.0.2.2:53";
  assert.deepEqual(
    ids.filter((id) => id.startsWith(label)),
    [label, `${label} #2`, label],
  );
});
