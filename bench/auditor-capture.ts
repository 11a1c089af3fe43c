/**
 * The auditor suite's capture: a pcapng of a phone's mixed traffic (HTTP/1.1
 * with planted identifiers, TLS, DNS, uploads and downloads), 16 connections
 * at a time, written from a fixed seed so that every run audits the same
 * bytes.
 */
import { createCipheriv } from "node:crypto";
import { statSync } from "node:fs";
import { createServer } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { gzipSync } from "node:zlib";
import dnsPacket from "dns-packet";
import { type Endpoint, type IdentifierKind, redact } from "@phonehome/auditor";
import { type CaptureWriter, pcapngWriter, type TcpSegmentSpec } from "@phonehome/auditor/testing";

/** Capture time between two packets of a connection, ms. */
const STEP = 0.02;

/** Connections written interleaved (their packets sorted by time). */
const CONCURRENT = 16;

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

/** mulberry32: small, seeded, good enough to choose sizes and kinds. */
class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  /** Between min and max, each order of magnitude as likely. */
  logInt(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min))));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  /** A key of `weights`, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Readonly<Partial<Record<K, number>>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let r = this.next() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [key, w] of entries) {
      r -= w;
      if (r < 0) return key;
    }
    return (entries.at(-1) as [K, number])[0];
  }
  digits(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
  hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[this.int(0, 15)];
    return s;
  }
}

/** Random-looking bytes from AES-128-CTR with a fixed key: fast, and the same every run. */
class Noise {
  #cipher = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16, 1));
  bytes(n: number): Buffer {
    return this.#cipher.update(Buffer.alloc(n));
  }
}

function withLuhn(digits: string): string {
  let sum = 0;
  let double = true;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    double = !double;
  }
  return digits + String((10 - (sum % 10)) % 10);
}

/** A phone on the lab's network, with the identifiers it leaks. */
interface Device {
  ip: string;
  nextPort: number;
  model: string;
  imei: string;
  meid: string;
  imsi: string;
  iccid: string;
  mac: string;
  cellId: string;
  installId: string;
}

interface Server {
  name: string | null;
  ip: string;
  port: number;
}

const HTTP_SERVERS = {
  telemetry: { name: "api.telemetry-example.com", ip: "198.51.100.20", port: 80 },
  cdn: { name: "cdn.example-downloads.net", ip: "93.184.216.34", port: 80 },
  collector: { name: "collector.example.com", ip: "203.0.113.40", port: 8080 },
  ctcc: { name: "zzhc.vnet.cn", ip: "202.97.33.10", port: 9999 },
  push: { name: "push.example-oem.cn", ip: "203.0.113.99", port: 9999 },
} as const satisfies Record<string, Server>;

type HttpServerName = keyof typeof HTTP_SERVERS;

const TLS_SERVERS: readonly Server[] = [
  { name: "play.googleapis.com", ip: "142.250.74.138", port: 443 },
  { name: "graph.example-social.com", ip: "157.240.1.35", port: 443 },
  { name: "api.example-weather.com", ip: "198.51.100.77", port: 443 },
  { name: "video.example-stream.net", ip: "151.101.2.10", port: 443 },
  { name: null, ip: "203.0.113.200", port: 443 },
];

const UPLOAD_SERVER: Server = { name: "backup.example-cloud.com", ip: "198.51.100.50", port: 5001 };

const DOWNLOAD_SERVER: Server = { name: "mirror.example.org", ip: "198.51.100.60", port: 5002 };

const RESOLVER: Endpoint = { ip: "10.20.0.1", port: 53 };

/** Which requests each HTTP server gets, and how often. */
type RequestKind =
  "config" | "telemetry" | "form" | "base64" | "ctcc" | "logs" | "download" | "upload" | "page";

const REQUEST_MIX: Record<HttpServerName, Partial<Record<RequestKind, number>>> = {
  telemetry: { config: 3, telemetry: 5, form: 2, base64: 1, logs: 1, upload: 1, page: 2 },
  cdn: { download: 3, page: 2, config: 1 },
  collector: { telemetry: 5, form: 2, logs: 2, upload: 1, base64: 1 },
  ctcc: { ctcc: 1 },
  push: { form: 2, base64: 2, telemetry: 1 },
};

const SERVER_MIX: Record<HttpServerName, number> = { telemetry: 5, cdn: 2, collector: 5, ctcc: 1, push: 2 };

const CONNECTION_MIX = { http: 88, tls: 10.4, upload: 0.8, download: 0.8 };

/** One direction's message on a connection: it starts a new segment. */
interface Message {
  fromClient: boolean;
  bytes: Buffer;
}

interface Connection {
  kind: keyof typeof CONNECTION_MIX;
  client: Endpoint;
  server: Server;
  messages: Message[];
  segmentSize: number;
  requests: number;
}

/** What was written, for the report and the checks. */
export interface GeneratedCapture {
  path: string;
  bytes: number;
  seconds: number;
  packets: number;
  httpRequests: number;
  connections: Record<Connection["kind"], number>;
  /** Payload bytes by kind of connection (both directions). */
  payload: Record<Connection["kind"] | "dns", number>;
  dnsExchanges: number;
  /** Redacted forms of every identifier planted, by kind (what a true finding's evidence is). */
  planted: Map<IdentifierKind, Set<string>>;
}

/** Builds connections and writes them. */
class Generator {
  readonly rng = new Rng(20250106);
  readonly noise = new Noise();
  readonly devices: Device[];
  readonly clientHellos: { sni: string | null; bytes: Buffer }[];
  httpRequests = 0;
  packets = 0;

  constructor(clientHellos: { sni: string | null; bytes: Buffer }[]) {
    this.clientHellos = clientHellos;
    const models = ["X1", "X1 Pro", "Tab 10", "Lite 5G", "Note 12"];
    this.devices = Array.from({ length: 200 }, (_, i) => ({
      ip: `10.20.${1 + (i >> 8)}.${10 + (i % 240)}`,
      nextPort: 33000 + i * 7,
      model: models[i % models.length] ?? "X1",
      imei: withLuhn(`35${this.rng.digits(12)}`),
      meid: `A1${this.rng.hex(12).toUpperCase()}`,
      imsi: `46011${this.rng.digits(10)}`,
      iccid: withLuhn(`898611${this.rng.digits(13)}`),
      mac: ["3c", "5a", "b4", this.rng.hex(2), this.rng.hex(2), this.rng.hex(2)].join(":").toUpperCase(),
      cellId: String(this.rng.int(10_000, 99_999)),
      installId: [8, 4, 4, 4, 12].map((n) => this.rng.hex(n)).join("-"),
    }));
  }

  planted(): Map<IdentifierKind, Set<string>> {
    const kinds: [IdentifierKind, (d: Device) => string][] = [
      ["imei", (d) => d.imei],
      ["meid", (d) => d.meid],
      ["imsi", (d) => d.imsi],
      ["iccid", (d) => d.iccid],
      ["mac", (d) => d.mac],
      ["cell-id", (d) => d.cellId],
    ];
    return new Map(
      kinds.map(([kind, of]) => [kind, new Set(this.devices.map((d) => normalise(redact(kind, of(d)))))]),
    );
  }

  /** A client endpoint of a device, on a port not used before by it. */
  #client(device: Device): Endpoint {
    const port = device.nextPort;
    device.nextPort = port >= 60000 ? 33000 : port + 1;
    return { ip: device.ip, port };
  }

  connection(): { connection: Connection; device: Device } {
    const device = this.rng.pick(this.devices);
    const kind = this.rng.weighted(CONNECTION_MIX);
    const client = this.#client(device);
    const r = this.rng.next();
    const segmentSize = r < 0.15 ? 536 : r < 0.25 ? 1200 : 1460;
    switch (kind) {
      case "http": {
        const name = this.rng.weighted(SERVER_MIX);
        const server = HTTP_SERVERS[name];
        const messages: Message[] = [];
        const requests = this.rng.int(1, 6);
        for (let i = 0; i < requests; i++) {
          const [request, response] = this.#exchange(name, device, this.rng.weighted(REQUEST_MIX[name]));
          messages.push({ fromClient: true, bytes: request }, { fromClient: false, bytes: response });
        }
        this.httpRequests += requests;
        return { connection: { kind, client, server, messages, segmentSize, requests }, device };
      }
      case "tls": {
        const server = this.rng.pick(TLS_SERVERS);
        return {
          connection: { kind, client, server, messages: this.#tls(server), segmentSize, requests: 0 },
          device,
        };
      }
      case "upload": {
        const size = this.rng.logInt(500_000, 3_000_000);
        const messages = [
          { fromClient: true, bytes: this.noise.bytes(size) },
          { fromClient: false, bytes: this.noise.bytes(8) },
        ];
        return {
          connection: { kind, client, server: UPLOAD_SERVER, messages, segmentSize, requests: 0 },
          device,
        };
      }
      case "download": {
        const size = this.rng.logInt(1_000_000, 5_000_000);
        const messages = [
          { fromClient: true, bytes: this.noise.bytes(24) },
          { fromClient: false, bytes: this.noise.bytes(size) },
        ];
        return {
          connection: { kind, client, server: DOWNLOAD_SERVER, messages, segmentSize, requests: 0 },
          device,
        };
      }
    }
  }

  /** One HTTP/1.1 request and its response. */
  #exchange(name: HttpServerName, device: Device, kind: RequestKind): [Buffer, Buffer] {
    const server = HTTP_SERVERS[name];
    const rng = this.rng;
    const host = server.port === 80 ? server.name : `${server.name}:${server.port}`;
    const headers: [string, string][] = [
      ["Host", host],
      ["User-Agent", `Dalvik/2.1.0 (Linux; U; Android 14; ${device.model} Build/UP1A.231005.007)`],
      ["Accept-Encoding", "gzip"],
      ["Connection", "keep-alive"],
    ];
    if (rng.chance(0.3)) headers.push(["Cookie", `sid=${rng.hex(32)}; lang=en-GB`]);
    if (rng.chance(0.2)) {
      const claims = Buffer.from(JSON.stringify({ sub: `app-${rng.int(1, 9999)}`, iat: 1736150400 }));
      headers.push([
        "Authorization",
        `Bearer eyJhbGciOiJIUzI1NiJ9.${claims.toString("base64url")}.${rng.hex(43)}`,
      ]);
    }
    const okJson = () =>
      response(200, "OK", [["Content-Type", "application/json"]], json({ ok: true, next: 300 }));
    switch (kind) {
      case "config": {
        const body = gzipSync(json(configDocument(rng, rng.logInt(2_000, 40_000))));
        const chunked = rng.chance(0.4);
        return [
          request("GET", `/v2/config?app=com.example.weather&ver=4.2.${rng.int(0, 9)}&sdk=34`, headers),
          response(
            200,
            "OK",
            [
              ["Content-Type", "application/json"],
              ["Content-Encoding", "gzip"],
            ],
            body,
            chunked ? chunkSizes(rng, body.length, 4096) : undefined,
          ),
        ];
      }
      case "telemetry": {
        const document = telemetryDocument(rng, device, rng.int(3, 120), rng.chance(0.2));
        headers.push(["Content-Type", "application/json; charset=utf-8"]);
        return [request("POST", "/v1/events", headers, json(document)), okJson()];
      }
      case "form": {
        const fields = [
          `app=com.example.launcher`,
          `ver=${rng.int(1, 9)}.${rng.int(0, 20)}.${rng.int(0, 99)}`,
          `model=${encodeURIComponent(device.model)}`,
          `tz=Europe%2FOslo`,
          `net=${rng.pick(["wifi", "lte", "nr"])}`,
          `install=${device.installId}`,
          ...(rng.chance(0.35) ? [`imei=${device.imei}`, `mac=${encodeURIComponent(device.mac)}`] : []),
          `extra=${encodeURIComponent(words(rng, rng.int(5, 200)))}`,
        ];
        headers.push(["Content-Type", "application/x-www-form-urlencoded"]);
        return [
          request("POST", "/api/register", headers, Buffer.from(fields.join("&"))),
          response(200, "OK", [["Content-Type", "text/plain"]], Buffer.from("OK")),
        ];
      }
      case "base64": {
        const inner = json({
          imei: device.imei,
          model: device.model,
          ts: 1736150400 + rng.int(0, 86400),
          apps: Array.from({ length: rng.int(1, 40) }, (_, i) => `com.example.app${i}`),
        });
        headers.push(["Content-Type", "text/plain"]);
        return [request("POST", "/report", headers, Buffer.from(inner.toString("base64"))), okJson()];
      }
      case "ctcc": {
        const message = json({
          REGVER: "8.0",
          MEID: device.meid,
          MODEL: device.model,
          SWVER: `V${rng.int(1, 3)}.0.${rng.int(0, 9)}`,
          SIM1ICCID: device.iccid,
          SIM1LTEIMSI: device.imsi,
          SIM1CELLID: device.cellId,
          IMEI1: device.imei,
          MACID: device.mac,
          ACCESSTYPE: "2",
          UETYPE: "1",
        });
        headers.push(["Content-Type", "application/encrypted-json"]);
        return [
          request("POST", "/", headers, Buffer.from(message.toString("base64"))),
          response(
            200,
            "OK",
            [["Content-Type", "application/json"]],
            json({ resultCode: "0", resultDesc: "Success" }),
          ),
        ];
      }
      case "logs": {
        const body = Buffer.from(logLines(rng, rng.logInt(2_000, 60_000)));
        headers.push(["Content-Type", "text/plain; charset=utf-8"], ["Transfer-Encoding", "chunked"]);
        return [
          request("POST", "/v1/logs", headers, body, chunkSizes(rng, body.length, 8192)),
          response(204, "No Content", [], undefined),
        ];
      }
      case "download": {
        const body = this.noise.bytes(rng.logInt(5_000, 500_000));
        const chunked = rng.chance(0.3);
        return [
          request("GET", `/files/${rng.hex(16)}.bin`, headers),
          response(
            200,
            "OK",
            [["Content-Type", "application/octet-stream"]],
            body,
            chunked ? chunkSizes(rng, body.length, 16384) : undefined,
          ),
        ];
      }
      case "upload": {
        headers.push(["Content-Type", "application/octet-stream"]);
        return [
          request("POST", `/v1/crash/${rng.hex(8)}`, headers, this.noise.bytes(rng.logInt(4_000, 150_000))),
          okJson(),
        ];
      }
      case "page": {
        const body = gzipSync(Buffer.from(page(rng, rng.logInt(4_000, 120_000))));
        return [
          request("GET", `/news/${rng.int(1, 99999)}?lang=en`, headers),
          response(
            200,
            "OK",
            [
              ["Content-Type", "text/html; charset=utf-8"],
              ["Content-Encoding", "gzip"],
            ],
            body,
            chunkSizes(rng, body.length, 8192),
          ),
        ];
      }
    }
  }

  /** A TLS 1.3-looking connection: ClientHello; ServerHello, CCS and encrypted records; then exchanges of records. */
  #tls(server: Server): Message[] {
    const rng = this.rng;
    const hellos = this.clientHellos.filter((h) => h.sni === server.name);
    const hello = hellos.length > 0 ? rng.pick(hellos) : rng.pick(this.clientHellos);
    const messages: Message[] = [
      { fromClient: true, bytes: hello.bytes },
      {
        fromClient: false,
        bytes: Buffer.concat([
          serverHello(hello.bytes, this.noise),
          CHANGE_CIPHER_SPEC,
          this.#records(rng.int(2_500, 6_000)),
        ]),
      },
      { fromClient: true, bytes: Buffer.concat([CHANGE_CIPHER_SPEC, this.#records(rng.int(300, 3_000))]) },
    ];
    const exchanges = rng.int(1, 4);
    for (let i = 0; i < exchanges; i++) {
      messages.push(
        { fromClient: true, bytes: this.#records(rng.logInt(100, 40_000)) },
        { fromClient: false, bytes: this.#records(rng.logInt(1_000, 300_000)) },
      );
    }
    return messages;
  }

  /** Application-data records of random bytes, at most 16 KiB (plus tag) each. */
  #records(size: number): Buffer {
    const parts: Buffer[] = [];
    for (let left = size; left > 0;) {
      const n = Math.min(left, 16_384 + 17);
      const header = Buffer.from([0x17, 0x03, 0x03, n >> 8, n & 0xff]);
      parts.push(header, this.noise.bytes(n));
      left -= n;
    }
    return Buffer.concat(parts);
  }

  /** A DNS query and its answer for `server` (from a port of its own). */
  dns(writer: CaptureWriter, device: Device, server: Server, time: number): number {
    if (server.name === null) return 0;
    const client = this.#client(device);
    const id = this.rng.int(1, 65535);
    const question = { type: "A" as const, name: server.name };
    const query = dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [question],
    });
    const answer = dnsPacket.encode({
      type: "response",
      id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [question],
      answers: [{ type: "A", name: server.name, ttl: 300, data: server.ip }],
    });
    writer.udp(time, client, RESOLVER, query);
    writer.udp(time + 0.4, RESOLVER, client, answer);
    this.packets += 2;
    return query.length + answer.length;
  }
}

const CHANGE_CIPHER_SPEC = Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);

/** A TLS 1.3 ServerHello answering `clientHello` (its session id echoed), in one handshake record. */
function serverHello(clientHello: Buffer, noise: Noise): Buffer {
  // Record header (5), handshake header (4), legacy_version (2), random (32): then the session id.
  const idLength = clientHello[43] ?? 0;
  const sessionId = clientHello.subarray(44, 44 + idLength);
  const extensions = Buffer.concat([
    Buffer.from([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]), // supported_versions: TLS 1.3
    Buffer.from([0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20]), // key_share: x25519
    noise.bytes(32),
  ]);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    noise.bytes(32),
    Buffer.from([sessionId.length]),
    sessionId,
    Buffer.from([0x13, 0x01, 0x00]), // TLS_AES_128_GCM_SHA256, no compression
    Buffer.from([extensions.length >> 8, extensions.length & 0xff]),
    extensions,
  ]);
  const handshake = Buffer.concat([Buffer.from([0x02, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([
    Buffer.from([0x16, 0x03, 0x03, handshake.length >> 8, handshake.length & 0xff]),
    handshake,
  ]);
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** An HTTP/1.1 request; chunked when `chunks` (sizes summing to the body's length) is given. */
function request(
  method: string,
  target: string,
  headers: [string, string][],
  body?: Buffer,
  chunks?: number[],
): Buffer {
  return message(`${method} ${target} HTTP/1.1`, headers, body, chunks);
}

function response(
  status: number,
  reason: string,
  headers: [string, string][],
  body: Buffer | undefined,
  chunks?: number[],
): Buffer {
  const all: [string, string][] = [
    ["Date", "Mon, 06 Jan 2025 09:00:00 GMT"],
    ["Server", "nginx"],
    ...headers,
  ];
  if (status === 204) return message(`HTTP/1.1 ${status} ${reason}`, all, undefined, undefined, true);
  return message(`HTTP/1.1 ${status} ${reason}`, all, body ?? Buffer.alloc(0), chunks);
}

function message(
  start: string,
  headers: [string, string][],
  body: Buffer | undefined,
  chunks: number[] | undefined,
  noLength = false,
): Buffer {
  const all = [...headers];
  let payload = body ?? Buffer.alloc(0);
  if (chunks !== undefined && body !== undefined) {
    if (!all.some(([n]) => n === "Transfer-Encoding")) all.push(["Transfer-Encoding", "chunked"]);
    payload = chunked(body, chunks);
  } else if (body !== undefined && !noLength) {
    all.push(["Content-Length", String(body.length)]);
  }
  const head = `${start}\r\n${all.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), payload]);
}

function chunked(body: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    parts.push(Buffer.from(`${size.toString(16)}\r\n`), body.subarray(at, at + size), Buffer.from("\r\n"));
    at += size;
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

function chunkSizes(rng: Rng, total: number, max: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0;) {
    const n = Math.min(left, rng.int(256, max));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

const WORDS = (
  "the of and to in is for on that with as at by from this be are it or an was not but have which " +
  "weather battery screen network update location settings account sync photo music video camera"
).split(" ");

function words(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => rng.pick(WORDS)).join(" ");
}

function configDocument(rng: Rng, approxBytes: number): unknown {
  const flags: Record<string, unknown> = {};
  for (let i = 0; JSON.stringify(flags).length < approxBytes; i++) {
    flags[`feature_${i}_${rng.pick(WORDS)}`] = {
      enabled: rng.chance(0.5),
      rollout: rng.int(0, 100),
      note: words(rng, rng.int(2, 12)),
    };
  }
  return { version: rng.int(1, 500), ttl: 3600, flags };
}

function telemetryDocument(rng: Rng, device: Device, events: number, identifiers: boolean): unknown {
  const start = T0 + rng.int(0, 3_600_000);
  return {
    ...(identifiers ? { imei: device.imei, mac: device.mac } : {}),
    install: device.installId,
    model: device.model,
    build: "UP1A.231005.007",
    events: Array.from({ length: events }, (_, i) => ({
      seq: i,
      ts: start + i * rng.int(100, 5000),
      type: rng.pick(["app_start", "screen_view", "battery", "network", "crash_free"]),
      screen: rng.pick(["home", "settings", "forecast", "radar", "about"]),
      battery: rng.int(5, 100),
      temp: Math.round(rng.next() * 200 + 200) / 10,
      duration_ms: rng.int(1, 60_000),
      note: words(rng, rng.int(0, 6)),
    })),
  };
}

function logLines(rng: Rng, approxBytes: number): string {
  const lines: string[] = [];
  let size = 0;
  const tags = ["ActivityManager", "WifiService", "BatteryStats", "PackageManager", "ConnectivityService"];
  while (size < approxBytes) {
    const t = new Date(T0 + rng.int(0, 3_600_000)).toISOString();
    const line = `${t} ${rng.pick(["I", "D", "W"])}/${rng.pick(tags)}(${rng.int(100, 9999)}): ${words(rng, rng.int(3, 16))}`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join("\n")}\n`;
}

function page(rng: Rng, approxBytes: number): string {
  const paragraphs: string[] = [];
  let size = 0;
  while (size < approxBytes) {
    const p = `<p class="c${rng.int(1, 9)}">${words(rng, rng.int(20, 120))}</p>`;
    paragraphs.push(p);
    size += p.length;
  }
  return `<!doctype html><html><head><title>News</title></head><body>${paragraphs.join("\n")}</body></html>`;
}

interface Planned {
  time: number;
  segment: TcpSegmentSpec;
}

function plan(connection: Connection, start: number): Planned[] {
  const out: Planned[] = [];
  const client = connection.client;
  const server: Endpoint = { ip: connection.server.ip, port: connection.server.port };
  let time = start;
  const seq = { client: 1_000_000 + (client.port << 8), server: 3_000_000_000 + (client.port << 9) };
  const send = (fromClient: boolean, flags: TcpSegmentSpec["flags"], payload?: Buffer) => {
    const [src, dst] = fromClient ? [client, server] : [server, client];
    const own = fromClient ? seq.client : seq.server;
    const other = fromClient ? seq.server : seq.client;
    out.push({ time, segment: { src, dst, seq: own >>> 0, ack: other >>> 0, flags, payload } });
    time += STEP;
  };
  send(true, { syn: true });
  seq.client += 1;
  send(false, { syn: true, ack: true });
  seq.server += 1;
  send(true, { ack: true });
  for (const { fromClient, bytes } of connection.messages) {
    time += STEP * 10;
    let segments = 0;
    for (let at = 0; at < bytes.length; at += connection.segmentSize) {
      const payload = bytes.subarray(at, at + connection.segmentSize);
      send(fromClient, { ack: true, psh: at + connection.segmentSize >= bytes.length }, payload);
      if (fromClient) seq.client += payload.length;
      else seq.server += payload.length;
      if (++segments % 2 === 0) send(!fromClient, { ack: true });
    }
    if (segments % 2 === 1) send(!fromClient, { ack: true });
  }
  send(true, { fin: true, ack: true });
  seq.client += 1;
  send(false, { fin: true, ack: true });
  seq.server += 1;
  send(true, { ack: true });
  return out;
}

/** Real ClientHello bytes: node:tls connecting to a server that records what it gets and hangs up. */
async function recordClientHellos(
  names: (string | null)[],
): Promise<{ sni: string | null; bytes: Buffer }[]> {
  const hellos: { sni: string | null; bytes: Buffer }[] = [];
  for (const name of names) {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const server = createServer((socket) => {
        let got = Buffer.alloc(0);
        socket.on("data", (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
            socket.destroy();
            server.close();
            resolve(got.subarray(0, 5 + got.readUInt16BE(3)));
          }
        });
      });
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        if (address === null || typeof address === "string") return reject(new Error("no port"));
        const options = {
          host: "127.0.0.1",
          port: address.port,
          ALPNProtocols: ["h2", "http/1.1"],
          ...(name === null ? {} : { servername: name }),
        };
        tlsConnect(options).on("error", () => {});
      });
    });
    hellos.push({ sni: name, bytes });
  }
  return hellos;
}

/** Writes the mixed capture to `path` until it holds at least `targetBytes`. */
export async function writeMixedCapture(path: string, targetBytes: number): Promise<GeneratedCapture> {
  const started = performance.now();
  const generator = new Generator(await recordClientHellos(TLS_SERVERS.map((s) => s.name)));
  const writer = pcapngWriter({ path, checksums: false });
  const connections = { http: 0, tls: 0, upload: 0, download: 0 };
  const payload = { http: 0, tls: 0, upload: 0, download: 0, dns: 0 };
  let dnsExchanges = 0;
  let time = T0;
  while (writer.bytesWritten < targetBytes) {
    const batch = Array.from({ length: CONCURRENT }, () => generator.connection());
    // Some connections are preceded by the DNS look-up of their server.
    for (const { connection, device } of batch) {
      if (!generator.rng.chance(0.4)) continue;
      const bytes = generator.dns(writer, device, connection.server, time);
      if (bytes > 0) {
        dnsExchanges++;
        payload.dns += bytes;
      }
      time += 0.05;
    }
    time += 1;
    const planned = batch.flatMap(({ connection }, i) => plan(connection, time + i * 0.7));
    planned.sort((a, b) => a.time - b.time);
    for (const { time: t, segment } of planned) writer.tcp(t, segment);
    generator.packets += planned.length;
    for (const { connection } of batch) {
      connections[connection.kind]++;
      payload[connection.kind] += connection.messages.reduce((n, m) => n + m.bytes.length, 0);
    }
    time = (planned.at(-1)?.time ?? time) + 5;
  }
  writer.close();
  return {
    path,
    bytes: statSync(path).size,
    seconds: (performance.now() - started) / 1000,
    packets: generator.packets,
    httpRequests: generator.httpRequests,
    connections,
    payload,
    dnsExchanges,
    planted: generator.planted(),
  };
}

/** Evidence compared without case or separators (a recogniser may normalise a MAC's form). */
export function normalise(evidence: string): string {
  return evidence.toLowerCase().replace(/[^a-z0-9•*x]/g, "");
}
