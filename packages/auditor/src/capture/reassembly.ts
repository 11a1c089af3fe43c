/**
 * Packets to Flows: TCP connections reassembled (tcp-direction.ts), UDP
 * datagrams grouped by their pair of endpoints. Live flows sit in a Map keyed
 * by the 4-tuple (either direction finds the same flow); a flow is emitted
 * and dropped when it is done:
 *
 * - TCP: a RST; or a FIN from both sides with every byte before each FIN in;
 * - both: no packet for `idleTimeoutMs` of capture time (checked as packets
 *   arrive, at most every tenth of the timeout); and whatever is left at `finish()`.
 *
 * Who is the client: the sender of the SYN (or the receiver of the SYN/ACK).
 * Without either (a capture started mid-connection), the side whose port is
 * not a service port (below 1024 or in SERVICE_PORTS) when exactly one side's
 * is; else the side with the higher port; on equal ports, the first sender.
 * For UDP, the first sender.
 *
 * After a TCP flow is emitted its 4-tuple is remembered for the idle timeout:
 * stragglers (the last ACK, a late retransmission) are ignored rather than
 * opening a flow of their own; a new SYN opens a new flow. A packet with no
 * payload never opens a flow unless it is a SYN. A flow's id is its label,
 * `tcp 10.0.0.2:51000 → 1.2.3.4:80`, with ` #2`, ` #3`… when the same
 * 4-tuple was used shortly before. To keep memory bounded by the live flows
 * (not by every 4-tuple ever seen), a 4-tuple's count is kept while it has a
 * live flow and for the idle timeout after its last flow was emitted (the
 * first sweep after that forgets it); a 4-tuple used again after that starts
 * over, so its id may repeat one of a flow that ended more than an idle
 * timeout earlier.
 *
 * The server's direction may be given a smaller limit (`maxServerBytes`)
 * than the client's: what the auditor reads of it is the start (TLS
 * ServerHello, HTTP response heads).
 */
import { endpointText } from "./address.ts";
import { TcpDirection } from "./tcp-direction.ts";
import type { Endpoint, Flow, Packet } from "../types.ts";

/** Limits of the assembler. */
export interface AssemblerOptions {
  /** Bytes kept per direction of a flow (at most 1 GiB); beyond, dropped and counted in `truncated`. Default 32 MiB. */
  maxBytesPerDirection?: number;
  /**
   * Bytes kept of the server's direction (server → client) of a flow, at
   * most 1 GiB; beyond, dropped and counted in `truncated.server`. Default:
   * maxBytesPerDirection.
   */
  maxServerBytes?: number;
  /** A flow with no packet for this long (capture time) is emitted. Default 5 minutes. */
  idleTimeoutMs?: number;
}

/** What the assembler did besides emitting flows. */
export interface AssemblerStats {
  flows: number;
  /** Packets that opened no flow: bare ACKs, FINs and RSTs of unknown connections, stragglers of closed ones. */
  ignored: number;
  /** Flows with a direction cut at maxBytesPerDirection (or maxServerBytes). */
  truncatedFlows: number;
}

export const DEFAULT_MAX_BYTES_PER_DIRECTION = 32 * 1024 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60 * 1000;

/** Well-known services on ports above 1023, for guessing the client of a connection seen without its SYN. */
const SERVICE_PORTS = new Set([
  1080, 1194, 1883, 3128, 3306, 3478, 5060, 5222, 5223, 5228, 5229, 5230, 5432, 5938, 6379, 8000, 8008, 8080,
  8081, 8088, 8443, 8883, 8888, 9000, 9090, 9443,
]);

interface TcpFlow {
  kind: "tcp";
  key: string;
  id: string;
  client: Endpoint;
  server: Endpoint;
  firstTime: number;
  lastTime: number;
  fromClient: TcpDirection;
  fromServer: TcpDirection;
}

interface UdpFlow {
  kind: "udp";
  key: string;
  id: string;
  client: Endpoint;
  server: Endpoint;
  firstTime: number;
  lastTime: number;
  datagrams: { fromClient: boolean; time: number; payload: Uint8Array }[];
  bytes: { client: number; server: number };
  truncated: { client: number; server: number };
}

type LiveFlow = TcpFlow | UdpFlow;

/** TCP reassembly and UDP grouping over packets pushed in capture order. */
export class FlowAssembler {
  readonly stats: AssemblerStats = { flows: 0, ignored: 0, truncatedFlows: 0 };
  #limit: number;
  #serverLimit: number;
  #idle: number;
  #live = new Map<string, LiveFlow>();
  /** 4-tuples of emitted TCP flows → when they were emitted, for ignoring stragglers. */
  #closed = new Map<string, number>();
  /** How many flows a 4-tuple has had, and when its last one was emitted (Infinity while one is live), for ids. */
  #uses = new Map<string, { count: number; closedAt: number }>();
  #lastSweep = -Infinity;

  constructor(options: AssemblerOptions = {}) {
    this.#limit = Math.min(options.maxBytesPerDirection ?? DEFAULT_MAX_BYTES_PER_DIRECTION, 2 ** 30);
    this.#serverLimit = Math.min(options.maxServerBytes ?? this.#limit, 2 ** 30);
    this.#idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  /** Takes one packet; returns the flows it completed (possibly none). */
  push(packet: Packet): Flow[] {
    const done: Flow[] = [];
    this.#sweep(packet.time, done);
    if (packet.transport === "tcp") this.#tcp(packet, done);
    else this.#udp(packet);
    return done;
  }

  /** All flows still open, in the order they started; the assembler is empty afterwards. */
  finish(): Flow[] {
    const done = [...this.#live.values()].map((flow) => this.#emit(flow));
    this.#live.clear();
    this.#closed.clear();
    this.#uses.clear();
    return done;
  }

  #tcp(packet: Packet, done: Flow[]): void {
    const tcp = packet.tcp;
    if (!tcp) {
      this.stats.ignored++;
      return;
    }
    const key = flowKey("tcp", packet);
    let flow = this.#live.get(key);
    if (flow?.kind === "tcp" && tcp.syn && !tcp.ack_ && this.#startsAnother(flow, packet)) {
      done.push(this.#close(flow, packet.time));
      flow = undefined;
    }
    if (!flow) {
      const opens = tcp.syn || (packet.payload.length > 0 && !this.#closed.has(key));
      if (!opens) {
        this.stats.ignored++;
        return;
      }
      flow = this.#openTcp(key, packet);
    }
    if (flow.kind !== "tcp") return;
    flow.lastTime = Math.max(flow.lastTime, packet.time);
    const direction = sameEndpoint(packet.src, flow.client) ? flow.fromClient : flow.fromServer;
    const dataSeq = tcp.syn ? tcp.seq + 1 : tcp.seq;
    if (tcp.syn) direction.syn(tcp.seq);
    if (packet.payload.length > 0) direction.data(dataSeq, packet.payload);
    if (tcp.fin) direction.fin(dataSeq, packet.payload.length);
    if (tcp.rst || this.#bothFinished(flow)) done.push(this.#close(flow, packet.time));
  }

  /** A SYN from the client with another initial sequence number: the port was reused. */
  #startsAnother(flow: TcpFlow, packet: Packet): boolean {
    return sameEndpoint(packet.src, flow.client) && flow.fromClient.isOtherSyn(packet.tcp?.seq ?? 0);
  }

  #bothFinished(flow: TcpFlow): boolean {
    const { fromClient, fromServer } = flow;
    return fromClient.hasFin() && fromServer.hasFin() && fromClient.isComplete() && fromServer.isComplete();
  }

  #udp(packet: Packet): void {
    const key = flowKey("udp", packet);
    let flow = this.#live.get(key);
    if (!flow) flow = this.#open(key, "udp", packet.src, packet.dst, packet.time);
    if (flow.kind !== "udp") return;
    flow.lastTime = Math.max(flow.lastTime, packet.time);
    const fromClient = sameEndpoint(packet.src, flow.client);
    const side = fromClient ? "client" : "server";
    if (flow.bytes[side] + packet.payload.length > (fromClient ? this.#limit : this.#serverLimit)) {
      flow.truncated[side] += packet.payload.length;
      return;
    }
    flow.bytes[side] += packet.payload.length;
    flow.datagrams.push({ fromClient, time: packet.time, payload: packet.payload });
  }

  #openTcp(key: string, packet: Packet): LiveFlow {
    const clientIsSource = isClientSource(packet);
    const client = clientIsSource ? packet.src : packet.dst;
    const server = clientIsSource ? packet.dst : packet.src;
    return this.#open(key, "tcp", client, server, packet.time);
  }

  #open(key: string, kind: "tcp" | "udp", client: Endpoint, server: Endpoint, time: number): LiveFlow {
    const uses = (this.#uses.get(key)?.count ?? 0) + 1;
    this.#uses.set(key, { count: uses, closedAt: Infinity });
    const label = `${kind} ${endpointText(client)} → ${endpointText(server)}`;
    const id = uses === 1 ? label : `${label} #${uses}`;
    const common = { key, id, client, server, firstTime: time, lastTime: time };
    const flow: LiveFlow =
      kind === "tcp"
        ? {
            ...common,
            kind,
            fromClient: new TcpDirection(this.#limit),
            fromServer: new TcpDirection(this.#serverLimit),
          }
        : {
            ...common,
            kind,
            datagrams: [],
            bytes: { client: 0, server: 0 },
            truncated: { client: 0, server: 0 },
          };
    this.#live.set(key, flow);
    this.#closed.delete(key);
    return flow;
  }

  #close(flow: LiveFlow, time: number): Flow {
    this.#live.delete(flow.key);
    if (flow.kind === "tcp") this.#closed.set(flow.key, time);
    const uses = this.#uses.get(flow.key);
    if (uses) uses.closedAt = time;
    return this.#emit(flow);
  }

  #emit(flow: LiveFlow): Flow {
    this.stats.flows++;
    const emitted = flow.kind === "tcp" ? tcpFlow(flow) : udpFlow(flow);
    if (emitted.truncated) this.stats.truncatedFlows++;
    return emitted;
  }

  /** Emits idle flows and forgets 4-tuples (stragglers', ids' counts) idle since; runs at most every tenth of the timeout. */
  #sweep(now: number, done: Flow[]): void {
    if (now - this.#lastSweep < this.#idle / 10) return;
    this.#lastSweep = now;
    for (const flow of this.#live.values()) {
      if (now - flow.lastTime > this.#idle) done.push(this.#close(flow, now));
    }
    for (const [key, closedAt] of this.#closed) {
      if (now - closedAt > this.#idle) this.#closed.delete(key);
    }
    for (const [key, { closedAt }] of this.#uses) {
      if (now - closedAt > this.#idle) this.#uses.delete(key);
    }
  }
}

function tcpFlow(flow: TcpFlow): Flow {
  const client = flow.fromClient.assemble();
  const server = flow.fromServer.assemble();
  return withTruncation(
    {
      id: flow.id,
      transport: "tcp",
      client: flow.client,
      server: flow.server,
      firstTime: flow.firstTime,
      lastTime: flow.lastTime,
      clientData: client.data,
      serverData: server.data,
      gaps: { client: client.gaps, server: server.gaps },
      ...(client.holes.length + server.holes.length > 0
        ? { holes: { client: client.holes, server: server.holes } }
        : {}),
    },
    { client: client.truncated, server: server.truncated },
  );
}

/**
 * A UDP flow's data per direction is its datagrams' payloads end to end;
 * `datagrams` keeps them apart. The concatenations are made on first read
 * of clientData or serverData (and kept), so a reader of `datagrams` alone
 * never pays for copying the flow's bytes a second time.
 */
function udpFlow(flow: UdpFlow): Flow {
  const payloads = (fromClient: boolean) =>
    Buffer.concat(flow.datagrams.filter((d) => d.fromClient === fromClient).map((d) => d.payload));
  let clientData: Uint8Array | undefined;
  let serverData: Uint8Array | undefined;
  return withTruncation(
    {
      id: flow.id,
      transport: "udp",
      client: flow.client,
      server: flow.server,
      firstTime: flow.firstTime,
      lastTime: flow.lastTime,
      get clientData(): Uint8Array {
        clientData ??= payloads(true);
        return clientData;
      },
      set clientData(value: Uint8Array) {
        clientData = value;
      },
      get serverData(): Uint8Array {
        serverData ??= payloads(false);
        return serverData;
      },
      set serverData(value: Uint8Array) {
        serverData = value;
      },
      datagrams: flow.datagrams,
      gaps: { client: 0, server: 0 },
    },
    flow.truncated,
  );
}

/** Adds `truncated` when something was cut (in place: a spread would read a UDP flow's lazy data). */
function withTruncation(flow: Flow, truncated: { client: number; server: number }): Flow {
  if (truncated.client > 0 || truncated.server > 0) flow.truncated = truncated;
  return flow;
}

/** The same key for both directions: the two endpoints in a fixed order. */
function flowKey(transport: string, packet: Packet): string {
  const a = `${packet.src.ip}|${packet.src.port}`;
  const b = `${packet.dst.ip}|${packet.dst.port}`;
  return a < b ? `${transport} ${a} ${b}` : `${transport} ${b} ${a}`;
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && a.ip === b.ip;
}

/** The client rule of the module comment, for the packet that opens a TCP flow. */
function isClientSource(packet: Packet): boolean {
  if (packet.tcp?.syn) return !packet.tcp.ack_;
  const source = isServicePort(packet.src.port);
  const destination = isServicePort(packet.dst.port);
  if (source !== destination) return destination;
  if (packet.src.port !== packet.dst.port) return packet.src.port > packet.dst.port;
  return true;
}

function isServicePort(port: number): boolean {
  return port < 1024 || SERVICE_PORTS.has(port);
}
