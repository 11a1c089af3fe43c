/**
 * A revoked device is refused within the stated time by every replica: a
 * control plane and two collectors of region `global`, each a `phonehome
 * serve` process with its own directory cache, on PostgreSQL. Every replica
 * has the devices' records cached (they sent to each), and a canary device
 * keeps each replica busy so that its revocation feed is read on its own
 * cadence, not on the revoked device's first envelope. Devices are revoked at
 * the control plane at random moments of that cadence; each replica is asked
 * with the revoked key's envelope every 25 ms, and the time from the
 * revocation to its first `device.revoked` is measured per replica and
 * printed. The bound (docs/collector.md): REVOCATION_BOUND_MS plus one read of
 * the feed. Owner tokens of the revoked keys are refused too, and the
 * refusals are in the region's ledger.
 *
 * Run on its own: node --test test/e2e/revocation-replicas.test.ts
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createDeviceIdentity, type DeviceIdentity, mintOwnerToken } from "@phonehome/sdk";
import { listLedger } from "../../src/collector/ingest/ledger.repository.ts";
import { buildConfig } from "../../src/core/config/index.ts";
import { openDb, type StoreConfig } from "../../src/core/db/index.ts";
import { REVOCATION_BOUND_MS } from "../../src/core/directory/index.ts";
import { loadServiceToken } from "../../src/core/keys/index.ts";
import { importFleet } from "../../src/control-plane/fleet/index.ts";
import { buildEnvelope, post } from "../helpers/envelopes.ts";
import { oneBatchFactoryFile } from "../helpers/fleet.ts";
import { freePort, startService, Supervised } from "../helpers/processes.ts";
import { postgresBackend } from "../helpers/stores.ts";

const REVOKED = 4;
/** What a refusal may take beyond the bound: one read of the feed and the probe's own round trip. */
const SLACK_MS = 500;

describe(
  "a revoked device is refused within the stated time by every replica (PostgreSQL)",
  {
    skip: postgresBackend.skip,
  },
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), "phonehome-revocation-"));
    const cleanups: (() => Promise<void>)[] = [];
    const services: Supervised[] = [];
    const collectorUrls: string[] = [];
    let controlPlaneUrl = "";
    let controlStore: StoreConfig;
    let regionStore: StoreConfig;
    const log = (line: string) => process.stderr.write(`# ${line}\n`);

    before(async () => {
      const control = await postgresBackend.fresh("revocation-cp");
      const region = await postgresBackend.fresh("revocation-global");
      cleanups.push(control.cleanup, region.cleanup);
      const storeOf = (s: StoreConfig) =>
        s.kind === "postgres" ? { url: s.url, schema: s.schema, poolSize: 4 } : {};
      const cpPort = await freePort();
      controlPlaneUrl = `http://127.0.0.1:${cpPort}`;
      const raw = (collectorPort: number, controlPlanePort: number) => ({
        dataDir,
        logLevel: "warn",
        controlPlane: {
          listen: `127.0.0.1:${controlPlanePort}`,
          url: controlPlaneUrl,
          store: storeOf(control.store),
        },
        regions: [
          {
            id: "global",
            storedIn: "SG",
            listen: `127.0.0.1:${collectorPort}`,
            store: storeOf(region.store),
          },
          { id: "cn", storedIn: "CN", listen: "127.0.0.1:0", store: { dataDir: join(dataDir, "cn-unused") } },
        ],
        ingest: { batchDelayMs: 2 },
      });
      const file = (name: string, collectorPort: number, controlPlanePort: number) => {
        const path = join(dataDir, `${name}.json`);
        writeFileSync(path, JSON.stringify(raw(collectorPort, controlPlanePort)));
        return path;
      };
      const config = buildConfig(raw(0, 0), dataDir);
      controlStore = config.controlPlane.store;
      regionStore = config.regions[0]?.store as StoreConfig;
      const cp = new Supervised(
        "control plane",
        () => startService(file("cp", 0, cpPort), ["--control-plane"]),
        log,
      );
      services.push(cp);
      await cp.start();
      for (let i = 0; i < 2; i++) {
        const port = await freePort();
        collectorUrls.push(`http://127.0.0.1:${port}`);
        services.push(
          new Supervised(
            `collector ${i + 1}`,
            () => startService(file(`c${i + 1}`, port, 0), ["--region", "global"]),
            log,
          ),
        );
      }
      await Promise.all(services.slice(1).map((s) => s.start()));
    });

    after(async () => {
      await Promise.allSettled(services.map((s) => s.stop()));
      for (const cleanup of cleanups) await cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("each replica refuses each revoked key within the bound, measured", async (t) => {
      const announced = (await (await fetch(`${collectorUrls[0]}/v1/region`)).json()) as {
        kid: string;
        publicKey: string;
      };
      const home = { region: "global", storedIn: "SG", url: collectorUrls[0] ?? "", ...announced };
      const devices: DeviceIdentity[] = Array.from({ length: REVOKED + 1 }, (_, i) =>
        createDeviceIdentity(
          {
            serial: `RV${String(i).padStart(8, "0")}`,
            model: "TA-1062",
            variant: "00WW",
            market: "NO",
            build: "00WW_3_39B_SP03",
          },
          home,
        ),
      );
      const cp = await openDb(controlStore);
      try {
        await importFleet(cp, buildConfig({ dataDir }, dataDir), {
          name: "revocation.json",
          text: oneBatchFactoryFile("B-REVOKE-NO", devices),
        });
      } finally {
        await cp.close();
      }
      const [canary, ...revoked] = devices as [DeviceIdentity, ...DeviceIdentity[]];
      const sendTo = async (url: string, device: DeviceIdentity) =>
        post(`${url}/v1/activations`, await buildEnvelope(device));

      // Every replica caches every device's record and vouches for its owner tokens.
      for (const url of collectorUrls) {
        for (const device of devices) {
          const answer = await sendTo(url, device);
          assert.ok([200, 201].includes(answer.status), `${url}: ${JSON.stringify(answer.body)}`);
          const consents = await fetch(`${url}/v1/owner/consents`, {
            headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
          });
          assert.equal(consents.status, 200);
          await consents.body?.cancel();
        }
      }

      // The canary keeps each replica asking its directory, and so reading the feed on its own cadence.
      let running = true;
      const canaryLoop = Promise.all(
        collectorUrls.map(async (url) => {
          while (running) {
            const answer = await sendTo(url, canary);
            assert.equal(answer.status, 200, "the canary is never refused");
            await sleep(100);
          }
        }),
      );

      const serviceToken = loadServiceToken(dataDir);
      const measured: number[][] = [];
      try {
        for (const device of revoked) {
          await sleep(Math.random() * REVOCATION_BOUND_MS);
          const start = Date.now();
          const revocation = await fetch(`${controlPlaneUrl}/v1/fleet/devices/${device.serial}/revocation`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${serviceToken}` },
            body: JSON.stringify({ reason: "cloned", note: "replica test" }),
          });
          assert.equal(revocation.status, 200, await revocation.text());
          const answered = Date.now() - start;
          const times = await Promise.all(
            collectorUrls.map(async (url) => {
              for (;;) {
                const answer = await sendTo(url, device);
                const elapsed = Date.now() - start;
                if (answer.status === 403 && answer.body.error?.code === "device.revoked") return elapsed;
                assert.ok([200, 201].includes(answer.status), JSON.stringify(answer.body));
                assert.ok(
                  elapsed <= REVOCATION_BOUND_MS + SLACK_MS,
                  `${url} still accepts after ${elapsed} ms`,
                );
                await sleep(25);
              }
            }),
          );
          measured.push(times);
          t.diagnostic(
            `${device.serial}: revocation answered in ${answered} ms; refused by ${times
              .map((ms, i) => `collector ${i + 1} after ${ms} ms`)
              .join(", ")}`,
          );
          for (const url of collectorUrls) {
            const token = await fetch(`${url}/v1/owner/consents`, {
              headers: { authorization: `Bearer ${await mintOwnerToken(device)}` },
            });
            const body = (await token.json()) as { error?: { code: string } };
            assert.equal(body.error?.code, "auth.owner_token_revoked", url);
          }
        }
      } finally {
        running = false;
        await canaryLoop;
      }
      const all = measured.flat();
      t.diagnostic(
        `bound ${REVOCATION_BOUND_MS} ms (+${SLACK_MS} ms slack); measured over ${all.length} replica-revocations: ` +
          `max ${Math.max(...all)} ms, mean ${Math.round(all.reduce((a, b) => a + b, 0) / all.length)} ms`,
      );
      assert.ok(Math.max(...all) <= REVOCATION_BOUND_MS + SLACK_MS);

      const db = await openDb(regionStore);
      try {
        const rows = await listLedger(db, new Date(Date.now() - 3_600_000), 1000);
        const refused = rows
          .filter(
            (r) => r.outcome === "refused" && r.reason === "device.revoked" && r.batch === "B-REVOKE-NO",
          )
          .reduce((n, r) => n + r.count, 0);
        assert.ok(refused >= REVOKED * collectorUrls.length, `device.revoked in the ledger: ${refused}`);
      } finally {
        await db.close();
      }
    });
  },
);
