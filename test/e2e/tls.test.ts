/**
 * HTTPS-ready: a collector configured with a certificate serves its API over
 * TLS, and a device activates through it with the SDK, trusting that certificate.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, PhoneHomeClient } from "@phonehome/sdk";
import { Agent } from "undici";
import { pgliteBackend } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";

/** A self-signed certificate for 127.0.0.1, made with the system's openssl. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

describe("TLS (PGlite)", () => {
  let t: TestSystem;
  let ca: Buffer;
  before(async () => {
    const tls = selfSigned(mkdtempSync(join(tmpdir(), "phonehome-tls-")));
    ca = readFileSync(tls.cert);
    t = await startTestSystem(pgliteBackend, {
      extra: {
        regions: [
          { id: "global", storedIn: "SG", listen: "127.0.0.1:0", tls },
          { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", tls },
        ],
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  test("the collector answers over HTTPS and a device activates through it", async () => {
    const region = t.system.regions.find((r) => r.id === "global");
    assert.match(region?.url ?? "", /^https:\/\/127\.0\.0\.1:\d+$/);
    const dispatcher = new Agent({ connect: { ca } });
    const [device] = (await t.provision([{ market: "NO" }])) as [DeviceIdentity];
    assert.match(device.home.url, /^https:/);
    const client = new PhoneHomeClient({
      identity: device,
      queueDir: mkdtempSync(join(tmpdir(), "phonehome-queue-")),
      retry: { baseMs: 5, maxMs: 20, maxAttempts: 1 },
      fetch: (url, init) => fetch(url, { ...init, dispatcher } as RequestInit),
    });
    const answer = (await client.activate()) as { activation: { region: string } };
    assert.equal(answer.activation.region, "global");
    // Without trusting the certificate, nothing gets through.
    await assert.rejects(fetch(`${region?.url}/healthz`));
  });
});
