/**
 * TLS hellos: built byte by byte here (SNI, supported_versions, ALPN, GREASE,
 * a ClientHello split across records, legacy-only versions, no SNI) and taken
 * from a real Node/OpenSSL handshake through a recording TCP proxy.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { describe, test } from "node:test";
import tls from "node:tls";
import { isTls, parseTlsHellos } from "./tls.ts";

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length]), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer): Buffer => Buffer.concat([u16(type), vec16(data)]);
const GREASE = 0x2a2a;

interface ClientSpec {
  legacy?: number;
  ciphers: number[];
  sni?: string;
  versions?: number[];
  alpn?: string[];
  greaseExtension?: boolean;
}

/** A ClientHello handshake message (type, length, body). */
function clientHello(spec: ClientSpec): Buffer {
  const extensions: Buffer[] = [];
  if (spec.greaseExtension) extensions.push(ext(GREASE, Buffer.alloc(0)));
  if (spec.sni !== undefined) {
    const name = Buffer.from(spec.sni);
    extensions.push(ext(0, vec16(Buffer.concat([Buffer.from([0]), vec16(name)]))));
  }
  if (spec.alpn !== undefined) {
    extensions.push(ext(16, vec16(Buffer.concat(spec.alpn.map((p) => vec8(Buffer.from(p)))))));
  }
  if (spec.versions !== undefined) extensions.push(ext(43, vec8(Buffer.concat(spec.versions.map(u16)))));
  const body = Buffer.concat([
    u16(spec.legacy ?? 0x0303),
    Buffer.alloc(32, 7),
    vec8(Buffer.alloc(32, 9)),
    vec16(Buffer.concat(spec.ciphers.map(u16))),
    vec8(Buffer.from([0])),
    vec16(Buffer.concat(extensions)),
  ]);
  return Buffer.concat([Buffer.from([1]), u24(body.length), body]);
}

/** A ServerHello handshake message, with supported_versions when `version` is given. */
function serverHello(legacy: number, cipher: number, version?: number): Buffer {
  const extensions = version === undefined ? Buffer.alloc(0) : vec16(ext(43, u16(version)));
  const body = Buffer.concat([
    u16(legacy),
    Buffer.alloc(32, 3),
    vec8(Buffer.alloc(0)),
    u16(cipher),
    Buffer.from([0]),
    extensions,
  ]);
  return Buffer.concat([Buffer.from([2]), u24(body.length), body]);
}

/** The message in handshake records of at most `size` bytes each. */
function records(message: Buffer, size = 16384, recordVersion = 0x0301): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) {
    const fragment = message.subarray(at, at + size);
    out.push(Buffer.concat([Buffer.from([22]), u16(recordVersion), u16(fragment.length), fragment]));
  }
  return Buffer.concat(out);
}

describe("parseTlsHellos on built hellos", () => {
  test("reads SNI, TLS 1.3 via supported_versions, ALPN and cipher names, dropping GREASE", () => {
    const hello = clientHello({
      ciphers: [GREASE, 0x1301, 0x1302, 0xc02f, 0x00ff, 0x9999],
      sni: "API.Example.CN",
      versions: [0x3a3a, 0x0304, 0x0303],
      alpn: ["\x5a\x5a", "h2", "http/1.1"],
      greaseExtension: true,
    });
    const server = records(Buffer.concat([serverHello(0x0303, 0x1301, 0x0304)]), 16384, 0x0303);
    const hellos = parseTlsHellos(records(hello), server);
    assert.deepEqual(hellos, {
      clientHello: {
        sni: "api.example.cn",
        legacyVersion: "TLS 1.2",
        supportedVersions: ["TLS 1.3", "TLS 1.2"],
        ciphers: [
          "TLS_AES_128_GCM_SHA256",
          "TLS_AES_256_GCM_SHA384",
          "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
          "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
          "0x9999",
        ],
        alpn: ["h2", "http/1.1"],
      },
      serverHello: { version: "TLS 1.3", cipher: "TLS_AES_128_GCM_SHA256" },
    });
  });

  test("reads a TLS 1.2 handshake without supported_versions", () => {
    const hello = clientHello({ ciphers: [0xc030, 0x009c], sni: "legacy.example.com" });
    const hellos = parseTlsHellos(records(hello), records(serverHello(0x0303, 0xc030)));
    assert.equal(hellos?.clientHello?.legacyVersion, "TLS 1.2");
    assert.deepEqual(hellos?.clientHello?.supportedVersions, []);
    assert.deepEqual(hellos?.serverHello, {
      version: "TLS 1.2",
      cipher: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    });
  });

  test("reads a TLS 1.0 client without SNI (sni is null)", () => {
    const hello = clientHello({ legacy: 0x0301, ciphers: [0x0005, 0x002f] });
    const hellos = parseTlsHellos(records(hello), records(serverHello(0x0301, 0x0005)));
    assert.equal(hellos?.clientHello?.sni, null);
    assert.equal(hellos?.clientHello?.legacyVersion, "TLS 1.0");
    assert.deepEqual(hellos?.clientHello?.ciphers, [
      "TLS_RSA_WITH_RC4_128_SHA",
      "TLS_RSA_WITH_AES_128_CBC_SHA",
    ]);
    assert.deepEqual(hellos?.serverHello, { version: "TLS 1.0", cipher: "TLS_RSA_WITH_RC4_128_SHA" });
  });

  for (const size of [3, 20, 100]) {
    test(`joins a ClientHello split across records of ${size} bytes`, () => {
      const hello = clientHello({ ciphers: [0x1301], sni: "split.example.org", versions: [0x0304] });
      const hellos = parseTlsHellos(records(hello, size), new Uint8Array());
      assert.equal(hellos?.clientHello?.sni, "split.example.org");
      assert.deepEqual(hellos?.clientHello?.supportedVersions, ["TLS 1.3"]);
      assert.equal(hellos?.serverHello, undefined);
    });
  }

  test("names SSL 3.0 and returns null for bytes that are not a TLS handshake", () => {
    const ssl3 = parseTlsHellos(
      records(clientHello({ legacy: 0x0300, ciphers: [0x000a] }), 16384, 0x0300),
      new Uint8Array(),
    );
    assert.equal(ssl3?.clientHello?.legacyVersion, "SSL 3.0");
    assert.equal(parseTlsHellos(Buffer.from("GET / HTTP/1.1\r\n\r\n"), new Uint8Array()), null);
    assert.equal(parseTlsHellos(Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5]), new Uint8Array()), null);
    assert.equal(parseTlsHellos(Buffer.from([22, 3, 9, 0, 5, 1]), new Uint8Array()), null);
    assert.equal(isTls(records(clientHello({ ciphers: [0x1301] }))), true);
    assert.equal(isTls(new Uint8Array()), false);
  });
});

/** Bytes each way through a TCP proxy in front of `target`. */
async function recordingProxy(
  target: number,
): Promise<{ port: number; client: Buffer[]; server: Buffer[]; close(): void }> {
  const client: Buffer[] = [];
  const server: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(target, "127.0.0.1");
    sockets.push(inbound, outbound);
    inbound.on("data", (d: Buffer) => client.push(d));
    outbound.on("data", (d: Buffer) => server.push(d));
    inbound.pipe(outbound).on("error", () => undefined);
    outbound.pipe(inbound).on("error", () => undefined);
    inbound.on("error", () => undefined);
    outbound.on("error", () => undefined);
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  const close = (): void => {
    for (const s of sockets) s.destroy();
    proxy.close();
  };
  return { port: (proxy.address() as net.AddressInfo).port, client, server, close };
}

describe("parseTlsHellos on a real Node/OpenSSL handshake", () => {
  test("reads the client's SNI, versions and ALPN and the server's choice", async () => {
    const key = Buffer.alloc(32, 1);
    const server = tls.createServer({
      pskCallback: () => key,
      ciphers: "PSK-AES128-GCM-SHA256",
      maxVersion: "TLSv1.2",
      ALPNProtocols: ["http/1.1"],
    });
    server.on("tlsClientError", () => undefined);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const proxy = await recordingProxy((server.address() as net.AddressInfo).port);
    try {
      const socket = tls.connect({
        host: "127.0.0.1",
        port: proxy.port,
        servername: "device-registration.example.cn",
        ALPNProtocols: ["h2", "http/1.1"],
        ciphers: "PSK-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        pskCallback: () => ({ psk: key, identity: "device" }),
        checkServerIdentity: () => undefined,
      });
      await once(socket, "secureConnect");
      socket.destroy();
      const hellos = parseTlsHellos(Buffer.concat(proxy.client), Buffer.concat(proxy.server));
      assert.equal(hellos?.clientHello?.sni, "device-registration.example.cn");
      assert.equal(hellos?.clientHello?.legacyVersion, "TLS 1.2");
      assert.ok(hellos?.clientHello?.supportedVersions.includes("TLS 1.3"));
      assert.ok(hellos?.clientHello?.supportedVersions.includes("TLS 1.2"));
      assert.ok(hellos?.clientHello?.ciphers.includes("TLS_PSK_WITH_AES_128_GCM_SHA256"));
      assert.ok(hellos?.clientHello?.ciphers.includes("TLS_AES_256_GCM_SHA384"));
      assert.deepEqual(hellos?.clientHello?.alpn, ["h2", "http/1.1"]);
      assert.deepEqual(hellos?.serverHello, {
        version: "TLS 1.2",
        cipher: "TLS_PSK_WITH_AES_128_GCM_SHA256",
      });
    } finally {
      proxy.close();
      server.close();
    }
  });
});
