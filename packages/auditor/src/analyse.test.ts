/**
 * The auditor's judgement on captures written by the tests with real
 * Ethernet/IP/TCP framing (out of order, retransmitted, split over many
 * segments): the identifiers and their decoding paths, HAR and pcapng of the
 * same exchange giving the same findings, gzip and chunked bodies, hosts
 * named from DNS answers, countries from the shipped GeoIP database, weak
 * TLS, hashed known identifiers, and the report's forms.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import dnsPacket from "dns-packet";
import { approvedHosts, type AuditPolicy, type AuditResult, Auditor, MAX_LISTED_FLOWS } from "./analyse.ts";
import { type CaptureWriter, pcapngWriter } from "../test/index.ts";
import { readFlows } from "./capture/index.ts";
import { openGeoIp } from "./geoip.ts";
import { knownIdentifiers } from "./identifiers/index.ts";
import { renderReport } from "./report.ts";
import type { Finding } from "./types.ts";
import { withLuhn } from "./identifiers/luhn.ts";

const dir = mkdtempSync(join(tmpdir(), "phonehome-auditor-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const geoip = openGeoIp();

const IMEI = withLuhn("35693803564380");
const IMSI = "242011234567890"; // Telenor Norway
const ICCID = withLuhn("894701000000123456");
const REGISTRATION = JSON.stringify({
  REGVER: "1.0",
  IMEI1: IMEI,
  SIM1LTEIMSI: IMSI,
  SIM1ICCID: ICCID,
  MODEL: "TA-1062",
});
const CHINA = "220.181.38.148"; // in CN according to DB-IP
const NORWAY_POLICY: AuditPolicy = {
  region: "global",
  allowedCountries: new Set(["NO"]),
  approvedHosts: ["collector.example.no"],
  assumedCountries: new Map(),
  known: null,
};

async function auditFile(file: string, policy = NORWAY_POLICY): Promise<AuditResult> {
  const auditor = new Auditor(policy, geoip);
  for await (const flow of readFlows(file)) auditor.add(flow);
  return auditor.finish();
}

function capture(name: string, write: (w: CaptureWriter) => void): string {
  const file = join(dir, name);
  const writer = pcapngWriter({ path: file });
  write(writer);
  writer.close();
  return file;
}

const summary = (findings: Finding[]) =>
  findings
    .map((f) => [f.rule, f.severity, f.identifier ?? "", f.path ?? "", f.evidence ?? ""].join(" | "))
    .sort();

const client = { ip: "192.168.1.20", port: 51000 };
const OK = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

describe("the auditor", () => {
  test("the self-registration message: each identifier with its decoding path, redacted, and the protocol named", async () => {
    const body = Buffer.from(REGISTRATION).toString("base64");
    const request = `POST / HTTP/1.1\r\nHost: zzhc.vnet.cn:9999\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const file = capture("registration.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: CHINA, port: 9999 },
        request: Buffer.from(request),
        response: OK,
        time: Date.parse("2019-02-20T10:00:00Z"),
        segmentSize: 40,
        shuffle: true,
        retransmit: true,
      }),
    );
    const result = await auditFile(file);
    const byIdentifier = new Map(
      result.findings.filter((f) => f.identifier).map((f) => [`${f.rule}:${f.identifier}`, f]),
    );
    assert.equal(byIdentifier.get("encoded-identifier:imei")?.path, "body -> base64 -> json.IMEI1");
    assert.equal(byIdentifier.get("encoded-identifier:imsi")?.path, "body -> base64 -> json.SIM1LTEIMSI");
    assert.equal(byIdentifier.get("encoded-identifier:iccid")?.path, "body -> base64 -> json.SIM1ICCID");
    for (const kind of ["imei", "imsi", "iccid"]) {
      assert.equal(byIdentifier.get(`encoded-identifier:${kind}`)?.severity, "critical", kind);
    }
    const rules = new Set(result.findings.map((f) => f.rule));
    for (const rule of [
      "ctcc-self-registration",
      "cross-border",
      "sim-country",
      "cleartext-transport",
      "unapproved-host",
    ]) {
      assert.ok(rules.has(rule as Finding["rule"]), `${rule} in ${[...rules].join(", ")}`);
    }
    const border = result.findings.find((f) => f.rule === "cross-border");
    assert.deepEqual(
      [border?.country, border?.host, border?.port, border?.transport],
      ["CN", "zzhc.vnet.cn", 9999, "http"],
    );
    // No report form carries a whole identifier.
    const context = {
      capture: file,
      bytes: 0,
      packets: 0,
      policy: { region: "global", allowedCountries: ["NO"], approvedHosts: [] },
      version: "test",
    };
    for (const format of ["text", "json", "sarif", "html"] as const) {
      const report = renderReport(format, result, context);
      for (const value of [IMEI, IMSI, ICCID]) assert.ok(!report.includes(value), `${format} shows ${value}`);
    }
    const sarif = JSON.parse(renderReport("sarif", result, context)) as {
      version: string;
      runs: {
        tool: { driver: { rules: { id: string; properties: { "security-severity": string } }[] } };
        results: { ruleId: string; level: string; locations: { logicalLocations: { name: string }[] }[] }[];
      }[];
    };
    assert.equal(sarif.version, "2.1.0");
    const run = sarif.runs[0];
    assert.ok(run);
    assert.equal(run.results.length, result.findings.length);
    const ruleIds = new Set(run.tool.driver.rules.map((r) => r.id));
    assert.ok(run.results.every((r) => ruleIds.has(r.ruleId)));
    assert.equal(
      run.tool.driver.rules.find((r) => r.id === "ctcc-self-registration")?.properties["security-severity"],
      "9.5",
    );
    assert.ok(run.results.every((r) => r.locations[0]?.logicalLocations[0]?.name.startsWith("tcp ")));
    assert.equal(run.results.find((r) => r.ruleId === "ctcc-self-registration")?.level, "error");
    assert.match(renderReport("html", result, context), /IP Geolocation by DB-IP/);
  });

  test("HAR and pcapng of the same exchange give the same findings", async () => {
    const body = Buffer.from(REGISTRATION).toString("base64");
    const headers = [
      ["Host", "zzhc.vnet.cn:9999"],
      ["Content-Type", "application/octet-stream"],
    ];
    const request = `POST /reg?imei=${IMEI} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const pcap = capture("same.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: CHINA, port: 9999 },
        request: Buffer.from(request),
        response: OK,
        time: Date.parse("2019-02-20T10:00:00Z"),
        segmentSize: 64,
      }),
    );
    const har = join(dir, "same.har");
    writeFileSync(
      har,
      JSON.stringify({
        log: {
          version: "1.2",
          creator: { name: "test", version: "1" },
          entries: [
            {
              startedDateTime: "2019-02-20T10:00:00.000Z",
              time: 10,
              serverIPAddress: CHINA,
              request: {
                method: "POST",
                url: `http://zzhc.vnet.cn:9999/reg?imei=${IMEI}`,
                httpVersion: "HTTP/1.1",
                headers: headers.map(([name, value]) => ({ name, value })),
                queryString: [{ name: "imei", value: IMEI }],
                postData: { mimeType: "application/octet-stream", text: body },
                headersSize: -1,
                bodySize: body.length,
              },
              response: {
                status: 200,
                statusText: "OK",
                httpVersion: "HTTP/1.1",
                headers: [],
                content: { size: 2, mimeType: "text/plain", text: "ok" },
                headersSize: -1,
                bodySize: 2,
              },
            },
          ],
        },
      }),
    );
    const fromPcap = await auditFile(pcap);
    const fromHar = await auditFile(har);
    assert.ok(fromPcap.findings.length >= 8, summary(fromPcap.findings).join("\n"));
    assert.deepEqual(summary(fromHar.findings), summary(fromPcap.findings));
    assert.ok(
      fromPcap.findings.some((f) => f.rule === "plaintext-identifier" && f.path === "target -> query.imei"),
      summary(fromPcap.findings).join("\n"),
    );
  });

  test("a gzip, chunked body split over a hundred segments, out of order and retransmitted", async () => {
    const json = Buffer.from(JSON.stringify({ device: { imei: IMEI, lat: 59.913868, lon: 10.752245 } }));
    const gz = gzipSync(json);
    const chunks: Buffer[] = [];
    for (let i = 0; i < gz.length; i += 17) {
      const part = gz.subarray(i, i + 17);
      chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"));
    }
    const head = Buffer.from(
      "POST /v2/report HTTP/1.1\r\nHost: telemetry.example.com\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const request = Buffer.concat([head, ...chunks, Buffer.from("0\r\n\r\n")]);
    const file = capture("gzip-chunked.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: "93.184.215.14", port: 80 },
        request,
        response: OK,
        time: Date.now(),
        segmentSize: Math.ceil(request.length / 100),
        shuffle: true,
        retransmit: true,
      }),
    );
    const result = await auditFile(file);
    const paths = result.findings.filter((f) => f.identifier).map((f) => `${f.identifier} ${f.path}`);
    assert.ok(paths.includes("imei body -> json.device.imei"), paths.join("\n"));
    assert.ok(
      paths.some((p) => p.startsWith("gps body -> json.device.la")),
      paths.join("\n"),
    );
    assert.equal(result.httpRequests, 1);
  });

  test("a host named by a DNS answer; HTTP to its bare address; the country from the database", async () => {
    const query = dnsPacket.encode({
      type: "query",
      id: 7,
      questions: [{ type: "A", name: "track.example.cn" }],
    });
    const answer = dnsPacket.encode({
      type: "response",
      id: 7,
      questions: [{ type: "A", name: "track.example.cn" }],
      answers: [{ type: "A", name: "track.example.cn", ttl: 60, data: CHINA }],
    });
    const resolver = { ip: "192.168.1.1", port: 53 };
    const file = capture("dns.pcapng", (w) => {
      const time = Date.now();
      w.udp(time, { ip: client.ip, port: 40000 }, resolver, query);
      w.udp(time + 1, resolver, { ip: client.ip, port: 40000 }, answer);
      w.tcpSession({
        client,
        server: { ip: CHINA, port: 80 },
        request: Buffer.from(`GET /ping?id=1 HTTP/1.1\r\nHost: ${CHINA}\r\n\r\n`),
        response: OK,
        time: time + 2,
      });
    });
    const result = await auditFile(file);
    const bare = result.findings.find((f) => f.rule === "http-to-bare-ip");
    assert.deepEqual([bare?.host, bare?.country, bare?.severity], ["track.example.cn", "CN", "medium"]);
    const border = result.findings.find((f) => f.rule === "cross-border");
    assert.deepEqual([border?.severity, border?.host], ["medium", "track.example.cn"]);
    assert.equal(result.flows.find((f) => f.protocol === "dns")?.bytesOut, query.length);
  });

  test("TLS 1.0 without a server name; a modern hello to an approved host is clean", async () => {
    const file = capture("tls.pcapng", (w) => {
      w.tcpSession({
        client,
        server: { ip: "193.90.12.1", port: 443 },
        request: clientHello(null, 0x0301, []),
        response: Buffer.alloc(0),
        time: Date.now(),
      });
      w.tcpSession({
        client: { ip: client.ip, port: 51001 },
        server: { ip: "193.90.12.2", port: 443 },
        request: clientHello("collector.example.no", 0x0303, [0x0304, 0x0303]),
        response: Buffer.alloc(0),
        time: Date.now() + 5,
      });
    });
    const result = await auditFile(file, { ...NORWAY_POLICY, allowedCountries: null });
    const rules = result.findings.map((f) => `${f.rule} ${f.ip}`).sort();
    assert.deepEqual(rules, [
      "tls-without-sni 193.90.12.1",
      "unapproved-host 193.90.12.1",
      "weak-tls 193.90.12.1",
    ]);
    assert.equal(
      result.flows.find((f) => f.server.startsWith("193.90.12.2"))?.tls?.sni,
      "collector.example.no",
    );
  });

  test("a known identifier sent hashed is found, in upper case too", async () => {
    const serial = "PH7P0000123";
    const sha = createHash("sha256").update(serial).digest("hex").toUpperCase();
    const md5 = createHash("md5").update(serial).digest("hex");
    const file = capture("hashed.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: "193.90.12.3", port: 8080 },
        request: Buffer.from(
          `GET /a?u=${sha}&v=${md5}&w=${serial} HTTP/1.1\r\nHost: collector.example.no\r\n\r\n`,
        ),
        response: OK,
        time: Date.now(),
      }),
    );
    const known = knownIdentifiers([{ kind: "serial", value: serial }]);
    const result = await auditFile(file, { ...NORWAY_POLICY, allowedCountries: null, known });
    const hashed = result.findings.filter((f) => f.rule === "hashed-identifier").map((f) => f.path);
    assert.deepEqual(hashed.sort(), ["target -> query.u", "target -> query.v"]);
    const plain = result.findings.filter(
      (f) => f.rule === "plaintext-identifier" && f.identifier === "known",
    );
    assert.deepEqual(
      plain.map((f) => f.path),
      ["target -> query.w"],
    );
    for (const f of result.findings) {
      assert.ok(!`${f.message} ${f.evidence ?? ""} ${f.path ?? ""}`.includes(serial), JSON.stringify(f));
    }
  });

  test("the same identifier in every request is one finding with its count, per place", async () => {
    const get = `GET /ping?imei=${IMEI} HTTP/1.1\r\nHost: collector.example.no\r\n\r\n`;
    const json = JSON.stringify({ imei: IMEI });
    const post = `POST /r HTTP/1.1\r\nHost: collector.example.no\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`;
    const file = capture("repeated.pcapng", (w) => {
      for (const port of [51010, 51011]) {
        w.tcpSession({
          client: { ip: client.ip, port },
          server: { ip: "193.90.12.4", port: 80 },
          request: Buffer.from(get + get + post),
          response: Buffer.concat([OK, OK, OK]),
          time: Date.now() + port,
        });
      }
    });
    const result = await auditFile(file, { ...NORWAY_POLICY, allowedCountries: null, approvedHosts: null });
    const imei = result.findings.filter((f) => f.identifier === "imei");
    assert.deepEqual(imei.map((f) => [f.path, f.count]).sort(), [
      ["body -> json.imei", 2],
      ["target -> query.imei", 4],
    ]);
    assert.equal(result.httpRequests, 6);
  });

  test("after bytes the capture missed, the rest of the connection is still read", async () => {
    const first = `GET /first?padding=${"x".repeat(80)} HTTP/1.1\r\nHost: collector.example.no\r\n\r\n`;
    const second = `POST /r HTTP/1.1\r\nHost: collector.example.no\r\nContent-Length: 20\r\n\r\nimei=${IMEI}`;
    const file = capture("hole.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: "193.90.12.5", port: 80 },
        request: Buffer.from(first + second),
        response: Buffer.concat([OK, OK]),
        time: Date.now(),
        segmentSize: 40,
        omit: { client: [1] }, // inside the first request
      }),
    );
    const result = await auditFile(file, { ...NORWAY_POLICY, allowedCountries: null, approvedHosts: null });
    const imei = result.findings.find((f) => f.identifier === "imei");
    assert.ok(imei, JSON.stringify(result.findings));
    assert.equal(imei.path, "tcp");
    assert.match(result.flows[0]?.notes.join("; ") ?? "", /^40 bytes missing from the capture/);
  });

  test("approved hosts: names, wildcards, ports and addresses in any IPv6 spelling", () => {
    const approved = approvedHosts([
      "collector.example.no",
      "*.cdn.example.com",
      "127.0.0.1:8443",
      "10.0.0.5",
      "[::1]",
      "[2001:DB8:0::7]:443",
    ]);
    assert.ok(approved("collector.example.no", "1.2.3.4", 443));
    assert.ok(approved("a.cdn.example.com", "1.2.3.4", 443));
    assert.ok(!approved("cdn.example.com.evil.cn", "1.2.3.4", 443));
    assert.ok(approved(null, "127.0.0.1", 8443));
    assert.ok(!approved(null, "127.0.0.1", 8444));
    assert.ok(approved(null, "10.0.0.5", 1));
    assert.ok(approved(null, "::1", 443), "[::1] is an address, not the address :: on port 1");
    assert.ok(approved(null, "2001:db8::7", 443));
    assert.ok(!approved(null, "2001:db8::7", 80));
    assert.ok(!approved("zzhc.vnet.cn", "220.181.38.148", 9999));
  });

  test("identifiers sent over plain UDP; a DNS answer learnt whichever side sent it", async () => {
    const answer = dnsPacket.encode({
      type: "response",
      id: 9,
      questions: [{ type: "A", name: "udp.example.cn" }],
      answers: [{ type: "A", name: "udp.example.cn", ttl: 60, data: CHINA }],
    });
    const file = capture("udp.pcapng", (w) => {
      // The answer is the only datagram between these two: its sender counts as the "client".
      w.udp(Date.now(), { ip: "192.168.1.1", port: 53 }, { ip: client.ip, port: 40001 }, answer);
      w.udp(
        Date.now() + 1,
        { ip: client.ip, port: 40002 },
        { ip: CHINA, port: 7000 },
        Buffer.from(`imei=${IMEI}`),
      );
    });
    const result = await auditFile(file, { ...NORWAY_POLICY, approvedHosts: null });
    const rules = result.findings.map((f) => `${f.rule} ${f.host ?? ""}`).sort();
    assert.deepEqual(rules, [
      "cleartext-transport udp.example.cn",
      "cross-border udp.example.cn",
      "plaintext-identifier udp.example.cn",
    ]);
    assert.equal(result.findings.find((f) => f.rule === "plaintext-identifier")?.path, "udp -> form.imei");
  });

  test("one value is one identifier: its key decides the kind, and it is reported once", async () => {
    // Luhn-valid and shaped like a Chinese IMSI (MCC 460): under "imei" it is an IMEI, and only that.
    const imei = withLuhn("46003123456789");
    const json = JSON.stringify({ imei });
    const request = `POST /r HTTP/1.1\r\nHost: collector.example.no\r\nContent-Length: ${json.length}\r\n\r\n${json}`;
    const file = capture("one-value.pcapng", (w) =>
      w.tcpSession({
        client,
        server: { ip: CHINA, port: 80 },
        request: Buffer.from(request),
        response: OK,
        time: Date.now(),
      }),
    );
    const result = await auditFile(file, { ...NORWAY_POLICY, approvedHosts: null, allowedCountries: null });
    const found = result.findings
      .filter((f) => f.identifier !== undefined)
      .map((f) => `${f.rule} ${f.identifier} ${f.path}`);
    assert.deepEqual(found, ["plaintext-identifier imei body -> json.imei"]);
  });

  test(`past ${MAX_LISTED_FLOWS} flows, later ones are judged but only counted`, async () => {
    const file = capture("many.pcapng", (w) => {
      for (let i = 0; i < MAX_LISTED_FLOWS + 5; i++) {
        const port = 20000 + (i % 40000);
        const source = { ip: `10.${1 + Math.floor(i / 60000)}.${(i >> 8) & 0xff}.${i & 0xff}`, port };
        w.udp(
          Date.now() + i,
          source,
          { ip: CHINA, port: 7000 },
          Buffer.from(i === MAX_LISTED_FLOWS + 4 ? `imei=${IMEI}` : "ping"),
        );
      }
    });
    const result = await auditFile(file, { ...NORWAY_POLICY, approvedHosts: null });
    assert.equal(result.flows.length, MAX_LISTED_FLOWS);
    assert.equal(result.unlistedFlows, 5);
    // The last flow, not listed, still has its findings, with its country.
    const imei = result.findings.find((f) => f.identifier === "imei");
    assert.deepEqual([imei?.country, imei?.severity], ["CN", "critical"]);
    // One destination: one cross-border finding, as bad as its worst flow, counting them all.
    const border = result.findings.filter((f) => f.rule === "cross-border");
    assert.deepEqual(
      border.map((f) => [f.severity, f.count]),
      [["critical", MAX_LISTED_FLOWS + 5]],
    );
  });
});

/** A TLS ClientHello record: `sni` (or none), the legacy version, and supported_versions (or none). */
function clientHello(sni: string | null, legacy: number, versions: number[]): Buffer {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const extension = (type: number, data: Buffer) => Buffer.concat([u16(type), u16(data.length), data]);
  const extensions: Buffer[] = [];
  if (sni !== null) {
    const name = Buffer.from(sni);
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    extensions.push(extension(0, Buffer.concat([u16(entry.length), entry])));
  }
  if (versions.length > 0) {
    const list = Buffer.concat(versions.map(u16));
    extensions.push(extension(43, Buffer.concat([Buffer.from([list.length]), list])));
  }
  const ext = Buffer.concat(extensions);
  const ciphers = Buffer.concat([0x1301, 0xc02f, 0x002f].map(u16));
  const body = Buffer.concat([
    u16(legacy),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(ciphers.length),
    ciphers,
    Buffer.from([1, 0]),
    u16(ext.length),
    ext,
  ]);
  const handshake = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  return Buffer.concat([Buffer.from([22, 3, 1]), u16(handshake.length), handshake]);
}
