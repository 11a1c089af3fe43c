/**
 * HTTPS-ready: a collector configured with a certificate serves its API over
 * TLS, and a device activates through it with the SDK, trusting that certificate.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type DeviceIdentity, PhoneHomeClient } from "@phonehome/sdk";
import { Agent } from "undici";
import { pgliteBackend } from "../helpers/stores.ts";
import { startTestSystem, type TestSystem } from "../helpers/system.ts";
import { selfSigned } from "../helpers/tls.ts";

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
