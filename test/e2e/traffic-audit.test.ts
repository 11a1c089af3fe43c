/**
 * `phonehome audit` on traffic recorded with tcpdump on loopback as the test
 * runs: the project's own SDK activating and sending diagnostics to a real
 * collector gives no finding at all, even with the device's own identifiers
 * to look for; a legacy registration client posting base64 JSON with IMEI,
 * ICCID and IMSI in plain HTTP to port 9999 is reported with each identifier,
 * its decoding path and the protocol's signature. Files that are not
 * captures, cut short or corrupt end with a clear error and exit 2.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ConsentDecision, type DeviceIdentity, PhoneHomeClient } from "@phonehome/sdk";
import { captureSkip, startCapture } from "../helpers/capture.ts";
import { phonehomeAsync } from "../helpers/cli.ts";
import { BACKENDS } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem, writeCliConfig } from "../helpers/system.ts";
import { pcapWriter, withLuhn } from "@phonehome/auditor/testing";

const pglite = BACKENDS[0];
assert.ok(pglite);

interface Report {
  httpRequests: number;
  findings: { rule: string; severity: string; identifier?: string; path?: string; country: string | null }[];
  flows: { protocol: string; identifiers: string[] }[];
}

/** Listens on 127.0.0.2:`port`; a port already taken fails the test at once, naming it. */
function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`127.0.0.2:${port} cannot be used: ${error.message}`)));
    server.listen(port, "127.0.0.2", resolve);
  });
}

describe("phonehome audit on captured traffic", { skip: captureSkip }, () => {
  let t: TestSystem;
  let dir: string;
  let config: string;
  const IMEI = withLuhn("86453103112233");
  const ICCID = withLuhn("894701000000987654");
  const IMSI = "242015550001234";
  const MEID = "A1000049C2F3B7";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "phonehome-traffic-audit-"));
    t = await startTestSystem(pglite);
    config = join(dir, "phonehome.json");
    writeCliConfig(t, config);
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the SDK activating and sending diagnostics: no finding, not even of its own identifiers", async () => {
    const [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
    const region = t.system.regions.find((r) => r.id === "global");
    assert.ok(region);
    const port = new URL(region.url).port;
    const recording = await startCapture(join(dir, "sdk.pcap"), `tcp port ${port}`);
    const client = new PhoneHomeClient({
      identity: device,
      queueDir: join(dir, "queue"),
      retry: { baseMs: 10, maxMs: 50, maxAttempts: 2 },
    });
    await client.activate();
    const yes: ConsentDecision = {
      granted: true,
      noticeVersion: 1,
      language: "en",
      method: "device-settings",
    };
    await client.sendConsent(yes);
    await client.setConsent("granted");
    for (let i = 0; i < 3; i++) {
      await client.recordEvent({
        batteryHealthPercent: 96,
        batteryCycles: 300 + i,
        crashCount: i,
        anrCount: 0,
        thermalEvents: 0,
      });
    }
    assert.deepEqual(await client.flush(), { delivered: 1, rejected: 0, remaining: 0 });
    const file = await recording.stop();

    // The device's serial, to be looked for as it is and hashed. (Its key id, the pseudonym the
    // envelope names in the clear so the collector can check the signature, is found if listed:
    // docs/traffic-audit.md.)
    const known = join(dir, "known.yaml");
    writeFileSync(known, `serial: ${device.serial}\n`);
    const run = await phonehomeAsync([
      "audit",
      file,
      "--config",
      config,
      "--region",
      "global",
      "--known",
      known,
      "--format",
      "json",
      "--no-progress",
    ]);
    assert.equal(run.status, 0, `${run.stderr}${run.stdout}`);
    const report = JSON.parse(run.stdout) as Report;
    assert.ok(report.httpRequests >= 4, `${report.httpRequests} requests`);
    assert.ok(report.flows.every((f) => f.protocol === "http"));
    assert.deepEqual(report.findings, [], "no finding on the project's own traffic");
  });

  test("a legacy registration client: base64 JSON with IMEI, ICCID and IMSI in plain HTTP to port 9999", async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    await listen(server, 9999);
    const recording = await startCapture(join(dir, "legacy.pcap"), "host 127.0.0.2 and tcp port 9999");
    const message = {
      REGVER: "1.0",
      MEID,
      IMEI1: IMEI,
      SIM1ICCID: ICCID,
      SIM1LTEIMSI: IMSI,
      MODEL: "TA-1062",
      SWVER: "00WW_3_39B_SP02",
    };
    const body = Buffer.from(JSON.stringify(message)).toString("base64");
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.2",
          port: 9999,
          method: "POST",
          path: "/",
          headers: { host: "zzhc.vnet.cn:9999", "content-type": "application/encrypted-json" },
        },
        (res) => {
          res.resume();
          res.on("end", resolve);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    const legacyCapture = await recording.stop();
    server.close();

    const args = [
      "audit",
      legacyCapture,
      "--config",
      config,
      "--assume-country",
      "127.0.0.2=CN",
      "--no-progress",
    ];
    const run = await phonehomeAsync([...args, "--format", "json"]);
    assert.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    const at = (kind: string) => report.findings.find((f) => f.identifier === kind && f.path !== undefined);
    assert.deepEqual(
      ["imei", "iccid", "imsi"].map((k) => [k, at(k)?.rule, at(k)?.path, at(k)?.severity]),
      [
        ["imei", "encoded-identifier", "body -> base64 -> json.IMEI1", "critical"],
        ["iccid", "encoded-identifier", "body -> base64 -> json.SIM1ICCID", "critical"],
        ["imsi", "encoded-identifier", "body -> base64 -> json.SIM1LTEIMSI", "critical"],
      ],
    );
    const rules = new Set(report.findings.map((f) => f.rule));
    for (const rule of [
      "ctcc-self-registration",
      "cleartext-transport",
      "cross-border",
      "sim-country",
      "unapproved-host",
    ]) {
      assert.ok(rules.has(rule), `${rule} missing from ${[...rules].join(", ")}`);
    }
    assert.equal(report.findings.find((f) => f.rule === "cross-border")?.country, "CN");

    // The terminal report: grouped by severity. No form of the report shows a whole identifier.
    const text = await phonehomeAsync(args);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /^CRITICAL \(\d+\)$/m);
    assert.match(text.stdout, /ctcc-self-registration/);
    const forms = { text: text.stdout, json: run.stdout } as Record<string, string>;
    for (const format of ["sarif", "html"]) {
      const out = join(dir, `legacy.${format}`);
      assert.equal((await phonehomeAsync([...args, "--format", format, "--output", out])).status, 1);
      forms[format] = readFileSync(out, "utf8");
    }
    for (const [format, report] of Object.entries(forms)) {
      for (const value of [IMEI, ICCID, IMSI, MEID]) {
        assert.ok(!report.includes(value), `the ${format} report shows ${value}`);
      }
    }
    // --fail-on decides the exit code.
    assert.equal((await phonehomeAsync([...args, "--fail-on", "none"])).status, 0);
  });

  test("--capture records with tcpdump first, then audits what it recorded", async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    await listen(server, 9998);
    const file = join(dir, "recorded.pcap");
    const audit = phonehomeAsync([
      "audit",
      "--capture",
      "--interface",
      "lo",
      "--seconds",
      "3",
      "--filter",
      "host 127.0.0.2 and tcp port 9998",
      file,
      "--format",
      "json",
    ]);
    // The recording starts a moment after the command; the device keeps sending, as devices do.
    const sending = setInterval(() => {
      const req = request({ host: "127.0.0.2", port: 9998, method: "POST", path: "/reg" }, (res) =>
        res.resume(),
      );
      req.on("error", () => {});
      req.end(`imei=${IMEI}`);
    }, 200);
    const run = await audit;
    clearInterval(sending);
    server.close();
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^recording 3 s on lo with tcpdump into /m);
    const report = JSON.parse(run.stdout) as Report;
    assert.ok(report.httpRequests >= 1);
    assert.ok(
      report.findings.some((f) => f.identifier === "imei" && f.path === "body -> form.imei"),
      JSON.stringify(report.findings),
    );
  });
});

describe("phonehome audit on input it cannot use", () => {
  let dir: string;
  let legacyCapture: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "phonehome-audit-input-"));
    // A registration message over HTTP, written with real framing: a capture to spoil.
    legacyCapture = join(dir, "legacy.pcap");
    const writer = pcapWriter({ path: legacyCapture });
    const body = Buffer.from(JSON.stringify({ REGVER: "1.0", IMEI1: withLuhn("86453103112233") })).toString(
      "base64",
    );
    writer.tcpSession({
      client: { ip: "192.168.1.20", port: 51000 },
      server: { ip: "220.181.38.148", port: 9999 },
      request: Buffer.from(
        `POST / HTTP/1.1\r\nHost: zzhc.vnet.cn:9999\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      ),
      response: Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
      time: Date.now(),
      segmentSize: 64,
    });
    writer.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("not a capture, cut short, corrupt, missing: a clear error and exit 2", async () => {
    const text = join(dir, "notes.txt");
    writeFileSync(text, "these are not packets\n");
    const notCapture = await phonehomeAsync(["audit", text, "--no-progress"]);
    assert.equal(notCapture.status, 2);
    assert.match(notCapture.stderr, /^error \[capture\.unreadable\]: .*not a pcap, pcapng or HAR file/m);
    assert.doesNotMatch(notCapture.stderr, /\n\s+at /, "no stack trace");

    const cut = join(dir, "cut.pcap");
    writeFileSync(cut, readFileSync(legacyCapture));
    truncateSync(cut, readFileSync(cut).length - 7);
    const truncated = await phonehomeAsync(["audit", cut, "--no-progress", "--format", "json"]);
    assert.equal(truncated.status, 2);
    assert.match(truncated.stderr, /^error \[capture\.truncated\]: /m);
    assert.ok((JSON.parse(truncated.stdout) as Report).httpRequests >= 1, "what came before is reported");

    const corrupt = join(dir, "corrupt.pcap");
    const header = Buffer.from(readFileSync(legacyCapture).subarray(0, 24));
    const record = Buffer.alloc(16);
    record.writeUInt32LE(0xfffffff0, 8); // a captured length no packet has
    record.writeUInt32LE(0xfffffff0, 12);
    writeFileSync(corrupt, Buffer.concat([header, record, Buffer.alloc(64)]));
    const bad = await phonehomeAsync(["audit", corrupt, "--no-progress"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^error \[capture\.unreadable\]: /m);

    const missing = await phonehomeAsync(["audit", join(dir, "none.pcap"), "--no-progress"]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^error \[audit\.invalid\]: cannot read /m);
    const geoip = await phonehomeAsync(["audit", legacyCapture, "--geoip", text]);
    assert.equal(geoip.status, 2);
    assert.match(geoip.stderr, /^error \[audit\.invalid\]: .*notes\.txt is not a readable MaxMind DB/m);
    const region = await phonehomeAsync(["audit", text, "--region", "mars"]);
    assert.equal(region.status, 2);
    assert.match(region.stderr, /^error \[audit\.invalid\]: no region mars is configured/m);
  });

  test("options that cannot be followed: exit 2 before anything is read", async () => {
    const unwritable = await phonehomeAsync([
      "audit",
      legacyCapture,
      "--output",
      join(dir, "no", "such", "dir", "r.json"),
    ]);
    assert.equal(unwritable.status, 2);
    assert.match(unwritable.stderr, /^error \[audit\.invalid\]: cannot write /m);
    const assumed = await phonehomeAsync(["audit", legacyCapture, "--assume-country", "zzhc.vnet.cn=CN"]);
    assert.equal(assumed.status, 2);
    assert.match(
      assumed.stderr,
      /^error \[audit\.invalid\]: zzhc\.vnet\.cn in zzhc\.vnet\.cn=CN is not an IP address/m,
    );
  });
});
